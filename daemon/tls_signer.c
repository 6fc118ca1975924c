// SPDX-License-Identifier: GPL-2.0
/*
 * The "hsmkey-signer" OpenSSL provider (tls_signer.h): key management for
 * EC, RSA and Ed25519 keys that know their public half only, and signature
 * algorithms (ECDSA, RSA with PKCS #1 v1.5 or PSS, Ed25519) that hash what
 * they are given and hand the digest, or Ed25519's message, to the key's
 * ->sign.
 *
 * No private key enters or leaves: an import that selects a private key
 * is refused unless it names a signer (the parameter only tls_signer_key()
 * passes; private values in an import of the public key alone are not
 * read), and an export that selects one is refused.  So OpenSSL cannot
 * turn one of these keys into a default provider key that would have to
 * sign without its private half, nor take a default provider key for one
 * of these: a signature with such a key is always this provider's (the
 * first fetch, the default provider's, fails to take the key, and OpenSSL
 * then asks the key's own provider).  Public keys are imported, which
 * lets OpenSSL compare a certificate's key with one of these.
 *
 * Key comparisons (a certificate's key with one of these) need OpenSSL to
 * import the public key alone into this provider, which Debian 12's
 * 3.0.x does; an OpenSSL that asks for the whole key pair there would find
 * every certificate refused as not the key's.  The library context reads
 * no openssl.cnf.
 *
 * Lifetimes: a key's data is OpenSSL's to free (rk_free); a signature
 * operation points at its key's data, which the EVP_PKEY_CTX that holds
 * the operation keeps alive through its reference to the EVP_PKEY.  The
 * library context lives as long as hsmkeyd.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include "number.h"
#include "tls_signer.h"
#include "util.h"

#define SIGNER_PROVIDER	"hsmkey-signer"
#define SIGNER_PROPS	"provider=" SIGNER_PROVIDER
#define SIGNER_PARAM	"hsmkey-signer"		/* octet string: struct tls_signer */

/* The reasons of this provider's errors (ERR_LIB_USER). */
enum { SIGNER_R_NOT_SIGNER = 1, SIGNER_R_SIGN_FAILED };

/* A key: its public half, and the signer that holds its private one. */
struct rk {
	const char *alg;		/* "EC", "RSA" or "ED25519" */
	EVP_PKEY *pub;			/* in the library context, the default provider's */
	bool can_sign;
	struct tls_signer s;
};

/* A signature operation. */
struct sop {
	struct rk *key;
	EVP_MD *md;			/* NULL for Ed25519 */
	EVP_MD_CTX *mdctx;		/* for update and final */
	int pad;			/* RSA_PKCS1_PADDING or RSA_PKCS1_PSS_PADDING */
};

static OSSL_LIB_CTX *libctx;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Key management. */

static void *rk_new(const char *alg)
{
	struct rk *k = calloc(1, sizeof(*k));

	if (k)
		k->alg = alg;
	return k;
}

static void *ec_new(void *provctx)
{
	(void)provctx;
	return rk_new("EC");
}

static void *rsa_new(void *provctx)
{
	(void)provctx;
	return rk_new("RSA");
}

static void *ed_new(void *provctx)
{
	(void)provctx;
	return rk_new("ED25519");
}

static void rk_free(void *kd)
{
	struct rk *k = kd;

	if (!k)
		return;
	EVP_PKEY_free(k->pub);
	OPENSSL_cleanse(&k->s, sizeof(k->s));
	free(k);
}

static int rk_has(const void *kd, int selection)
{
	const struct rk *k = kd;

	if (!k)
		return 0;
	if (!(selection & OSSL_KEYMGMT_SELECT_ALL))
		return 1;
	return k->pub && (!(selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) || k->can_sign);
}

/* The same public key (what a certificate's check compares). */
static int rk_match(const void *a, const void *b, int selection)
{
	const struct rk *ka = a, *kb = b;

	(void)selection;
	return ka->pub && kb->pub && EVP_PKEY_eq(ka->pub, kb->pub) == 1;
}

