// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libhsmkey's envelope streams (hsmkey/kms.h, hsmkey-blob(5) "STREAMS"):
 * a data key per stream from hsmkeyd, wrapped under a KMS key in the
 * stream's header; the data in frames of AES-256-GCM under the data key,
 * each authenticated with its index and whether it is the last, so that
 * frames altered, reordered, dropped or cut off are refused.
 *
 *   header:  "HKMF" | format 1 | algorithm 1 | 0 0 | be32 frame size |
 *            be32 wrapped key length W | the wrapped key (W bytes)
 *   frame i: AES-256-GCM(data key, nonce = be64(i) | 0 0 0 | last,
 *            aad = SHA-256(header)) of frame size bytes (the last: fewer,
 *            perhaps none) | 16-byte tag
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include "internal.h"

#define MAGIC		"HKMF"
#define FORMAT		1
#define ALG_AES_256_GCM	1
#define FIXED		16		/* the header before the wrapped key */
#define TAG		16
#define KEYLEN		32

struct stream {
	struct hsmkey *h;
	int in, out;
	uint32_t frame;			/* plaintext bytes of a full frame */
	uint8_t key[KEYLEN];
	uint8_t aad[SHA256_DIGEST_LENGTH];
	EVP_CIPHER_CTX *c;
	uint8_t *pt, *ct;		/* frame and frame + TAG bytes */
	uint64_t index;
};

