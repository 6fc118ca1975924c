/* SPDX-License-Identifier: GPL-2.0 */
/*
 * RSA identity keys (identity_rsa.c), for identity.c and identity_file.c.
 * Errors as identity.h's, and -ERANGE for a weak key (e below 65537,
 * primes too close).
 */
#ifndef HSMKEY_IDENTITY_RSA_H
#define HSMKEY_IDENTITY_RSA_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

int rsa_bits(int type);		/* the modulus's, 0 if not RSA */
int rsa_generate(int type, uint8_t *material);
/* @material's key, checked: e odd, p > q, the modulus @type's size. */
int rsa_pkey(int type, const uint8_t *material, EVP_PKEY **out);
/* @pkey, an RSA key of @type's size, into @material. */
int rsa_material(int type, EVP_PKEY *pkey, uint8_t *material);

/*
 * @material's values in PKCS #1's order (n, e, d, p, q, dp, dq, qinv), big
 * endian without leading zeros, for a key file written here
 * (identity_der.c): secret, so @out is the caller's to wipe.
 */
#define RSA_VALUES	8
#define RSA_VALUE_MAX	384	/* rsa-3072's modulus and d */
struct rsa_values {
	uint8_t v[RSA_VALUES][RSA_VALUE_MAX];
	size_t len[RSA_VALUES];
};
int rsa_values(int type, const uint8_t *material, struct rsa_values *out);

/* An unsigned integer of a key file: big endian, in place. */
struct rsa_int {
	const uint8_t *p;
	size_t len;
};

/* An RSA private key file's values (PKCS #1 RSAPrivateKey). */
struct rsa_parts {
	struct rsa_int n, e, d, p, q, dp, dq, qinv;
};

/*
 * @f into @material once checked: primes, far enough apart, e at least
 * 65537, and every other value the one e, p and q give (-EKEYREJECTED).
 */
int rsa_from_parts(int type, const struct rsa_parts *f, uint8_t *material);

#endif