static int rk_import(void *kd, int selection, const OSSL_PARAM params[])
{
	const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, SIGNER_PARAM);
	struct rk *k = kd;
	EVP_PKEY_CTX *c;
	EVP_PKEY *pub = NULL;
	int ok;

	if (!k || !(selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY))
		return 0;
	if (p && (p->data_type != OSSL_PARAM_OCTET_STRING || p->data_size != sizeof(k->s)))
		return 0;
	if (!p && (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY))
		return 0;	/* a private key stays with its own provider */
	c = EVP_PKEY_CTX_new_from_name(libctx, k->alg, "provider=default");
	ok = c && EVP_PKEY_fromdata_init(c) == 1 &&
	     EVP_PKEY_fromdata(c, &pub, EVP_PKEY_PUBLIC_KEY, (OSSL_PARAM *)params) == 1;
	EVP_PKEY_CTX_free(c);
	if (!ok)
		return 0;
	EVP_PKEY_free(k->pub);
	k->pub = pub;
	k->can_sign = p != NULL;
	if (p)
		memcpy(&k->s, p->data, sizeof(k->s));
	return 1;
}

static int rk_export(void *kd, int selection, OSSL_CALLBACK *cb, void *arg)
{
	struct rk *k = kd;
	OSSL_PARAM *params = NULL;
	int ok;

	if (!k || !k->pub || (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY))
		return 0;
	if (EVP_PKEY_todata(k->pub, EVP_PKEY_PUBLIC_KEY, &params) != 1)
		return 0;
	ok = cb(params, arg);
	OSSL_PARAM_free(params);
	return ok;
}

