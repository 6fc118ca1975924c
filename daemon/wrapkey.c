// SPDX-License-Identifier: GPL-2.0
/*
 * The import wrapping key: an RSA-3072 key pair whose public half the
 * daemon publishes, so that key material made elsewhere (an offline HSM,
 * another KMS) reaches the keystore wrapped with RSAES-OAEP (SHA-256,
 * MGF1-SHA-256), as cloud KMS import does.  The private half lives in
 * STATE/import-key.pem, PKCS#8 encrypted (AES-256-CBC, PBKDF2) under a
 * passphrase derived from the backend, so the file alone opens nothing;
 * it is made on first use.  With a backend that keeps its own (a token's
 * hsmkey:import), only the public half is here, to publish it.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include "util.h"
#include "wrapkey.h"

#define WRAPKEY_FILE	"import-key.pem"
#define WRAPKEY_BITS	3072
#define WRAPKEY_PEM_MAX	8192

struct wrapkey {
	EVP_PKEY *pkey;
};

static int wrapkey_pass(struct backend *be, char *pass)
{
	uint8_t raw[32];
	int r = be->ops->derive(be, "hsmkey import wrapping key v1", raw, sizeof(raw));

	if (!r)
		hex_encode(raw, sizeof(raw), pass);
	wipe(raw, sizeof(raw));
	return r;
}

static int wrapkey_make(int dirfd, const char *pass, EVP_PKEY **out)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)WRAPKEY_BITS);
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem;
	long len;
	int r = -EIO;

	if (pkey && bio &&
	    PEM_write_bio_PKCS8PrivateKey(bio, pkey, EVP_aes_256_cbc(), pass,
					  (int)strlen(pass), NULL, NULL) == 1 &&
	    (len = BIO_get_mem_data(bio, &pem)) > 0)
		r = write_file_atomic(dirfd, WRAPKEY_FILE, pem, (size_t)len, 0600);
	BIO_free(bio);
	if (r) {
		EVP_PKEY_free(pkey);
		return r;
	}
	log_info("made a new import wrapping key (RSA-%d) in %s", WRAPKEY_BITS, WRAPKEY_FILE);
	*out = pkey;
	return 0;
}

int wrapkey_open(struct backend *be, int dirfd, bool renew, struct wrapkey **out)
{
	char pass[65], *pem;
	struct wrapkey *w;
	BIO *bio;
	int fd, n, r = 0;

	if (wrapkey_pass(be, pass))
		return -EIO;
	w = calloc(1, sizeof(*w));
	pem = malloc(WRAPKEY_PEM_MAX);
	if (!w || !pem) {
		r = -ENOMEM;
		goto out;
	}
	fd = renew ? -1 : openat(dirfd, WRAPKEY_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && (renew || errno == ENOENT)) {
		r = wrapkey_make(dirfd, pass, &w->pkey);
		goto out;
	}
	if (fd < 0) {
		r = log_errno(errno, "cannot open %s: %m", WRAPKEY_FILE);
		goto out;
	}
	n = read_full(fd, pem, WRAPKEY_PEM_MAX);
	close(fd);
	bio = n > 0 ? BIO_new_mem_buf(pem, n) : NULL;
	w->pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, pass) : NULL;
	BIO_free(bio);
	if (!w->pkey || EVP_PKEY_get_base_id(w->pkey) != EVP_PKEY_RSA)
		r = log_errno(EBADMSG, "%s is damaged or not this keystore's: 'hsmkeyctl import-key --renew' makes a new one",
			      WRAPKEY_FILE);
out:
	wipe(pass, sizeof(pass));
	if (pem) {
		wipe(pem, WRAPKEY_PEM_MAX);
		free(pem);
	}
	if (r) {
		wrapkey_close(w);
		return r;
	}
	*out = w;
	return 0;
}

int wrapkey_from_public(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen,
			struct wrapkey **out)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(e, (int)elen, NULL);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	struct wrapkey *w = calloc(1, sizeof(*w));
	OSSL_PARAM *params = NULL;
	int r = -EIO;

	if (bld && bn && be && ctx && w &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1 &&
	    (params = OSSL_PARAM_BLD_to_param(bld)) &&
	    EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, &w->pkey, EVP_PKEY_PUBLIC_KEY, params) == 1)
		r = 0;
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	BN_free(bn);
	BN_free(be);
	OSSL_PARAM_BLD_free(bld);
	if (r) {
		wrapkey_close(w);
		return r;
	}
	*out = w;
	return 0;
}

void wrapkey_close(struct wrapkey *w)
{
	if (!w)
		return;
	EVP_PKEY_free(w->pkey);
	free(w);
}

int wrapkey_public(struct wrapkey *w, char *pem, size_t size, char *fingerprint)
{
	uint8_t der[1024], *p = der, md[32];
	unsigned int mdlen = sizeof(md);
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int dlen;

	if (!bio || PEM_write_bio_PUBKEY(bio, w->pkey) != 1 ||
	    (len = BIO_get_mem_data(bio, &data)) <= 0 || (size_t)len >= size) {
		BIO_free(bio);
		return -EIO;
	}
	memcpy(pem, data, (size_t)len);
	pem[len] = '\0';
	BIO_free(bio);
	dlen = i2d_PUBKEY(w->pkey, NULL);
	if (dlen <= 0 || dlen > (int)sizeof(der) || i2d_PUBKEY(w->pkey, &p) != dlen ||
	    !EVP_Digest(der, (size_t)dlen, md, &mdlen, EVP_sha256(), NULL))
		return -EIO;
	hex_encode(md, sizeof(md), fingerprint);
	return 0;
}

int wrapkey_unwrap(struct wrapkey *w, const uint8_t *in, size_t inlen, uint8_t *out,
		   size_t *outlen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(w->pkey, NULL);
	uint8_t buf[WRAPKEY_BITS / 8];
	size_t len = sizeof(buf);
	int ok;

	ok = ctx && EVP_PKEY_decrypt_init(ctx) == 1 &&
	     EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
	     EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) == 1 &&
	     EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) == 1 &&
	     EVP_PKEY_decrypt(ctx, buf, &len, in, inlen) == 1 && len <= *outlen;
	EVP_PKEY_CTX_free(ctx);
	if (ok) {
		memcpy(out, buf, len);
		*outlen = len;
	}
	wipe(buf, sizeof(buf));
	return ok ? 0 : -EBADMSG;
}
