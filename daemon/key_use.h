/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A daemon key's version (KMS, MAC, identity) used where it lives, for the
 * local KMS API: inside the key storage when the backend can (->use: a
 * PKCS#11 token, the key never in the daemon), else here, the version
 * unsealed for the one call and wiped after it (the embedded key store;
 * identity keys there sign in kms_sign.c and csr.c with identity_pkey()).
 */
#ifndef HSMKEY_KEY_USE_H
#define HSMKEY_KEY_USE_H

#include <openssl/evp.h>
#include "backend.h"

struct request;

#define KEY_USE_TAG_LEN		16	/* AES-GCM's */
#define KEY_USE_MAC_LEN		32	/* HMAC-SHA256's */
#define KEY_USE_SIG_MAX		512	/* a signature's, raw: RSA-3072's 384 at most */

/*
 * @u with version @key->version of key @key->name, whose id and type must
 * be @key's (as get() without unseal gave them), the output into @out:
 * KS_USE_SEAL @u->len + KEY_USE_TAG_LEN bytes, KS_USE_OPEN @u->len -
 * KEY_USE_TAG_LEN, KS_USE_MAC KEY_USE_MAC_LEN.  0, or:
 *   -EBADMSG	a ciphertext that does not open (@out wiped); not worded
 *   -ESTALE	the name holds another key now (made again meanwhile); not worded
 *   other	worded in @rq
 */
int key_use(struct request *rq, const struct ks_key *key, const struct ks_use *u, uint8_t *out);

/*
 * @len (1 to KS_RANDOM_MAX) random bytes where the keys are made: the
 * storage's own generator when it has one (->random: an HSM's; a token
 * without one says -EOPNOTSUPP), else the kernel's (getrandom(2)).  0 or
 * -errno, not worded (->random logs the storage's reason).
 */
int key_use_random(struct backend *be, uint8_t *out, size_t len);

/*
 * Whether @be keeps hsmkeyd's own keys and uses them inside itself
 * (->use): it also makes identity key pairs there, and gives no private
 * key to the daemon.
 */
static inline bool key_use_inside(const struct backend *be)
{
	return be->ops->use != NULL;
}

/*
 * An identity key kept inside the storage (key_use_inside()): its
 * signature of @in (@len bytes: the message, hashed here with
 * identity_md() but for Ed25519, which signs it itself; or, with
 * @digest, that digest), as OpenSSL writes one (DER for ECDSA), with
 * KS_SIGN_PSS in @flags for RSA-PSS; into @sig (*@siglen bytes of room,
 * set to the length).  And its public key, as an OpenSSL key
 * (EVP_PKEY_free() it).  Errors worded in @rq (the key made again
 * meanwhile: -EAGAIN).
 */
int key_use_sign(struct request *rq, const struct ks_key *key, uint32_t flags, bool digest,
		 const uint8_t *in, size_t len, uint8_t *sig, size_t *siglen);
int key_use_public(struct request *rq, const struct ks_key *key, EVP_PKEY **out);

/*
 * The same signature, of a digest (Ed25519: the message) @in, by @be
 * directly: for a handshake's signer (tls_signer.h), whose key's version
 * is bound to its id there.  0 or -errno, not worded: ->use's (which logs
 * the storage's reason), -EINVAL for an RSA PKCS #1 v1.5 digest not
 * SHA-256's size, -ENOBUFS.
 */
int key_use_sign_in(struct backend *be, const struct ks_key *key, uint32_t flags,
		    const uint8_t *in, size_t len, uint8_t *sig, size_t *siglen);

#endif
