// SPDX-License-Identifier: GPL-2.0
/*
 * RSA identity keys (rsa-2048, rsa-3072) between their stored form and
 * OpenSSL's.  The material is e (4 bytes) || p || q with p > q, each half
 * the modulus, big endian (key.h): the modulus, the private exponent and
 * the CRT values are computed where the key is used.  Every BIGNUM this
 * file makes for a private value is in the secure heap
 * (CRYPTO_secure_malloc_init in main.c), constant-time, and cleared when
 * freed; so are the BN_CTX's.  The primes OpenSSL hands back from a key it
 * generated (rsa_material) are in ordinary memory, cleared when freed.
 *
 * A key the daemon did not make (an imported file) is checked harder
 * (rsa_from_parts): both factors prime and far enough apart, e at least
 * 65537, and the file's own modulus, exponents and coefficient the ones
 * its primes give, so that a damaged or forged file is refused rather than
 * kept to sign wrong.  Not EVP_PKEY_check(): it leaves p - 1 and the like
 * in freed memory it does not clear.
 */
#include <errno.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/bnerr.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include "identity_rsa.h"
#include "key.h"
#include "util.h"

#define RSA_E_LEN	4	/* e's bytes in the material */
#define RSA_E_MIN	65537	/* NIST SP 800-56B: 2^16 < e < 2^256 */

/* The values of one RSA key; all but e and n are private. */
struct rsa_key {
	BIGNUM *e, *p, *q, *n, *d, *dp, *dq, *qinv;
};

int rsa_bits(int type)
{
	return type == KS_TYPE_RSA_2048 ? 2048 : type == KS_TYPE_RSA_3072 ? 3072 : 0;
}

/* A BIGNUM for a private value: secure heap, constant time. */
static BIGNUM *bn_private(void)
{
	BIGNUM *b = BN_secure_new();

	if (b)
		BN_set_flags(b, BN_FLG_CONSTTIME);
	return b;
}

static int rsa_key_new(struct rsa_key *k)
{
	k->e = BN_new();
	k->n = BN_new();
	k->p = bn_private();
	k->q = bn_private();
	k->d = bn_private();
	k->dp = bn_private();
	k->dq = bn_private();
	k->qinv = bn_private();
	return k->e && k->n && k->p && k->q && k->d && k->dp && k->dq && k->qinv ? 0 : -ENOMEM;
}

static void rsa_key_free(struct rsa_key *k)
{
	BN_free(k->e);
	BN_free(k->n);
	BN_clear_free(k->p);
	BN_clear_free(k->q);
	BN_clear_free(k->d);
	BN_clear_free(k->dp);
	BN_clear_free(k->dq);
	BN_clear_free(k->qinv);
}

/*
 * n, d (e^-1 mod lcm(p - 1, q - 1)), dp, dq and qinv from e, p and q;
 * -EINVAL when e or q has no inverse (no RSA key), -ENOMEM when the
 * secure heap is full.
 */
static int rsa_compute(struct rsa_key *k)
{
	BN_CTX *ctx = BN_CTX_secure_new();
	BIGNUM *p1, *q1, *g, *lambda;
	int r = -ENOMEM;

	if (!ctx)
		return -ENOMEM;
	BN_CTX_start(ctx);
	p1 = BN_CTX_get(ctx);
	q1 = BN_CTX_get(ctx);
	g = BN_CTX_get(ctx);
	lambda = BN_CTX_get(ctx);
	if (lambda) {
		BN_set_flags(p1, BN_FLG_CONSTTIME);
		BN_set_flags(q1, BN_FLG_CONSTTIME);
		BN_set_flags(lambda, BN_FLG_CONSTTIME);
		if (BN_mul(k->n, k->p, k->q, ctx) && BN_sub(p1, k->p, BN_value_one()) &&
		    BN_sub(q1, k->q, BN_value_one()) && BN_gcd(g, p1, q1, ctx) &&
		    BN_mul(lambda, p1, q1, ctx) && BN_div(lambda, NULL, lambda, g, ctx))
			r = 0;
	}
	/* What is left fails for want of an inverse, or of memory. */
	if (!r && !(BN_mod_inverse(k->d, k->e, lambda, ctx) &&
		    BN_mod_inverse(k->dp, k->e, p1, ctx) &&
		    BN_mod_inverse(k->dq, k->e, q1, ctx) &&
		    BN_mod_inverse(k->qinv, k->q, k->p, ctx)))
		r = ERR_GET_REASON(ERR_peek_last_error()) == BN_R_NO_INVERSE ? -EINVAL : -ENOMEM;
	ERR_clear_error();
	BN_CTX_end(ctx);
	BN_CTX_free(ctx);
	return r;
}