static const OSSL_PARAM rk_param_types[] = {
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *rk_types(int selection)
{
	(void)selection;
	return rk_param_types;
}

/* What the public half answers: sizes, the curve, the encoded point... */
static int rk_get_params(void *kd, OSSL_PARAM params[])
{
	struct rk *k = kd;

	return k && k->pub && EVP_PKEY_get_params(k->pub, params) == 1;
}

static const OSSL_PARAM rk_gettable[] = {
	OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_MANDATORY_DIGEST, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *rk_gettable_params(void *provctx)
{
	(void)provctx;
	return rk_gettable;
}

static const char *ec_op_name(int op)
{
	return op == OSSL_OP_SIGNATURE ? "ECDSA" : NULL;
}

static const char *rsa_op_name(int op)
{
	return op == OSSL_OP_SIGNATURE ? "RSA" : NULL;
}

static const char *ed_op_name(int op)
{
	return op == OSSL_OP_SIGNATURE ? "ED25519" : NULL;
}

#define FN(id, f)	{ id, (void (*)(void))(f) }
#define KEYMGMT(newf, opname) {						\
	FN(OSSL_FUNC_KEYMGMT_NEW, newf),				\
	FN(OSSL_FUNC_KEYMGMT_FREE, rk_free),				\
	FN(OSSL_FUNC_KEYMGMT_HAS, rk_has),				\
	FN(OSSL_FUNC_KEYMGMT_MATCH, rk_match),				\
	FN(OSSL_FUNC_KEYMGMT_IMPORT, rk_import),			\
	FN(OSSL_FUNC_KEYMGMT_IMPORT_TYPES, rk_types),			\
	FN(OSSL_FUNC_KEYMGMT_EXPORT, rk_export),			\
	FN(OSSL_FUNC_KEYMGMT_EXPORT_TYPES, rk_types),			\
	FN(OSSL_FUNC_KEYMGMT_GET_PARAMS, rk_get_params),		\
	FN(OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, rk_gettable_params),	\
	FN(OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, opname),		\
	{ 0, NULL } }

static const OSSL_DISPATCH ec_keymgmt[] = KEYMGMT(ec_new, ec_op_name);
static const OSSL_DISPATCH rsa_keymgmt[] = KEYMGMT(rsa_new, rsa_op_name);
static const OSSL_DISPATCH ed_keymgmt[] = KEYMGMT(ed_new, ed_op_name);

/* Signatures. */

static void *sop_new(void *provctx, const char *propq)
{
	(void)provctx, (void)propq;
	return calloc(1, sizeof(struct sop));
}

static void sop_free(void *ctx)
{
	struct sop *o = ctx;

	if (!o)
		return;
	EVP_MD_free(o->md);
	EVP_MD_CTX_free(o->mdctx);
	free(o);
}

static void *sop_dup(void *ctx)
{
	struct sop *o = ctx, *n = malloc(sizeof(*n));

	if (!n)
		return NULL;
	*n = *o;
	n->mdctx = NULL;
	if (n->md && !EVP_MD_up_ref(n->md))
		n->md = NULL;
	if (o->mdctx && (!(n->mdctx = EVP_MD_CTX_new()) ||
			 EVP_MD_CTX_copy_ex(n->mdctx, o->mdctx) != 1)) {
		sop_free(n);
		return NULL;
	}
	return n;
}

/* @o's digest, @name: none for Ed25519, which hashes for itself. */
static int sop_digest(struct sop *o, const char *name)
{
	bool ed = !strcmp(o->key->alg, "ED25519");

	EVP_MD_free(o->md);
	o->md = NULL;
	if (ed)
		return !name || !*name;
	o->md = EVP_MD_fetch(libctx, name && *name ? name : "SHA256", NULL);
	return o->md && (o->mdctx || (o->mdctx = EVP_MD_CTX_new())) &&
	       EVP_DigestInit_ex(o->mdctx, o->md, NULL) == 1;
}

static int param_pad(const OSSL_PARAM *p, int *pad)
{
	const char *s = NULL;

	if (p->data_type == OSSL_PARAM_INTEGER)
		return OSSL_PARAM_get_int(p, pad);
	if (OSSL_PARAM_get_utf8_string_ptr(p, &s) != 1)
		return 0;
	*pad = !strcmp(s, OSSL_PKEY_RSA_PAD_MODE_PKCSV15) ? RSA_PKCS1_PADDING :
	       !strcmp(s, OSSL_PKEY_RSA_PAD_MODE_PSS) ? RSA_PKCS1_PSS_PADDING : -1;
	return 1;
}

/* PSS's salt: the signer's is as long as the digest (TLS's), no other. */
static int param_salt_ok(const struct sop *o, const OSSL_PARAM *p)
{
	const char *s = NULL;
	uint64_t v = 0;
	int n = 0;

	if (!o->md)
		return 0;
	if (p->data_type == OSSL_PARAM_INTEGER)
		return OSSL_PARAM_get_int(p, &n) &&
		       (n == RSA_PSS_SALTLEN_DIGEST || n == EVP_MD_get_size(o->md));
	if (OSSL_PARAM_get_utf8_string_ptr(p, &s) != 1)
		return 0;
	return !strcmp(s, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST) ||
	       (!parse_u64(s, 1024, &v) && (int)v == EVP_MD_get_size(o->md));
}

static int sop_set_params(void *ctx, const OSSL_PARAM params[])
{
	struct sop *o = ctx;
	const OSSL_PARAM *p;
	const char *s = NULL;
	int pad;

	if (!params)
		return 1;
	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST);
	if (p && (OSSL_PARAM_get_utf8_string_ptr(p, &s) != 1 || !o->key || !sop_digest(o, s)))
		return 0;
	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
	if (p) {
		if (!o->key || strcmp(o->key->alg, "RSA") || !param_pad(p, &pad) ||
		    (pad != RSA_PKCS1_PADDING && pad != RSA_PKCS1_PSS_PADDING))
			return 0;
		o->pad = pad;
	}
	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
	if (p && !param_salt_ok(o, p))
		return 0;
	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
	if (p && (OSSL_PARAM_get_utf8_string_ptr(p, &s) != 1 || !o->md || !EVP_MD_is_a(o->md, s)))
		return 0;	/* MGF1 with the message's digest, no other */
	return 1;
}

