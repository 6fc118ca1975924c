// SPDX-License-Identifier: GPL-2.0
/*
 * libhsmkey's batch calls from the command line, for tests/host/test_kms_batch.sh.
 * Item i's context is the one pair n=<i> (or, with CTX=K=V in the
 * environment, that pair for every item).
 *
 *   kms_batch encrypt SOCKET KEY FILE...        each FILE's blob into FILE.blob
 *   kms_batch decrypt SOCKET FILE...            each blob's plaintext into FILE.pt
 *   kms_batch data-keys SOCKET KEY N plain|wrapped PREFIX
 *                                               PREFIX.<i>.wrapped (and .key)
 * Prints "i result" per item and "batch result"; exits 0 when the call was
 * made (whatever the items' results), 1 when it was not.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hsmkey/kms.h>

static struct hsmkey_kv ctx[HSMKEY_BATCH_MAX];
static char vals[HSMKEY_BATCH_MAX][16];

static void set_context(size_t i)
{
	char *env = getenv("CTX");

	if (env && strchr(env, '=')) {
		static char k[64];

		snprintf(k, sizeof(k), "%.*s", (int)(strchr(env, '=') - env), env);
		ctx[i].key = k;
		ctx[i].value = strchr(env, '=') + 1;
		return;
	}
	snprintf(vals[i], sizeof(vals[i]), "%zu", i);
	ctx[i].key = "n";
	ctx[i].value = vals[i];
}

static int slurp(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		return -1;
	*buf = malloc((size_t)n + 1);
	*len = fread(*buf, 1, (size_t)n, f);
	fclose(f);
	return *len == (size_t)n ? 0 : -1;
}

static int spill(const char *path, const char *suffix, const void *buf, size_t len)
{
	char name[4096];
	FILE *f;

	snprintf(name, sizeof(name), "%s%s", path, suffix);
	f = fopen(name, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f))
		return -1;
	return 0;
}

static int in_out(struct hsmkey *h, const char *op, const char *key, char **files, size_t n)
{
	struct hsmkey_item items[HSMKEY_BATCH_MAX] = { 0 };
	bool enc = !strcmp(op, "encrypt");
	int r;

	for (size_t i = 0; i < n; i++) {
		uint8_t *in;

		if (slurp(files[i], &in, &items[i].inlen))
			return fprintf(stderr, "cannot read %s\n", files[i]), 1;
		set_context(i);
		items[i].in = in;
		items[i].ctx = &ctx[i];
		items[i].nctx = 1;
		items[i].outlen = items[i].inlen + HSMKEY_BLOB_OVERHEAD;
		items[i].out = malloc(items[i].outlen);
	}
	r = enc ? hsmkey_encrypt_batch(h, key, items, n) : hsmkey_decrypt_batch(h, items, n);
	for (size_t i = 0; i < n; i++) {
		printf("%zu %d\n", i, items[i].result);
		if (!items[i].result && spill(files[i], enc ? ".blob" : ".pt", items[i].out,
					      items[i].outlen))
			return 1;
	}
	printf("batch %d %s\n", r, hsmkey_error(h));
	return 0;
}

static int data_keys(struct hsmkey *h, const char *key, size_t n, bool plain, const char *prefix)
{
	static struct hsmkey_data_key_item items[HSMKEY_BATCH_MAX];
	char suffix[32];
	int r;

	for (size_t i = 0; i < n; i++) {
		set_context(i);
		items[i].ctx = &ctx[i];
		items[i].nctx = 1;
	}
	r = hsmkey_generate_data_keys(h, key, getenv("TYPE"), plain ? HSMKEY_DATA_KEY_PLAINTEXT : 0,
				      items, n);
	for (size_t i = 0; i < n; i++) {
		printf("%zu %d\n", i, items[i].result);
		snprintf(suffix, sizeof(suffix), ".%zu.wrapped", i);
		if (!items[i].result && spill(prefix, suffix, items[i].wrapped, items[i].wrapped_len))
			return 1;
		snprintf(suffix, sizeof(suffix), ".%zu.key", i);
		if (!items[i].result && plain &&
		    spill(prefix, suffix, items[i].plaintext, items[i].plaintext_len))
			return 1;
	}
	printf("batch %d %s\n", r, hsmkey_error(h));
	return 0;
}

int main(int argc, char **argv)
{
	struct hsmkey *h;
	int r;

	if (argc < 4)
		return fprintf(stderr, "usage: see the source\n"), 2;
	if (hsmkey_open(argv[2], &h))
		return 1;
	if (!strcmp(argv[1], "encrypt"))
		r = in_out(h, argv[1], argv[3], argv + 4, (size_t)argc - 4);
	else if (!strcmp(argv[1], "decrypt"))
		r = in_out(h, argv[1], NULL, argv + 3, (size_t)argc - 3);
	else if (!strcmp(argv[1], "data-keys") && argc == 7)
		r = data_keys(h, argv[3], strtoul(argv[4], NULL, 10), !strcmp(argv[5], "plain"),
			      argv[6]);
	else
		r = 2;
	hsmkey_close(h);
	return r;
}
