/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Identity keys (key.h's ks_identity_type): the private keys that sign
 * TLS handshakes and certificate requests.  Kept by the key storage as
 * their private scalar or seed; made into an OpenSSL key only where one
 * signs, and freed (wiped by OpenSSL) right after.  Errors are -errno:
 * -EINVAL input that is no such key, -EMEDIUMTYPE a key of another type,
 * -EKEYREJECTED a public key that is not the private key's, -EDOM explicit
 * curve parameters (only named curves are read), -ENOMEM.
 */
#ifndef HSMKEY_IDENTITY_H
#define HSMKEY_IDENTITY_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include "key.h"

/* A new private key of @type into @material (key_type_len(@type) bytes). */
int identity_generate(int type, uint8_t *material);
/*
 * The private key in @in (PEM: "PRIVATE KEY", "EC PRIVATE KEY" or "RSA
 * PRIVATE KEY"; or the DER of any), which must be of @type, into @material
 * (identity_file.c: read
 * without OpenSSL's decoders, which leave copies unwiped).  Encrypted keys
 * are refused (-EINVAL; decrypt them first with openssl pkey).  @material
 * is wiped on any error.
 */
int identity_parse(int type, const uint8_t *in, size_t len, uint8_t *material);
/*
 * Whether @material is a private key of @type (an ECDSA scalar in 1..n-1)
 * and, if @publen, whether @pub is its public key (an ECDSA point, either
 * form; an Ed25519 key's 32 bytes).
 */
int identity_check(int type, const uint8_t *material, const uint8_t *pub, size_t publen);
/* The OpenSSL key of @key's material (unsealed); EVP_PKEY_free() it. */
int identity_pkey(const struct ks_key *key, EVP_PKEY **out);
/* The same of @type's @material (key_type_len(@type) bytes). */
int identity_material_pkey(int type, const uint8_t *material, EVP_PKEY **out);
/*
 * @type's @material as a PKCS #8 PrivateKeyInfo's DER into @out (*@len
 * bytes of room, then the length made; -ENOBUFS if too small, @out wiped
 * on any error): identity_der.c, without OpenSSL's encoders.
 */
int identity_pkcs8(int type, const uint8_t *material, uint8_t *out, size_t *len);
/* The public half of @key (unsealed) as PEM (SubjectPublicKeyInfo); free() it. */
int identity_public_pem(const struct ks_key *key, char **out);
/* The same of an OpenSSL key. */
int identity_pkey_pem(EVP_PKEY *pkey, char **out);
/* The digest that signs with @type's keys: NULL for Ed25519. */
const EVP_MD *identity_md(int type);

#endif