static const OSSL_PARAM sop_settable[] = {
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *sop_settable_params(void *ctx, void *provctx)
{
	(void)ctx, (void)provctx;
	return sop_settable;
}

static int sop_init(void *ctx, const char *mdname, void *kd, const OSSL_PARAM params[])
{
	struct sop *o = ctx;
	struct rk *k = kd;

	if (!k || !k->can_sign) {
		ERR_raise_data(ERR_LIB_USER, SIGNER_R_NOT_SIGNER, "not a key that signs in the key storage");
		return 0;
	}
	o->key = k;
	o->pad = RSA_PKCS1_PADDING;
	return sop_digest(o, mdname) && sop_set_params(o, params);
}

/* The signature of the digest (Ed25519: the message) @in, by the signer. */
static int sop_sign(struct sop *o, unsigned char *sig, size_t *siglen, size_t sigsize,
		    const unsigned char *in, size_t len)
{
	size_t n = sigsize;
	int r = o->key->s.sign(&o->key->s, o->md, o->pad == RSA_PKCS1_PSS_PADDING, in, len, sig,
			       &n);

	if (r) {
		ERR_raise_data(ERR_LIB_USER, SIGNER_R_SIGN_FAILED, "the key storage did not sign: %s",
			       strerror(-r));
		return 0;
	}
	*siglen = n;
	return 1;
}

static int sop_size(const struct sop *o, size_t *siglen)
{
	int n = EVP_PKEY_get_size(o->key->pub);

	*siglen = n > 0 ? (size_t)n : 0;
	return n > 0;
}

static int sop_update(void *ctx, const unsigned char *data, size_t len)
{
	struct sop *o = ctx;

	return o->md && EVP_DigestUpdate(o->mdctx, data, len) == 1;
}

static int sop_final(void *ctx, unsigned char *sig, size_t *siglen, size_t sigsize)
{
	struct sop *o = ctx;
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	if (!o->key || !o->md)
		return 0;
	if (!sig)
		return sop_size(o, siglen);
	return EVP_DigestFinal_ex(o->mdctx, d, &dlen) == 1 &&
	       sop_sign(o, sig, siglen, sigsize, d, dlen);
}

static int sop_digest_sign(void *ctx, unsigned char *sig, size_t *siglen, size_t sigsize,
			   const unsigned char *tbs, size_t len)
{
	struct sop *o = ctx;
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	if (!o->key)
		return 0;
	if (!sig)
		return sop_size(o, siglen);
	if (!o->md)
		return sop_sign(o, sig, siglen, sigsize, tbs, len);
	return EVP_Digest(tbs, len, d, &dlen, o->md, NULL) == 1 &&
	       sop_sign(o, sig, siglen, sigsize, d, dlen);
}

static const OSSL_DISPATCH signature[] = {
	FN(OSSL_FUNC_SIGNATURE_NEWCTX, sop_new),
	FN(OSSL_FUNC_SIGNATURE_FREECTX, sop_free),
	FN(OSSL_FUNC_SIGNATURE_DUPCTX, sop_dup),
	FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, sop_init),
	FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, sop_update),
	FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, sop_final),
	FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN, sop_digest_sign),
	FN(OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, sop_set_params),
	FN(OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, sop_settable_params),
	{ 0, NULL }
};

/* The provider. */