/* e odd and at least 65537; p > q > 1; n of @type's size exactly. */
static int rsa_check_sizes(int type, const struct rsa_key *k)
{
	if (!BN_is_odd(k->e) || BN_cmp(k->e, BN_value_one()) <= 0)
		return -EINVAL;
	if (BN_get_word(k->e) < RSA_E_MIN)
		return -ERANGE;
	if (BN_cmp(k->p, k->q) <= 0 || BN_is_zero(k->q) || BN_is_one(k->q))
		return -EINVAL;
	return BN_num_bits(k->n) == rsa_bits(type) ? 0 : -EMEDIUMTYPE;
}

/* @k's e, p and q from @material. */
static int rsa_unpack(int type, const uint8_t *material, struct rsa_key *k)
{
	int half = rsa_bits(type) / 16;

	if (!BN_bin2bn(material, RSA_E_LEN, k->e) ||
	    !BN_bin2bn(material + RSA_E_LEN, half, k->p) ||
	    !BN_bin2bn(material + RSA_E_LEN + half, half, k->q))
		return -ENOMEM;
	return 0;
}

/* @k's e, p and q into @material, p the larger. */
static int rsa_pack(int type, const struct rsa_key *k, uint8_t *material)
{
	int half = rsa_bits(type) / 16;
	bool swap = BN_cmp(k->p, k->q) < 0;

	if (BN_num_bytes(k->e) > RSA_E_LEN || BN_num_bytes(k->p) > half ||
	    BN_num_bytes(k->q) > half)
		return -EMEDIUMTYPE;
	if (BN_bn2binpad(k->e, material, RSA_E_LEN) != RSA_E_LEN ||
	    BN_bn2binpad(swap ? k->q : k->p, material + RSA_E_LEN, half) != half ||
	    BN_bn2binpad(swap ? k->p : k->q, material + RSA_E_LEN + half, half) != half)
		return -EINVAL;
	return 0;
}

/* The OpenSSL key of @k's eight values (OSSL_PARAM_BLD keeps secure ones secure). */
static int rsa_to_pkey(const struct rsa_key *k, EVP_PKEY **out)
{
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	OSSL_PARAM *params = NULL;
	int r = -ENOMEM;

	*out = NULL;
	if (b && ctx && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, k->n) == 1 &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, k->e) == 1 &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_D, k->d) == 1 &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_FACTOR1, k->p) == 1 &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_FACTOR2, k->q) == 1 &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_EXPONENT1, k->dp) == 1 &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_EXPONENT2, k->dq) == 1 &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, k->qinv) == 1)
		params = OSSL_PARAM_BLD_to_param(b);
	if (params && EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_KEYPAIR, params) == 1)
		r = 0;
	OSSL_PARAM_free(params);	/* the private values sat in secure (cleared) memory */
	OSSL_PARAM_BLD_free(b);
	EVP_PKEY_CTX_free(ctx);
	return r;
}

int rsa_pkey(int type, const uint8_t *material, EVP_PKEY **out)
{
	struct rsa_key k;
	int r = rsa_key_new(&k);

	r = r ?: rsa_unpack(type, material, &k);
	r = r ?: rsa_compute(&k);
	r = r ?: rsa_check_sizes(type, &k);
	r = r ?: rsa_to_pkey(&k, out);
	rsa_key_free(&k);
	return r;
}

int rsa_values(int type, const uint8_t *material, struct rsa_values *out)
{
	struct rsa_key k;
	int r = rsa_key_new(&k), i, n;

	r = r ?: rsa_unpack(type, material, &k);
	r = r ?: rsa_compute(&k);
	r = r ?: rsa_check_sizes(type, &k);
	if (!r) {
		const BIGNUM *v[RSA_VALUES] = { k.n, k.e, k.d, k.p, k.q, k.dp, k.dq, k.qinv };

		for (i = 0; i < RSA_VALUES && !r; i++) {
			n = BN_num_bytes(v[i]);
			if (n > (int)sizeof(out->v[i]) || BN_bn2bin(v[i], out->v[i]) != n)
				r = -EINVAL;
			out->len[i] = (size_t)n;
		}
	}
	rsa_key_free(&k);
	return r;
}

/* @pkey, an RSA key of two primes and @type's size, into @material. */
int rsa_material(int type, EVP_PKEY *pkey, uint8_t *material)
{
	struct rsa_key k = { NULL };
	int r = -EINVAL;

	if (EVP_PKEY_get_bits(pkey) != rsa_bits(type))
		return -EMEDIUMTYPE;
	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &k.e) == 1 &&
	    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_FACTOR1, &k.p) == 1 &&
	    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_FACTOR2, &k.q) == 1)
		r = rsa_pack(type, &k, material);
	rsa_key_free(&k);
	return r;
}

