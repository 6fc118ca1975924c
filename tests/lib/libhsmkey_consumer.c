// SPDX-License-Identifier: GPL-2.0
/*
 * An application of libhsmkey as a user of the installed library builds it:
 * only <hsmkey/kms.h>, compiled and linked with what pkg-config says
 * (tests/host/test_libhsmkey.sh).  It asks each output's size with the
 * two-call length query and checks what the library promises of it.
 *
 *   libhsmkey_consumer SOCKET KMS-KEY IDENTITY-KEY
 *
 * Prints one line per check, "ok: ..." or "FAIL: ..."; exit 0 when all
 * passed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hsmkey/kms.h>

static int failed;

static void expect(int cond, const char *what, const struct hsmkey *h)
{
	if (cond) {
		printf("ok: %s\n", what);
		return;
	}
	printf("FAIL: %s (%s)\n", what, h ? hsmkey_error(h) : "no handle");
	failed = 1;
}

/* Encrypt and decrypt, each sized by a first call with no room. */
static void round_trip(struct hsmkey *h, const char *key)
{
	static const struct hsmkey_kv ctx[] = { { "app", "consumer" } };
	unsigned char pt[1000], *blob, *back;
	size_t bloblen = 0, ptlen = 10;
	int r;

	for (size_t i = 0; i < sizeof(pt); i++)
		pt[i] = (unsigned char)(i * 7 + 1);
	r = hsmkey_encrypt(h, key, ctx, 1, pt, sizeof(pt), NULL, &bloblen);
	expect(r == -ENOBUFS, "encrypt with no room: -ENOBUFS", h);
	expect(bloblen == sizeof(pt) + HSMKEY_BLOB_OVERHEAD,
	       "... and the size needed is the plaintext's + HSMKEY_BLOB_OVERHEAD", h);
	expect(*hsmkey_error(h) != '\0', "... and hsmkey_error() says why", h);
	blob = malloc(bloblen);
	if (!blob)
		exit(2);
	r = hsmkey_encrypt(h, key, ctx, 1, pt, sizeof(pt), blob, &bloblen);
	expect(!r && bloblen == sizeof(pt) + HSMKEY_BLOB_OVERHEAD,
	       "encrypt into a buffer of that size", h);
	back = malloc(sizeof(pt));
	if (!back)
		exit(2);
	r = hsmkey_decrypt(h, ctx, 1, blob, bloblen, back, &ptlen);
	expect(r == -ENOBUFS && ptlen == sizeof(pt),
	       "decrypt into 10 bytes: -ENOBUFS, and the size needed", h);
	r = hsmkey_decrypt(h, ctx, 1, blob, bloblen, back, &ptlen);
	expect(!r && ptlen == sizeof(pt) && !memcmp(back, pt, sizeof(pt)),
	       "decrypt into that size gives the plaintext back", h);
	r = hsmkey_decrypt(h, NULL, 0, blob, bloblen, back, &ptlen);
	expect(r == -EBADMSG, "decrypt without the context: -EBADMSG", h);
	free(back);
	free(blob);
}

/* The public key's PEM, sized the same way. */
static void public_key(struct hsmkey *h, const char *key)
{
	size_t len = 1;
	char *pem;
	int r = hsmkey_public_key(h, key, NULL, &len);

	expect(r == -ENOBUFS && len > 1, "public key with no room: -ENOBUFS, and the size", h);
	pem = malloc(len);
	if (!pem)
		exit(2);
	r = hsmkey_public_key(h, key, pem, &len);
	expect(!r && !strncmp(pem, "-----BEGIN PUBLIC KEY-----", 26) &&
	       strlen(pem) + 1 == len, "public key into that size: a PEM, its length with the NUL",
	       h);
	free(pem);
}

int main(int argc, char **argv)
{
	struct hsmkey *h;
	int r;

	if (argc != 4) {
		fprintf(stderr, "usage: %s SOCKET KMS-KEY IDENTITY-KEY\n", argv[0]);
		return 2;
	}
	r = hsmkey_open(argv[1], &h);
	expect(!r, "hsmkey_open", NULL);
	if (r)
		return 1;
	round_trip(h, argv[2]);
	public_key(h, argv[3]);
	hsmkey_close(h);
	return failed;
}
