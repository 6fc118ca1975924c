// SPDX-License-Identifier: GPL-2.0
/*
 * The embedded keystore at scale: makes N keys in DIR (if it holds none),
 * then reports the time to open it (every file read and authenticated, the
 * generation sum checked, the index built), to list every key in one walk
 * and in pages of 1,000 (list after the last name), and the resident
 * memory.  A measurement, not a pass/fail test.  Put DIR on tmpfs to
 * make the fixture fast: each create is three fsync'd writes on a disk.
 *
 *   build/tests/scale_keystore DIR [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "embedded/keystore.h"
#include "util.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kib = atol(line + 6);
	if (f)
		fclose(f);
	return kib;
}

struct walk {
	size_t n;
	char last[HSMKEY_NAME_MAX];
	size_t page;
};

static int count(const struct ks_key *key, void *arg)
{
	struct walk *w = arg;

	w->n++;
	snprintf(w->last, sizeof(w->last), "%s", key->name);
	return w->page && w->n % w->page == 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	size_t want = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000;
	struct walk all = { 0 }, paged = { .page = 1000 };
	struct keystore *ks;
	char mid[HSMKEY_NAME_MAX];
	struct ks_key key;
	double t0, t1;
	int r;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [N]\n", argv[0]);
		return 2;
	}
	log_init("scale_keystore", false);
	if (ks_open(argv[1], &ks))
		return 1;
	ks_list(ks, NULL, count, &all);
	if (all.n == 0) {
		t0 = now();
		for (size_t i = 0; i < want; i++) {
			char name[32];

			snprintf(name, sizeof(name), "k%07zu", i);
			r = ks_create(ks, name, HSMKEY_TYPE_AES_256_XTS, NULL, NULL);
			if (r) {
				fprintf(stderr, "create %s: %s\n", name, strerror(-r));
				return 1;
			}
		}
		printf("created %zu keys in %.1f s (%.0f keys/s)\n", want, now() - t0,
		       (double)want / (now() - t0));
	}
	ks_close(ks);

	t0 = now();
	if (ks_open(argv[1], &ks))
		return 1;
	t1 = now();
	printf("open: %.2f s\n", t1 - t0);
	all.n = 0;
	t0 = now();
	ks_list(ks, NULL, count, &all);
	printf("list, one walk: %zu keys in %.3f s\n", all.n, now() - t0);
	t0 = now();
	for (;;) {
		size_t before = paged.n;

		r = ks_list(ks, paged.n ? paged.last : NULL, count, &paged);
		if (r < 0 || paged.n == before || r == 0)
			break;
	}
	printf("list in pages of 1000 (after the last name): %zu keys in %.3f s\n", paged.n,
	       now() - t0);
	snprintf(mid, sizeof(mid), "k%07zu", all.n / 2);
	t0 = now();
	for (int i = 0; i < 1000; i++)
		if (ks_get(ks, mid, false, &key))
			return 1;
	printf("get (metadata): %.1f us\n", (now() - t0) * 1000);
	t0 = now();
	for (int i = 0; i < 100; i++) {
		if (ks_get(ks, mid, true, &key))
			return 1;
		ks_key_wipe(&key);
	}
	printf("get (unsealed): %.1f us\n", (now() - t0) * 10000);
	printf("resident memory: %ld MiB\n", rss_kib() / 1024);
	ks_close(ks);
	return 0;
}