static const OSSL_ALGORITHM keymgmts[] = {
	{ "EC:id-ecPublicKey:1.2.840.10045.2.1", SIGNER_PROPS, ec_keymgmt, NULL },
	{ "RSA:rsaEncryption:1.2.840.113549.1.1.1", SIGNER_PROPS, rsa_keymgmt, NULL },
	{ "ED25519:1.3.101.112", SIGNER_PROPS, ed_keymgmt, NULL },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM signatures[] = {
	{ "ECDSA", SIGNER_PROPS, signature, NULL },
	{ "RSA:rsaEncryption:1.2.840.113549.1.1.1", SIGNER_PROPS, signature, NULL },
	{ "ED25519:1.3.101.112", SIGNER_PROPS, signature, NULL },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM *query(void *provctx, int op, int *no_cache)
{
	(void)provctx;
	*no_cache = 0;
	return op == OSSL_OP_KEYMGMT ? keymgmts : op == OSSL_OP_SIGNATURE ? signatures : NULL;
}

static int provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
			 const OSSL_DISPATCH **out, void **provctx)
{
	static const OSSL_DISPATCH fns[] = {
		FN(OSSL_FUNC_PROVIDER_QUERY_OPERATION, query),
		{ 0, NULL }
	};

	(void)in;
	*out = fns;
	*provctx = (void *)handle;
	return 1;
}

static void start(void)
{
	OSSL_LIB_CTX *l = OSSL_LIB_CTX_new();

	if (l && OSSL_PROVIDER_add_builtin(l, SIGNER_PROVIDER, provider_init) == 1 &&
	    OSSL_PROVIDER_load(l, "default") && OSSL_PROVIDER_load(l, SIGNER_PROVIDER) &&
	    EVP_set_default_properties(l, "?provider=default") == 1) {
		libctx = l;
		return;
	}
	log_error("the OpenSSL provider for keys that sign in the key storage cannot be loaded");
	OSSL_LIB_CTX_free(l);	/* unloads what it loaded */
	ERR_clear_error();
}

OSSL_LIB_CTX *tls_signer_libctx(void)
{
	pthread_once(&once, start);
	return libctx;
}

static const char *alg_of(EVP_PKEY *pub)
{
	return EVP_PKEY_is_a(pub, "EC") ? "EC" : EVP_PKEY_is_a(pub, "RSA") ? "RSA" :
	       EVP_PKEY_is_a(pub, "ED25519") ? "ED25519" : NULL;
}

int tls_signer_key(const struct tls_signer *s, EVP_PKEY *pub, EVP_PKEY **out)
{
	OSSL_LIB_CTX *l = tls_signer_libctx();
	const char *alg = alg_of(pub);
	OSSL_PARAM mine[] = {
		OSSL_PARAM_construct_octet_string(SIGNER_PARAM, (void *)s, sizeof(*s)),
		OSSL_PARAM_construct_end(),
	};
	OSSL_PARAM *params = NULL, *all = NULL;
	EVP_PKEY_CTX *c = NULL;
	int r = -EIO;

	*out = NULL;
	if (!alg)
		return -EINVAL;
	if (!l)
		return -EIO;
	if (EVP_PKEY_todata(pub, EVP_PKEY_PUBLIC_KEY, &params) != 1 ||
	    !(all = OSSL_PARAM_merge(params, mine)))
		r = -ENOMEM;
	else if ((c = EVP_PKEY_CTX_new_from_name(l, alg, SIGNER_PROPS)) &&
		 EVP_PKEY_fromdata_init(c) == 1 &&
		 EVP_PKEY_fromdata(c, out, EVP_PKEY_PUBLIC_KEY, all) == 1)
		r = 0;
	EVP_PKEY_CTX_free(c);
	OSSL_PARAM_free(all);	/* the array only: its values are params' and mine's */
	OSSL_PARAM_free(params);
	ERR_clear_error();
	return r;
}

bool tls_signer_is(const EVP_PKEY *pkey)
{
	const OSSL_PROVIDER *p = EVP_PKEY_get0_provider(pkey);

	return p && !strcmp(OSSL_PROVIDER_get0_name(p), SIGNER_PROVIDER);
}
