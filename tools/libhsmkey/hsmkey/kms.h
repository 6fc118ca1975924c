/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libhsmkey: the local KMS API of hsmkeyd.  An application encrypts and
 * decrypts with keys hsmkeyd keeps (key types kms-aes-128, kms-aes-256),
 * bound to an encryption context, signs with identity keys, makes and
 * checks MACs with MAC keys (hmac-sha256), and never holds them.  See
 * hsmkey_encrypt(3), hsmkey_sign(3) and hsmkey_generate_mac(3); the
 * ciphertext's format is hsmkey-blob(5).
 *
 * Every call returns 0 or a negative errno; hsmkey_error() then has the
 * daemon's message for a person.  A handle may be shared by threads: its
 * calls take turns on its one connection; but a message is the handle's
 * last, so a thread that reads messages wants a handle of its own.
 */
#ifndef HSMKEY_KMS_H
#define HSMKEY_KMS_H

#include <stddef.h>
#include <stdint.h>

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

/*
 * Where hsmkey_re_encrypt() seals: key @key's current version (NULL: the
 * blob's own key), context @ctx (@nctx pairs; NULL: the blob's context,
 * and a non-NULL @ctx with @nctx 0 is the empty context).  @type: for a
 * data key for the kernel only, the kernel key type it was made as (NULL:
 * by its length, as hsmkey_unwrap_to_kernel()).  A NULL destination is all
 * defaults.
 */
struct hsmkey_re_encrypt_to {
	const char *key;
	const struct hsmkey_kv *ctx;
	size_t nctx;
	const char *type;
};

/*
 * Open @blob with its context @ctx and seal its plaintext again as @to
 * says, without it leaving hsmkeyd: the new blob goes to @out, whose size
 * is *@outlen, at least @bloblen.  Needs the decrypt grant of the blob's
 * key and the encrypt grant of the destination (the data-key grant of
 * both for a data key for the kernel only, which stays one).
 */
int hsmkey_re_encrypt(struct hsmkey *h, const struct hsmkey_kv *ctx, size_t nctx,
		      const struct hsmkey_re_encrypt_to *to, const void *blob,
		      size_t bloblen, void *out, size_t *outlen);

/*
 * Batches (hsmkey_encrypt_batch(3)): up to HSMKEY_BATCH_MAX calls in one
 * request, their inputs HSMKEY_BATCH_BYTES in all.  Each item is a call of
 * its own, authorised, recorded and refused alone: its @result is 0 or
 * -errno.  The batch returns 0 when every item succeeded, else the first
 * failed item's error (hsmkey_error() names the item) or the request's.
 */
#define HSMKEY_BATCH_MAX	16
#define HSMKEY_BATCH_BYTES	49152

struct hsmkey_item {
	const struct hsmkey_kv *ctx;	/* its context, @nctx pairs */
	size_t nctx;
	const void *in;			/* the plaintext or the blob */
	size_t inlen;
	void *out;			/* the blob or the plaintext */
	size_t outlen;			/* its size; the length on return */
	int result;
};

/* Each item's plaintext encrypted with key @key; @out at least @inlen + 56. */
int hsmkey_encrypt_batch(struct hsmkey *h, const char *key, struct hsmkey_item *items,
			 size_t n);
/* Each item's blob decrypted; @out at least @inlen - 56. */
int hsmkey_decrypt_batch(struct hsmkey *h, struct hsmkey_item *items, size_t n);

/*
 * Signatures with an identity key (ecdsa-p256 over SHA-256, ecdsa-p384
 * over SHA-384, ed25519, rsa-2048 and rsa-3072 over SHA-256): DER for
 * ECDSA, as openssl dgst -sign writes; the 64 bytes of RFC 8032 for
 * Ed25519; the modulus's length for RSA, PKCS #1 v1.5 or with
 * HSMKEY_SIGN_PSS, PSS.  @data is the message (1 to HSMKEY_MESSAGE_MAX
 * bytes) or, with HSMKEY_SIGN_DIGEST and a key other than Ed25519, its
 * digest.  See hsmkey_sign(3).
 */
#define HSMKEY_SIGN_DIGEST	1u
#define HSMKEY_SIGN_PSS		2u
#define HSMKEY_MESSAGE_MAX	32768
#define HSMKEY_SIGNATURE_MAX	512	/* any key's; 256 holds all but RSA-3072's */

/*
 * The signature into @sig (*@siglen: its size, the length on return; too
 * small for the key's, -ENOBUFS before anything is signed, and
 * HSMKEY_SIGNATURE_MAX in *@siglen).
 */
int hsmkey_sign(struct hsmkey *h, const char *key, unsigned int flags, const void *data,
		size_t len, void *sig, size_t *siglen);
/* 0 when @sig is key @key's signature of @data; -EBADMSG when it is not. */
int hsmkey_verify(struct hsmkey *h, const char *key, unsigned int flags, const void *data,
		  size_t len, const void *sig, size_t siglen);
/*
 * The identity key's public key as PEM (SubjectPublicKeyInfo), with its
 * NUL, into @pem (*@len: its size; the length with the NUL on return).
 */
int hsmkey_public_key(struct hsmkey *h, const char *key, char *pem, size_t *len);

/*
 * MACs with a MAC key (hmac-sha256: HMAC over SHA-256), made and checked
 * in hsmkeyd (hsmkey_generate_mac(3)), of a message of 0 to
 * HSMKEY_MESSAGE_MAX bytes.
 */
#define HSMKEY_MAC_LEN		32

