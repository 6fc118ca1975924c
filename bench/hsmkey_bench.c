// SPDX-License-Identifier: GPL-2.0
/*
 * hsmkey_bench: the measuring half of bench/run.sh, run in the guest.
 *
 *   hsmkey_bench key TYPE             provision one random key (holding
 *                                     /dev/hsmkey for the call); print
 *                                     "MATERIAL-HEX TOKEN-HEX"
 *   hsmkey_bench afalg ALG KEYHEX SIZE SECONDS
 *                                     encrypt SIZE-byte requests on one tfm
 *                                     for SECONDS; print MB/s
 *   hsmkey_bench add N                provision N keys in batches; print
 *                                     keys/s; their tokens are kept in
 *                                     /run/hsmkey-bench.tokens
 *   hsmkey_bench bind N SAMPLES       bind (setkey) one tfm to the first N
 *                                     tokens in turn, SAMPLES times after a
 *                                     warm-up; print the median in ns
 */
#include <stdlib.h>
#include <time.h>
#include "../tests/guest/nltest.h"
#include "../tests/guest/algtest.h"

#define TOKENS "/run/hsmkey-bench.tokens"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void hex(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
}

static int cmd_key(const char *type)
{
	struct nlt t;
	struct nlt_key k;
	uint8_t tok[HSMKEY_TOKEN_LEN];
	uint32_t ty = !strcmp(type, "aes-128-xts") ? HSMKEY_TYPE_AES_128_XTS :
		      HSMKEY_TYPE_AES_256_XTS;

	if (nlt_open(&t) || t.dev < 0) {
		fprintf(stderr, "cannot reach hsmkey or hold /dev/hsmkey\n");
		return 1;
	}
	nlt_key_random(&k, "bench", ty);
	if (nlt_add(&t, &k)) {
		fprintf(stderr, "add: %s\n", t.extack);
		return 1;
	}
	nlt_token(&k, tok);
	hex(k.material, k.keylen);
	printf(" ");
	hex(tok, sizeof(tok));
	printf("\n");
	nlt_close(&t);
	return 0;
}

static int cmd_afalg(const char *alg, const char *keyhex, size_t size, double secs)
{
	uint8_t key[HSMKEY_TOKEN_LEN], iv[16] = { 0 };
	uint8_t *buf = calloc(1, size);
	size_t keylen = strlen(keyhex) / 2;
	double t0, t;
	unsigned long n = 0;
	int fd = alg_open(alg);

	unhex(keyhex, key);
	if (fd < 0 || alg_setkey(fd, key, (int)keylen)) {
		fprintf(stderr, "cannot key %s\n", alg);
		return 1;
	}
	t0 = now();
	do {
		if (alg_crypt(fd, true, iv, buf, buf, size)) {
			fprintf(stderr, "request failed\n");
			return 1;
		}
		n++;
		t = now();
	} while (t - t0 < secs);
	printf("%.2f\n", (double)n * (double)size / (t - t0) / 1e6);
	free(buf);
	return 0;
}

static int cmd_add(unsigned int n)
{
	const unsigned int batch = HSMKEY_BATCH_MAX;
	struct nlt_key *k = calloc(batch, sizeof(*k));
	uint8_t tok[HSMKEY_TOKEN_LEN];
	double t0, spent = 0;
	FILE *f = fopen(TOKENS, "a");
	struct nlt t;

	if (!f || !k || nlt_open(&t) || t.dev < 0) {
		fprintf(stderr, "cannot reach hsmkey or hold /dev/hsmkey\n");
		return 1;
	}
	for (unsigned int done = 0; done < n;) {
		unsigned int m = n - done < batch ? n - done : batch;

		for (unsigned int i = 0; i < m; i++)
			nlt_key_random(&k[i], "bench-many", HSMKEY_TYPE_AES_256_XTS);
		/* Only the kernel's work is timed, not making random keys. */
		t0 = now();
		if (nlt_add_batch(&t, k, m)) {
			fprintf(stderr, "batch add: %s\n", t.extack);
			return 1;
		}
		spent += now() - t0;
		for (unsigned int i = 0; i < m; i++) {
			nlt_token(&k[i], tok);
			fwrite(tok, sizeof(tok), 1, f);
		}
		done += m;
	}
	printf("%.0f\n", n / spent);
	fclose(f);
	nlt_close(&t);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmd_bind(unsigned int n, unsigned int samples)
{
	uint8_t (*tok)[HSMKEY_TOKEN_LEN] = calloc(n, HSMKEY_TOKEN_LEN);
	double *lat = calloc(samples, sizeof(double));
	FILE *f = fopen(TOKENS, "r");
	int fd = alg_open("xts(hsmaes)");
	double t0;

	if (!f || fd < 0 || fread(tok, HSMKEY_TOKEN_LEN, n, f) != n) {
		fprintf(stderr, "need %u tokens in " TOKENS "\n", n);
		return 1;
	}
	/* Warm-up: every key gets its inner tfm before timing. */
	for (unsigned int i = 0; i < n; i++)
		if (alg_setkey(fd, tok[i], HSMKEY_TOKEN_LEN)) {
			fprintf(stderr, "bind failed\n");
			return 1;
		}
	for (unsigned int s = 0; s < samples; s++) {
		t0 = now();
		if (alg_setkey(fd, tok[s % n], HSMKEY_TOKEN_LEN))
			return 1;
		lat[s] = now() - t0;
	}
	qsort(lat, samples, sizeof(double), cmp_double);
	printf("%.0f\n", lat[samples / 2] * 1e9);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "key"))
		return cmd_key(argv[2]);
	if (argc == 6 && !strcmp(argv[1], "afalg"))
		return cmd_afalg(argv[2], argv[3], strtoul(argv[4], NULL, 0), atof(argv[5]));
	if (argc == 3 && !strcmp(argv[1], "add"))
		return cmd_add((unsigned int)strtoul(argv[2], NULL, 0));
	if (argc == 4 && !strcmp(argv[1], "bind"))
		return cmd_bind((unsigned int)strtoul(argv[2], NULL, 0),
				(unsigned int)strtoul(argv[3], NULL, 0));
	fprintf(stderr, "usage: see the comment at the top of bench/hsmkey_bench.c\n");
	return 2;
}
