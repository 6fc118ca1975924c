/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libhsmkey: the local KMS API of hsmkeyd.  An application encrypts and
 * decrypts with keys hsmkeyd keeps (key types kms-aes-128, kms-aes-256),
 * bound to an encryption context, and never holds them.  See
 * hsmkey_encrypt(3); the ciphertext's format is hsmkey-blob(5).
 *
 * Every call returns 0 or a negative errno; hsmkey_error() then has the
 * daemon's message for a person.  A handle may be shared by threads: its
 * calls take turns on its one connection.
 */
#ifndef HSMKEY_KMS_H
#define HSMKEY_KMS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A plaintext of 1 to HSMKEY_PLAINTEXT_MAX bytes makes a blob
 * HSMKEY_BLOB_OVERHEAD bytes longer. */
#define HSMKEY_PLAINTEXT_MAX	4096
#define HSMKEY_BLOB_OVERHEAD	56
#define HSMKEY_BLOB_MAX		(HSMKEY_PLAINTEXT_MAX + HSMKEY_BLOB_OVERHEAD)
#define HSMKEY_ERROR_MAX	512

/* One pair of an encryption context: authenticated, not secret. */
struct hsmkey_kv {
	const char *key;	/* 1 to 128 bytes */
	const char *value;	/* up to 1024 bytes */
};

struct hsmkey;

/*
 * Connect to hsmkeyd at @socket_path (NULL: $HSMKEYD_SOCKET, else
 * /run/hsmkey/hsmkeyd.sock).  0 and *@out, or -errno.
 */
int hsmkey_open(const char *socket_path, struct hsmkey **out);
void hsmkey_close(struct hsmkey *h);
/* The message of the handle's last failed call ("" after a success). */
const char *hsmkey_error(const struct hsmkey *h);

/*
 * Encrypt @ptlen bytes at @pt with key @key, bound to context @ctx (@nctx
 * pairs, distinct keys; NULL, 0: none).  The blob goes to @blob, whose
 * size is *@bloblen, at least @ptlen + HSMKEY_BLOB_OVERHEAD; *@bloblen is
 * then its length.  -ENOBUFS when @blob is too small (*@bloblen: the size
 * needed), -EPERM when no grant of the key allows the caller.
 */
int hsmkey_encrypt(struct hsmkey *h, const char *key, const struct hsmkey_kv *ctx,
		   size_t nctx, const void *pt, size_t ptlen, void *blob, size_t *bloblen);

/*
 * Decrypt @blob (it names its key and version) with the context it was
 * made with.  The plaintext goes to @pt, whose size is *@ptlen, at least
 * @bloblen - HSMKEY_BLOB_OVERHEAD; *@ptlen is then its length.  -EBADMSG
 * when the blob does not decrypt (another context, an altered blob),
 * -ENOBUFS as hsmkey_encrypt().
 */
int hsmkey_decrypt(struct hsmkey *h, const struct hsmkey_kv *ctx, size_t nctx,
		   const void *blob, size_t bloblen, void *pt, size_t *ptlen);

#ifdef __cplusplus
}
#endif

#endif
