/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Private keys that sign elsewhere, for OpenSSL (tls_signer.c): an
 * identity key kept inside the key storage (a PKCS#11 token) serves TLS
 * handshakes as an EVP_PKEY whose public half is the key's and whose
 * every signature is asked of the storage.  OpenSSL never holds the
 * private key, so no handshake can leak it.
 *
 * Such keys live in an OpenSSL library context of their own
 * (tls_signer_libctx()), with the default provider and hsmkeyd's
 * "hsmkey-signer" provider, where fetches that name no provider prefer the
 * default one; a TLS context with such a key is made in that library
 * context.  The rest of hsmkeyd's OpenSSL use never meets the provider.
 */
#ifndef HSMKEY_TLS_SIGNER_H
#define HSMKEY_TLS_SIGNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include "key.h"

struct backend;

struct tls_signer {
	/*
	 * A signature of @in, a digest made with @md (RSA: PSS if @pss,
	 * else PKCS #1 v1.5), or for Ed25519 (@md NULL) the message itself,
	 * as OpenSSL writes one (DER for ECDSA), into @sig (*@siglen bytes
	 * of room, set to the length).  0 or -errno.  Runs on the thread of
	 * the handshake that signs, at most once a handshake.
	 */
	int (*sign)(const struct tls_signer *s, const EVP_MD *md, bool pss, const uint8_t *in,
		    size_t len, uint8_t *sig, size_t *siglen);
	struct backend *be;	/* for ->sign: where the key is */
	struct ks_key key;	/* for ->sign: its name, id, version and type only */
};

/*
 * The library context of such keys, made and its providers loaded on the
 * first call; NULL if that failed (logged).
 */
OSSL_LIB_CTX *tls_signer_libctx(void);

/*
 * A key in tls_signer_libctx() that signs with @s (copied) and whose
 * public key is @pub's, an EC, RSA or Ed25519 key; EVP_PKEY_free() it.
 * 0, or -EINVAL (@pub of another type), -ENOMEM, -EIO.
 */
int tls_signer_key(const struct tls_signer *s, EVP_PKEY *pub, EVP_PKEY **out);

/* Whether @pkey is such a key. */
bool tls_signer_is(const EVP_PKEY *pkey);

#endif