/* Up to @len bytes from @fd: how many (fewer only at its end), or -errno. */
static ssize_t read_full(int fd, uint8_t *buf, size_t len)
{
	size_t n = 0;

	while (n < len) {
		ssize_t r = read(fd, buf + n, len - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (!r)
			break;
		n += (size_t)r;
	}
	return (ssize_t)n;
}

static int write_full(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t r = write(fd, buf, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		buf += r;
		len -= (size_t)r;
	}
	return 0;
}

static void nonce_of(uint64_t index, bool last, uint8_t *nonce)
{
	uint32_t hi = htonl((uint32_t)(index >> 32)), lo = htonl((uint32_t)index);

	memcpy(nonce, &hi, 4);
	memcpy(nonce + 4, &lo, 4);
	memset(nonce + 8, 0, 3);
	nonce[11] = last;
}

/* Frame @s->index of @len bytes from s->pt into s->ct (+ TAG). */
static int seal_frame(struct stream *s, size_t len, bool last)
{
	uint8_t nonce[12];
	int n = 0, fin = 0;

	nonce_of(s->index, last, nonce);
	if (EVP_EncryptInit_ex(s->c, NULL, NULL, s->key, nonce) != 1 ||
	    EVP_EncryptUpdate(s->c, NULL, &n, s->aad, sizeof(s->aad)) != 1 ||
	    EVP_EncryptUpdate(s->c, s->ct, &n, s->pt, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(s->c, s->ct + n, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(s->c, EVP_CTRL_GCM_GET_TAG, TAG, s->ct + len) != 1)
		return lib_fail(s->h, -EIO, "the encryption of frame %llu failed",
				(unsigned long long)s->index);
	return 0;
}

/* Frame @s->index, @len bytes of s->ct with its tag, into s->pt. */
static int open_frame(struct stream *s, size_t len, bool last)
{
	uint8_t nonce[12];
	int n = 0, fin = 0;

	nonce_of(s->index, last, nonce);
	if (EVP_DecryptInit_ex(s->c, NULL, NULL, s->key, nonce) != 1 ||
	    EVP_DecryptUpdate(s->c, NULL, &n, s->aad, sizeof(s->aad)) != 1 ||
	    EVP_DecryptUpdate(s->c, s->pt, &n, s->ct, (int)(len - TAG)) != 1 ||
	    EVP_CIPHER_CTX_ctrl(s->c, EVP_CTRL_GCM_SET_TAG, TAG, s->ct + len - TAG) != 1 ||
	    EVP_DecryptFinal_ex(s->c, s->pt + n, &fin) != 1) {
		explicit_bzero(s->pt, s->frame);
		return lib_fail(s->h, -EBADMSG, "frame %llu does not decrypt: the stream was altered, reordered or cut",
				(unsigned long long)s->index);
	}
	return 0;
}

static int stream_init(struct stream *s, struct hsmkey *h, int in, int out, uint32_t frame)
{
	*s = (struct stream){ .h = h, .in = in, .out = out, .frame = frame };
	s->c = EVP_CIPHER_CTX_new();
	s->pt = malloc(frame);
	s->ct = malloc((size_t)frame + TAG);
	if (!s->c || !s->pt || !s->ct)
		return lib_fail(h, -ENOMEM, "out of memory");
	if (EVP_CipherInit_ex(s->c, EVP_aes_256_gcm(), NULL, NULL, NULL, -1) != 1)
		return lib_fail(h, -EIO, "OpenSSL has no AES-256-GCM");
	return 0;
}

static void stream_free(struct stream *s)
{
	explicit_bzero(s->key, sizeof(s->key));
	if (s->pt)
		explicit_bzero(s->pt, s->frame);
	free(s->pt);
	free(s->ct);
	EVP_CIPHER_CTX_free(s->c);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

static int io_fail(struct stream *s, int r, const char *what)
{
	return lib_fail(s->h, r, "cannot %s: %s", what, strerror(-r));
}

/* Every frame of the input, the last one shorter than a full frame. */
static int seal_all(struct stream *s)
{
	for (;; s->index++) {
		ssize_t n = read_full(s->in, s->pt, s->frame);
		bool last = n >= 0 && (size_t)n < s->frame;
		int r;

		if (n < 0)
			return io_fail(s, (int)n, "read the input");
		r = seal_frame(s, (size_t)n, last);
		if (!r && (r = write_full(s->out, s->ct, (size_t)n + TAG)))
			return io_fail(s, r, "write the output");
		if (r || last)
			return r;
	}
}

API int hsmkey_encrypt_stream(struct hsmkey *h, const char *key, const struct hsmkey_kv *ctx,
			      size_t nctx, int in, int out)
{
	uint8_t head[FIXED + HSMKEY_WRAPPED_KEY_MAX];
	size_t wlen = HSMKEY_WRAPPED_KEY_MAX, klen = HSMKEY_DATA_KEY_MAX;
	uint8_t dk[HSMKEY_DATA_KEY_MAX];
	struct stream s;
	int r = stream_init(&s, h, in, out, HSMKEY_STREAM_FRAME) ?:
		hsmkey_generate_data_key(h, key, "aes-256-gcm", ctx, nctx, head + FIXED, &wlen,
					 dk, &klen);

	if (!r && klen != KEYLEN)
		r = lib_fail(h, -EPROTO, "hsmkeyd gave a data key of %zu bytes", klen);
	if (!r) {
		memcpy(s.key, dk, KEYLEN);
		memcpy(head, MAGIC, 4);
		head[4] = FORMAT;
		head[5] = ALG_AES_256_GCM;
		head[6] = head[7] = 0;
		put32(head + 8, s.frame);
		put32(head + 12, (uint32_t)wlen);
		SHA256(head, FIXED + wlen, s.aad);
		r = write_full(out, head, FIXED + wlen);
		r = r ? io_fail(&s, r, "write the output") : seal_all(&s);
	}
	explicit_bzero(dk, sizeof(dk));
	stream_free(&s);
	return r;
}

/* The header from the input: its frame size, the data key from hsmkeyd. */
static int read_header(struct stream *s, const struct hsmkey_kv *ctx, size_t nctx)
{
	uint8_t head[FIXED + HSMKEY_WRAPPED_KEY_MAX], dk[HSMKEY_DATA_KEY_MAX];
	size_t klen = sizeof(dk);
	uint32_t frame, wlen;
	ssize_t n = read_full(s->in, head, FIXED);
	int r;

	if (n < 0)
		return io_fail(s, (int)n, "read the input");
	frame = n == FIXED ? get32(head + 8) : 0;
	wlen = n == FIXED ? get32(head + 12) : 0;
	if (n != FIXED || memcmp(head, MAGIC, 4) || head[4] != FORMAT ||
	    head[5] != ALG_AES_256_GCM || head[6] || head[7] || frame < HSMKEY_STREAM_FRAME_MIN ||
	    frame > HSMKEY_STREAM_FRAME_MAX || wlen <= HSMKEY_BLOB_OVERHEAD ||
	    wlen > HSMKEY_WRAPPED_KEY_MAX)
		return lib_fail(s->h, -EBADMSG, "not a stream of hsmkey_encrypt_stream (hsmkey-blob(5))");
	n = read_full(s->in, head + FIXED, wlen);
	if (n != (ssize_t)wlen)
		return n < 0 ? io_fail(s, (int)n, "read the input") :
		       lib_fail(s->h, -EBADMSG, "the stream ends inside its header");
	r = hsmkey_decrypt(s->h, ctx, nctx, head + FIXED, wlen, dk, &klen);
	if (!r && klen != KEYLEN)
		r = lib_fail(s->h, -EBADMSG, "the stream's data key is %zu bytes, not 32", klen);
	if (!r) {
		memcpy(s->key, dk, KEYLEN);
		SHA256(head, FIXED + wlen, s->aad);
		s->frame = frame;
	}
	explicit_bzero(dk, sizeof(dk));
	return r;
}

/*
 * Every frame: one of fewer than frame + TAG bytes is the last; a stream
 * that ends where a frame should start was cut.
 */
static int open_all(struct stream *s)
{
	for (;; s->index++) {
		ssize_t n = read_full(s->in, s->ct, (size_t)s->frame + TAG);
		bool last = n >= 0 && (size_t)n < (size_t)s->frame + TAG;
		int r;

		if (n < 0)
			return io_fail(s, (int)n, "read the input");
		if (n < TAG)
			return lib_fail(s->h, -EBADMSG, "the stream ends before its last frame: it was cut (%llu frames)",
					(unsigned long long)s->index);
		r = open_frame(s, (size_t)n, last);
		if (!r && (r = write_full(s->out, s->pt, (size_t)n - TAG)))
			return io_fail(s, r, "write the output");
		if (r || last)
			return r;
	}
}

API int hsmkey_decrypt_stream(struct hsmkey *h, const struct hsmkey_kv *ctx, size_t nctx,
			      int in, int out)
{
	struct stream s;
	int r = stream_init(&s, h, in, out, HSMKEY_STREAM_FRAME_MAX);

	if (!r)
		r = read_header(&s, ctx, nctx) ?: open_all(&s);
	s.frame = HSMKEY_STREAM_FRAME_MAX;	/* the buffers' size, to wipe */
	stream_free(&s);
	return r;
}