int rsa_generate(int type, uint8_t *material)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)rsa_bits(type));
	int r = pkey ? rsa_material(type, pkey, material) : -ENOMEM;

	EVP_PKEY_free(pkey);	/* RSA_free clears the private values */
	return r;
}

/* A value of the file, big endian, into @bn. */
static int bn_of(const struct rsa_int *v, BIGNUM *bn)
{
	return v->len && BN_bin2bn(v->p, (int)v->len, bn) ? 0 : -EINVAL;
}

/*
 * The primes far enough apart that the modulus does not factor from its
 * square root (|p - q| > 2^(bits/2 - 100), NIST SP 800-56B 6.2.1), both
 * prime.
 */
static int rsa_check_primes(int type, const struct rsa_key *k)
{
	BN_CTX *ctx = BN_CTX_secure_new();
	BIGNUM *diff;
	int r = -ENOMEM;

	if (!ctx)
		return -ENOMEM;
	BN_CTX_start(ctx);
	diff = BN_CTX_get(ctx);
	if (diff && BN_sub(diff, k->p, k->q)) {
		BN_set_negative(diff, 0);
		r = BN_num_bits(diff) <= rsa_bits(type) / 2 - 100 ? -ERANGE : 0;
	}
	if (!r && (BN_check_prime(k->p, ctx, NULL) != 1 || BN_check_prime(k->q, ctx, NULL) != 1))
		r = -EKEYREJECTED;
	BN_CTX_end(ctx);
	BN_CTX_free(ctx);
	return r;
}

/*
 * The file's modulus, d, dp, dq and qinv (as it orders its primes) the
 * ones e, p and q give: computed again and compared.  d itself may be
 * taken modulo phi or lambda, so it is compared modulo p - 1 and q - 1.
 */
static int rsa_check_file(const struct rsa_parts *f, struct rsa_key *k)
{
	struct rsa_key want;
	BN_CTX *ctx = BN_CTX_secure_new();
	BIGNUM *x, *m;
	int r = rsa_key_new(&want), same = 0;

	if (!ctx) {
		rsa_key_free(&want);
		return -ENOMEM;
	}
	BN_CTX_start(ctx);
	x = BN_CTX_get(ctx);
	m = BN_CTX_get(ctx);
	if (!r && !m)
		r = -ENOMEM;
	r = r ?: bn_of(&f->n, want.n) ?: bn_of(&f->d, want.d) ?: bn_of(&f->dp, want.dp) ?:
		 bn_of(&f->dq, want.dq) ?: bn_of(&f->qinv, want.qinv);
	if (!r) {
		BN_set_flags(x, BN_FLG_CONSTTIME);
		BN_set_flags(m, BN_FLG_CONSTTIME);
		same = !BN_cmp(want.n, k->n) && !BN_cmp(want.dp, k->dp) &&
		       !BN_cmp(want.dq, k->dq) && !BN_cmp(want.qinv, k->qinv) &&
		       BN_sub(m, k->p, BN_value_one()) && BN_mod(x, want.d, m, ctx) &&
		       !BN_cmp(x, k->dp) && BN_sub(m, k->q, BN_value_one()) &&
		       BN_mod(x, want.d, m, ctx) && !BN_cmp(x, k->dq);
		r = same ? 0 : -EKEYREJECTED;
	}
	BN_CTX_end(ctx);
	BN_CTX_free(ctx);
	rsa_key_free(&want);
	return r;
}

/*
 * A private key file's values: checked (above) with p and q as the file
 * orders them, for its dp, dq and qinv; then into @material, p the larger.
 */
int rsa_from_parts(int type, const struct rsa_parts *f, uint8_t *material)
{
	struct rsa_key k;
	int r = rsa_key_new(&k);

	r = r ?: bn_of(&f->e, k.e) ?: bn_of(&f->p, k.p) ?: bn_of(&f->q, k.q);
	if (!r && (BN_num_bytes(k.e) > RSA_E_LEN || BN_is_zero(k.p) || BN_is_zero(k.q) ||
		   !BN_cmp(k.p, k.q)))
		r = -EINVAL;
	r = r ?: rsa_compute(&k);
	if (!r && BN_num_bits(k.n) != rsa_bits(type))
		r = -EMEDIUMTYPE;
	r = r ?: rsa_check_file(f, &k);
	if (!r && BN_cmp(k.p, k.q) < 0) {
		/* The pointers, not BN_swap(): that would drop the secure flag. */
		BIGNUM *t = k.p;

		k.p = k.q;
		k.q = t;
		r = rsa_compute(&k);
	}
	r = r ?: rsa_check_sizes(type, &k) ?: rsa_check_primes(type, &k) ?:
		 rsa_pack(type, &k, material);
	rsa_key_free(&k);
	return r;
}