/*
 * Key @key's MAC of @msg under its current version into @mac, and that
 * version into *@version (NULL: not wanted).
 */
int hsmkey_generate_mac(struct hsmkey *h, const char *key, const void *msg, size_t len,
			uint8_t mac[HSMKEY_MAC_LEN], uint32_t *version);
/*
 * 0 when @mac is key @key's MAC of @msg under version @version (0: the
 * current one; a MAC made before a rotation needs its version named),
 * -EBADMSG when it is not.
 */
int hsmkey_verify_mac(struct hsmkey *h, const char *key, uint32_t version, const void *msg,
		      size_t len, const uint8_t mac[HSMKEY_MAC_LEN]);

/*
 * @len (1 to HSMKEY_RANDOM_MAX) random bytes from hsmkeyd, of the
 * kernel's generator (getrandom(2)), into @buf: no key, no grant
 * (hsmkey_generate_random(3)).
 */
#define HSMKEY_RANDOM_MAX	1024

int hsmkey_generate_random(struct hsmkey *h, void *buf, size_t len);

/*
 * Data keys (hsmkey_generate_data_key(3)): an AES key of kernel key type @type
 * (aes-128-gcm, aes-256-gcm, aes-128-cbc, aes-256-cbc, aes-128-xts,
 * aes-256-xts; NULL: aes-256-gcm), wrapped under KMS key @key with
 * context @ctx as a blob of hsmkey-blob(5).  hsmkey_decrypt() opens one
 * made with its plaintext; one made without is for the kernel only, for
 * the caller's uid and as @type: hsmkey_unwrap_to_kernel() alone opens it.
 * Buffers: @wrapped at least HSMKEY_WRAPPED_KEY_MAX bytes, @plaintext
 * HSMKEY_DATA_KEY_MAX, @token HSMKEY_TOKEN_SIZE (checked before anything
 * is made: -ENOBUFS); each *len is the length on return.
 */
#define HSMKEY_DATA_KEY_MAX	64
#define HSMKEY_WRAPPED_KEY_MAX	(HSMKEY_DATA_KEY_MAX + HSMKEY_BLOB_OVERHEAD)
#define HSMKEY_TOKEN_SIZE	64

/*
 * A batch of data keys of one type under key @key, each item with its own
 * context: with HSMKEY_DATA_KEY_PLAINTEXT each with its plaintext, else
 * wrapped only (for the kernel only).
 */
#define HSMKEY_DATA_KEY_PLAINTEXT	1u

struct hsmkey_data_key_item {
	const struct hsmkey_kv *ctx;
	size_t nctx;
	uint8_t wrapped[HSMKEY_WRAPPED_KEY_MAX];
	size_t wrapped_len;
	uint8_t plaintext[HSMKEY_DATA_KEY_MAX];
	size_t plaintext_len;		/* 0 without HSMKEY_DATA_KEY_PLAINTEXT */
	int result;
};

int hsmkey_generate_data_keys(struct hsmkey *h, const char *key, const char *type,
			      unsigned int flags, struct hsmkey_data_key_item *items,
			      size_t n);

/* With its plaintext; @plaintext NULL: without (for the kernel only). */
int hsmkey_generate_data_key(struct hsmkey *h, const char *key, const char *type,
			     const struct hsmkey_kv *ctx, size_t nctx, void *wrapped,
			     size_t *wrapped_len, void *plaintext, size_t *plaintext_len);
/*
 * The plaintext into the kernel instead, bindable by the caller's
 * effective uid alone for @ttl seconds (0: an hour; at most a day): the
 * token for setkey() into @token.
 */
int hsmkey_data_key_to_kernel(struct hsmkey *h, const char *key, const char *type,
			      unsigned int ttl, const struct hsmkey_kv *ctx, size_t nctx,
			      void *wrapped, size_t *wrapped_len, void *token, size_t *token_len);
/*
 * A wrapped data key (@wrapped, @wrapped_len bytes) into the kernel, as
 * hsmkey_data_key_to_kernel() puts a new one; @type (NULL: the GCM type
 * of its length, aes-256-xts for 64 bytes) must be the one a key for the
 * kernel only was made as.
 */
int hsmkey_unwrap_to_kernel(struct hsmkey *h, const char *type, unsigned int ttl,
			    const struct hsmkey_kv *ctx, size_t nctx, const void *wrapped,
			    size_t wrapped_len, void *token, size_t *token_len);

/*
 * Envelope streams of any length (hsmkey_encrypt_stream(3)): read @in to
 * its end and write to @out a stream of hsmkey-blob(5) "STREAMS": a new
 * data key, with its plaintext, wrapped under KMS key @key with context
 * @ctx (the data-key grant), then the data in authenticated frames of
 * HSMKEY_STREAM_FRAME bytes.  hsmkey_decrypt_stream() needs the decrypt
 * grant and the same context; it writes each frame once it verifies and
 * fails with -EBADMSG at the first that does not (altered, reordered,
 * cut): what it wrote before is then not to be used.
 */
#define HSMKEY_STREAM_FRAME	65536
#define HSMKEY_STREAM_FRAME_MIN	4096
#define HSMKEY_STREAM_FRAME_MAX	1048576

int hsmkey_encrypt_stream(struct hsmkey *h, const char *key, const struct hsmkey_kv *ctx,
			  size_t nctx, int in, int out);
int hsmkey_decrypt_stream(struct hsmkey *h, const struct hsmkey_kv *ctx, size_t nctx,
			  int in, int out);

#ifdef __cplusplus
}
#endif

#endif
