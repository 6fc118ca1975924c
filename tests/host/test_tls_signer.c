// SPDX-License-Identifier: GPL-2.0
/*
 * Identity keys that sign in the key storage, in TLS handshakes
 * (daemon/tls_signer.c, through daemon/tls_context.c as handshake.c makes
 * the context), with OpenSSL as the client.  For each identity key type
 * and for TLS 1.3 and 1.2, hsmkeyd's side holds a key whose private half
 * it never has: the one signature of the handshake is asked of "the
 * storage", here the test's own OpenSSL key, which only it holds; the
 * client checks that signature against the certificate.  Then:
 *  - no private key leaves a signer key or enters one;
 *  - a storage that fails fails the handshake, with nothing else signing;
 *  - a certificate of another key is refused;
 *  - an RSA key is asked for SHA-256 digests only (what a PKCS#11 token
 *    signs here), even when the client prefers another;
 *  - keys of the default provider in the signer's library context still
 *    sign, and are never taken for the provider's.
 * The real token (SoftHSM) behind the signer: tests/guest/t_tls.sh.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include "tls_context.h"
#include "tls_signer.h"
#include "../lib/tls_pair.h"
#include "kselftest_harness.h"

/* The storage: the private key, and what it was asked. */
static struct {
	EVP_PKEY *key;
	int signs, fail;
	bool pss;
	char md[32];
} store;

static int rsa_pad(EVP_PKEY_CTX *c, bool pss)
{
	return EVP_PKEY_CTX_set_rsa_padding(c, pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) == 1 &&
	       (!pss || EVP_PKEY_CTX_set_rsa_pss_saltlen(c, RSA_PSS_SALTLEN_DIGEST) == 1);
}

static int store_sign(const struct tls_signer *s, const EVP_MD *md, bool pss, const uint8_t *in,
		      size_t len, uint8_t *sig, size_t *siglen)
{
	EVP_MD_CTX *m = NULL;
	EVP_PKEY_CTX *c = NULL;
	int ok;

	(void)s;
	store.signs++;
	store.pss = pss;
	snprintf(store.md, sizeof(store.md), "%s", md ? EVP_MD_get0_name(md) : "");
	if (store.fail)
		return -EIO;
	if (!md) {	/* Ed25519, on the message */
		m = EVP_MD_CTX_new();
		ok = m && EVP_DigestSignInit(m, NULL, NULL, NULL, store.key) == 1 &&
		     EVP_DigestSign(m, sig, siglen, in, len) == 1;
	} else {
		c = EVP_PKEY_CTX_new(store.key, NULL);
		ok = c && EVP_PKEY_sign_init(c) == 1 && EVP_PKEY_CTX_set_signature_md(c, md) == 1 &&
		     (!EVP_PKEY_is_a(store.key, "RSA") || rsa_pad(c, pss)) &&
		     EVP_PKEY_sign(c, sig, siglen, in, len) == 1;
	}
	EVP_MD_CTX_free(m);
	EVP_PKEY_CTX_free(c);
	return ok ? 0 : -EIO;
}

static EVP_PKEY *keygen(const char *alg)
{
	if (!strcmp(alg, "P-256") || !strcmp(alg, "P-384"))
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", alg);
	if (!strcmp(alg, "RSA"))
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	return EVP_PKEY_Q_keygen(NULL, NULL, alg);
}

/* A self-signed certificate for CN=www.test on @key. */
static X509 *self_signed(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_get_subject_name(x);
	bool ed = EVP_PKEY_is_a(key, "ED25519");

	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"www.test", -1,
				   -1, 0);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, key);
	if (!X509_sign(x, key, ed ? NULL : EVP_sha256())) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static char *pem_of(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	PEM_write_bio_X509(b, x);
	n = BIO_get_mem_data(b, &p);
	out = strndup(p, (size_t)n);
	BIO_free(b);
	return out;
}

/* A key of the provider whose private half is store.key. */
static EVP_PKEY *signer_for(X509 *cert)
{
	struct tls_signer s = { .sign = store_sign };
	EVP_PKEY *out = NULL;

	s.key.type = 1;
	snprintf(s.key.name, sizeof(s.key.name), "id");
	return tls_signer_key(&s, X509_get0_pubkey(cert), &out) ? NULL : out;
}

/* hsmkeyd's side (a context as handshake.c makes it) and a client, connected. */
struct pair {
	X509 *cert;
	char *pem;
	EVP_PKEY *signer;
	struct tls_context *t;
	SSL_CTX *client;
	int a, b;
};

/* @p for a new key of @alg, the client speaking TLS @version only: 0, or -1. */
static int pair_setup(struct pair *p, const char *alg, int version)
{
	struct tls_request q = { .server = true, .key = "id", .timeout_ms = 5000 };
	struct tls_identity id = { .name = "id" };
	char why[200] = "";

	memset(&store, 0, sizeof(store));
	store.key = keygen(alg);
	p->cert = store.key ? self_signed(store.key) : NULL;
	p->pem = p->cert ? pem_of(p->cert) : NULL;
	p->signer = p->cert ? signer_for(p->cert) : NULL;
	if (!p->pem || !p->signer)
		return -1;
	q.cert = p->pem;
	id.pkey = p->signer;
	if (tls_context_new(&p->t, &q, &id, why, sizeof(why))) {
		fprintf(stderr, "# %s\n", why);
		return -1;
	}
	p->client = SSL_CTX_new(TLS_client_method());
	if (!p->client)
		return -1;
	X509_STORE_add_cert(SSL_CTX_get_cert_store(p->client), p->cert);
	SSL_CTX_set_verify(p->client, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_min_proto_version(p->client, version);
	SSL_CTX_set_max_proto_version(p->client, version);
	return tls_pair_tcp(&p->a, &p->b);
}

static void pair_teardown(struct pair *p)
{
	close(p->a);
	close(p->b);
	SSL_CTX_free(p->client);
	tls_context_free(p->t);
	EVP_PKEY_free(p->signer);
	free(p->pem);
	X509_free(p->cert);
	EVP_PKEY_free(store.key);
}

/* A handshake of the context's server and the client: 0 done, -1 failed. */
static int handshake(struct pair *p, SSL **client)
{
	SSL *s = SSL_new(p->t->ctx), *c = SSL_new(p->client);
	int r = -1;

	if (s && c && SSL_set_fd(s, p->a) == 1 && SSL_set_fd(c, p->b) == 1)
		r = tls_pair_handshake(s, c, p->a, p->b);
	SSL_free(s);
	if (client)
		*client = c;
	else
		SSL_free(c);
	return r;
}

/* A new connection for the pair's next handshake. */
static int reconnect(struct pair *p)
{
	close(p->a);
	close(p->b);
	return tls_pair_tcp(&p->a, &p->b);
}

FIXTURE(tls) {
	struct pair p;
};

FIXTURE_VARIANT(tls) {
	const char *alg;
	int version;
	const char *md;		/* the digest signed ("": Ed25519's message); NULL: any */
};

FIXTURE_VARIANT_ADD(tls, ecdsa_p256_tls13) {
	.alg = "P-256", .version = TLS1_3_VERSION, .md = "SHA2-256"
};
FIXTURE_VARIANT_ADD(tls, ecdsa_p256_tls12) {
	.alg = "P-256", .version = TLS1_2_VERSION, .md = "SHA2-256"
};
FIXTURE_VARIANT_ADD(tls, ecdsa_p384_tls13) {
	.alg = "P-384", .version = TLS1_3_VERSION, .md = "SHA2-384"
};
FIXTURE_VARIANT_ADD(tls, ecdsa_p384_tls12) {
	.alg = "P-384", .version = TLS1_2_VERSION, .md = NULL
};
FIXTURE_VARIANT_ADD(tls, rsa_2048_tls13) {
	.alg = "RSA", .version = TLS1_3_VERSION, .md = "SHA2-256"
};
FIXTURE_VARIANT_ADD(tls, rsa_2048_tls12) {
	.alg = "RSA", .version = TLS1_2_VERSION, .md = "SHA2-256"
};
FIXTURE_VARIANT_ADD(tls, ed25519_tls13) {
	.alg = "ED25519", .version = TLS1_3_VERSION, .md = ""
};
FIXTURE_VARIANT_ADD(tls, ed25519_tls12) {
	.alg = "ED25519", .version = TLS1_2_VERSION, .md = ""
};

FIXTURE_SETUP(tls)
{
	ASSERT_EQ(0, pair_setup(&self->p, variant->alg, variant->version));
}

FIXTURE_TEARDOWN(tls)
{
	pair_teardown(&self->p);
}

TEST_F(tls, handshake_signed_by_the_storage_and_checked_by_the_client)
{
	SSL *c = NULL;

	ASSERT_EQ(0, handshake(&self->p, &c));
	EXPECT_EQ(X509_V_OK, SSL_get_verify_result(c));
	EXPECT_EQ(variant->version, SSL_version(c));
	EXPECT_EQ(1, store.signs);
	if (variant->md) {
		EXPECT_STREQ(variant->md, store.md);
	} else {
		EXPECT_NE(0, strlen(store.md));
	}
	SSL_free(c);
}

TEST_F(tls, the_key_has_no_private_half)
{
	OSSL_PARAM *params = NULL;
	BIGNUM *bn = NULL;
	unsigned char *der = NULL;

	EXPECT_TRUE(tls_signer_is(self->p.signer));
	EXPECT_FALSE(tls_signer_is(store.key));
	EXPECT_NE(1, EVP_PKEY_todata(self->p.signer, EVP_PKEY_KEYPAIR, &params));
	EXPECT_NE(1, EVP_PKEY_get_bn_param(self->p.signer, OSSL_PKEY_PARAM_PRIV_KEY, &bn));
	EXPECT_NE(1, EVP_PKEY_get_bn_param(self->p.signer, OSSL_PKEY_PARAM_RSA_D, &bn));
	EXPECT_GE(0, i2d_PrivateKey(self->p.signer, &der));
	/* Its public key is the certificate's. */
	EXPECT_EQ(1, EVP_PKEY_eq(self->p.signer, X509_get0_pubkey(self->p.cert)));
	OSSL_PARAM_free(params);
	BN_free(bn);
	OPENSSL_free(der);
	ERR_clear_error();
}

TEST_F(tls, a_private_key_is_never_taken_in)
{
	OSSL_LIB_CTX *l = tls_signer_libctx();
	const char *alg = EVP_PKEY_is_a(store.key, "EC") ? "EC" :
			  EVP_PKEY_is_a(store.key, "RSA") ? "RSA" : "ED25519";
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(l, alg, "provider=hsmkey-signer");
	OSSL_PARAM *params = NULL;
	EVP_PKEY *got = NULL;

	ASSERT_NE(NULL, c);
	ASSERT_EQ(1, EVP_PKEY_todata(store.key, EVP_PKEY_KEYPAIR, &params));
	ASSERT_EQ(1, EVP_PKEY_fromdata_init(c));
	EXPECT_NE(1, EVP_PKEY_fromdata(c, &got, EVP_PKEY_KEYPAIR, params));
	EXPECT_EQ(NULL, got);
	EVP_PKEY_free(got);
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(c);
	ERR_clear_error();
}

TEST_F(tls, a_storage_that_fails_fails_the_handshake)
{
	store.fail = 1;
	EXPECT_NE(0, handshake(&self->p, NULL));
	EXPECT_EQ(1, store.signs);
	ERR_clear_error();
}

TEST_F(tls, a_certificate_of_another_key_is_refused)
{
	struct tls_request q = { .server = true, .key = "id", .timeout_ms = 5000 };
	EVP_PKEY *other = keygen(variant->alg);
	X509 *x = other ? self_signed(other) : NULL;
	char *pem = x ? pem_of(x) : NULL;
	struct tls_identity id = { .name = "id", .pkey = self->p.signer };
	struct tls_context *t = NULL;
	char why[200] = "";

	ASSERT_NE(NULL, pem);
	q.cert = pem;
	EXPECT_EQ(-EKEYREJECTED, tls_context_new(&t, &q, &id, why, sizeof(why)));
	EXPECT_NE(NULL, strstr(why, "public key differs"));
	free(pem);
	X509_free(x);
	EVP_PKEY_free(other);
}

TEST_F(tls, default_keys_in_the_same_library_context_still_sign)
{
	OSSL_LIB_CTX *l = tls_signer_libctx();
	EVP_PKEY *k = EVP_PKEY_Q_keygen(l, NULL, "EC", "P-256");
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	const OSSL_PROVIDER *p = k ? EVP_PKEY_get0_provider(k) : NULL;
	unsigned char sig[128], msg[] = "message";
	size_t n = sizeof(sig);

	ASSERT_NE(NULL, p);
	EXPECT_STREQ("default", OSSL_PROVIDER_get0_name(p));
	EXPECT_EQ(1, EVP_DigestSignInit_ex(m, NULL, "SHA256", l, NULL, k, NULL));
	EXPECT_EQ(1, EVP_DigestSign(m, sig, &n, msg, sizeof(msg)));
	EXPECT_EQ(1, EVP_DigestVerifyInit_ex(m, NULL, "SHA256", l, NULL, k, NULL));
	EXPECT_EQ(1, EVP_DigestVerify(m, sig, n, msg, sizeof(msg)));
	EXPECT_EQ(0, store.signs);
	EVP_MD_CTX_free(m);
	EVP_PKEY_free(k);
}

/* RSA: what the storage is asked, against what the client offers. */
FIXTURE(rsa) {
	struct pair p;
};

FIXTURE_VARIANT(rsa) {
	int version;
};

FIXTURE_VARIANT_ADD(rsa, tls13) { .version = TLS1_3_VERSION };
FIXTURE_VARIANT_ADD(rsa, tls12) { .version = TLS1_2_VERSION };

FIXTURE_SETUP(rsa)
{
	ASSERT_EQ(0, pair_setup(&self->p, "RSA", variant->version));
}

FIXTURE_TEARDOWN(rsa)
{
	pair_teardown(&self->p);
}

TEST_F(rsa, sha256_whatever_the_client_prefers)
{
	ASSERT_EQ(1, SSL_CTX_set1_sigalgs_list(self->p.client,
					       "rsa_pss_rsae_sha512:rsa_pss_rsae_sha384:"
					       "rsa_pkcs1_sha512:rsa_pkcs1_sha384:"
					       "rsa_pss_rsae_sha256:rsa_pkcs1_sha256"));
	ASSERT_EQ(0, handshake(&self->p, NULL));
	EXPECT_STREQ("SHA2-256", store.md);
	EXPECT_TRUE(store.pss);
}

TEST_F(rsa, a_client_without_sha256_gets_no_signature)
{
	ASSERT_EQ(1, SSL_CTX_set1_sigalgs_list(self->p.client,
					       "rsa_pss_rsae_sha384:rsa_pkcs1_sha384"));
	EXPECT_NE(0, handshake(&self->p, NULL));
	EXPECT_EQ(0, store.signs);
	ERR_clear_error();
}

/* TLS 1.3 signs with PSS only; TLS 1.2 takes PKCS #1 v1.5 too. */
TEST_F(rsa, pkcs1_v15_when_the_client_asks_for_it)
{
	int r;

	ASSERT_EQ(1, SSL_CTX_set1_sigalgs_list(self->p.client, "rsa_pkcs1_sha256"));
	r = handshake(&self->p, NULL);
	if (variant->version == TLS1_3_VERSION) {
		EXPECT_NE(0, r);
		EXPECT_EQ(0, store.signs);
	} else {
		EXPECT_EQ(0, r);
		EXPECT_EQ(1, store.signs);
		EXPECT_FALSE(store.pss);
		EXPECT_STREQ("SHA2-256", store.md);
	}
	ASSERT_EQ(0, reconnect(&self->p));
	ERR_clear_error();
}

/* A client certificate signed with SHA-384: the server's own limit is not the peer's. */
TEST_F(rsa, a_client_certificate_may_sign_with_sha384)
{
	struct tls_request q = { .server = true, .key = "id", .timeout_ms = 5000 };
	struct tls_identity id = { .name = "id", .pkey = self->p.signer };
	EVP_PKEY *ck = keygen("RSA");
	X509 *cc = ck ? self_signed(ck) : NULL;
	char *ca = cc ? pem_of(cc) : NULL, why[200] = "";
	struct tls_context *t = NULL;
	SSL *s = NULL, *c = NULL;
	int nid = 0;

	ASSERT_NE(NULL, ca);
	q.cert = self->p.pem;
	q.ca = ca;
	ASSERT_EQ(0, tls_context_new(&t, &q, &id, why, sizeof(why))) TH_LOG("%s", why);
	ASSERT_EQ(1, SSL_CTX_use_certificate(self->p.client, cc));
	ASSERT_EQ(1, SSL_CTX_use_PrivateKey(self->p.client, ck));
	ASSERT_EQ(1, SSL_CTX_set1_client_sigalgs_list(self->p.client, "rsa_pss_rsae_sha384"));
	s = SSL_new(t->ctx);
	c = SSL_new(self->p.client);
	ASSERT_EQ(1, SSL_set_fd(s, self->p.a));
	ASSERT_EQ(1, SSL_set_fd(c, self->p.b));
	EXPECT_EQ(0, tls_pair_handshake(s, c, self->p.a, self->p.b));
	EXPECT_EQ(X509_V_OK, SSL_get_verify_result(s));
	EXPECT_EQ(1, SSL_get_peer_signature_nid(s, &nid));
	EXPECT_EQ(NID_sha384, nid);
	EXPECT_STREQ("SHA2-256", store.md);	/* and the server's own, SHA-256 */
	SSL_free(s);
	SSL_free(c);
	tls_context_free(t);
	free(ca);
	X509_free(cc);
	EVP_PKEY_free(ck);
}

/* What the provider refuses, whatever OpenSSL is asked. */
TEST(a_public_key_alone_never_signs)
{
	EVP_PKEY *k = keygen("P-256"), *got = NULL;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(tls_signer_libctx(), "EC",
						     "provider=hsmkey-signer");
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	OSSL_PARAM *params = NULL;

	ASSERT_NE(NULL, c);
	ASSERT_EQ(1, EVP_PKEY_todata(k, EVP_PKEY_PUBLIC_KEY, &params));
	ASSERT_EQ(1, EVP_PKEY_fromdata_init(c));
	ASSERT_EQ(1, EVP_PKEY_fromdata(c, &got, EVP_PKEY_PUBLIC_KEY, params));
	EXPECT_TRUE(tls_signer_is(got));
	EXPECT_NE(1, EVP_DigestSignInit_ex(m, NULL, "SHA256", tls_signer_libctx(), NULL, got,
					   NULL));
	EVP_MD_CTX_free(m);
	EVP_PKEY_free(got);
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(k);
	ERR_clear_error();
}

TEST(a_signer_of_another_size_is_refused)
{
	EVP_PKEY *k = keygen("P-256"), *got = NULL;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(tls_signer_libctx(), "EC",
						     "provider=hsmkey-signer");
	uint8_t junk[16] = { 0 };
	OSSL_PARAM mine[] = {
		OSSL_PARAM_construct_octet_string("hsmkey-signer", junk, sizeof(junk)),
		OSSL_PARAM_construct_end(),
	};
	OSSL_PARAM *params = NULL, *all;

	ASSERT_EQ(1, EVP_PKEY_todata(k, EVP_PKEY_PUBLIC_KEY, &params));
	all = OSSL_PARAM_merge(params, mine);
	ASSERT_EQ(1, EVP_PKEY_fromdata_init(c));
	EXPECT_NE(1, EVP_PKEY_fromdata(c, &got, EVP_PKEY_KEYPAIR, all));
	EVP_PKEY_free(got);
	OSSL_PARAM_free(all);
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(k);
	ERR_clear_error();
}

/* PSS as the storage signs it (a salt as long as the digest, MGF1 with it), no other. */
TEST_F(rsa, pss_other_than_the_storage_signs_is_refused)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	unsigned char sig[512], msg[] = "message";
	size_t n = sizeof(sig);

	ASSERT_EQ(1, EVP_DigestSignInit_ex(m, &pc, "SHA256", tls_signer_libctx(), NULL,
					   self->p.signer, NULL));
	ASSERT_EQ(1, EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING));
	EXPECT_GE(0, EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_MAX));
	EXPECT_GE(0, EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, 20));
	EXPECT_GE(0, EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha384()));
	ASSERT_EQ(1, EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST));
	ASSERT_EQ(1, EVP_DigestSign(m, sig, &n, msg, sizeof(msg)));
	EXPECT_TRUE(store.pss);
	EXPECT_STREQ("SHA2-256", store.md);
	/* ...and that signature is PSS with SHA-256 under the certificate's key. */
	EVP_MD_CTX_free(m);
	m = EVP_MD_CTX_new();
	ASSERT_EQ(1, EVP_DigestVerifyInit_ex(m, &pc, "SHA256", NULL, NULL,
					     X509_get0_pubkey(self->p.cert), NULL));
	ASSERT_EQ(1, EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING));
	ASSERT_EQ(1, EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST));
	EXPECT_EQ(1, EVP_DigestVerify(m, sig, n, msg, sizeof(msg)));
	EVP_MD_CTX_free(m);
	ERR_clear_error();
}

/*
 * The client's side: hsmkeyd's context as a client whose certificate's
 * RSA key signs in the storage, against an OpenSSL server that requires a
 * client certificate and prefers SHA-384, and signs with it itself.
 */
FIXTURE(client) {
	X509 *cert, *server_cert;
	char *pem, *ca;
	EVP_PKEY *signer, *server_key;
	struct tls_context *t;
	SSL_CTX *server;
	int a, b;
};

FIXTURE_VARIANT(client) {
	int version;
};

FIXTURE_VARIANT_ADD(client, tls13) { .version = TLS1_3_VERSION };
FIXTURE_VARIANT_ADD(client, tls12) { .version = TLS1_2_VERSION };

FIXTURE_SETUP(client)
{
	struct tls_request q = { .server = false, .key = "id", .timeout_ms = 5000 };
	struct tls_identity id = { .name = "id" };
	char why[200] = "";

	memset(&store, 0, sizeof(store));
	store.key = keygen("RSA");
	self->server_key = keygen("RSA");
	ASSERT_NE(NULL, store.key);
	ASSERT_NE(NULL, self->server_key);
	self->cert = self_signed(store.key);
	self->server_cert = self_signed(self->server_key);
	self->pem = pem_of(self->cert);
	self->ca = pem_of(self->server_cert);
	self->signer = signer_for(self->cert);
	ASSERT_NE(NULL, self->signer);
	q.cert = self->pem;
	q.ca = self->ca;
	id.pkey = self->signer;
	ASSERT_EQ(0, tls_context_new(&self->t, &q, &id, why, sizeof(why))) TH_LOG("%s", why);
	self->server = SSL_CTX_new(TLS_server_method());
	ASSERT_EQ(1, SSL_CTX_use_certificate(self->server, self->server_cert));
	ASSERT_EQ(1, SSL_CTX_use_PrivateKey(self->server, self->server_key));
	X509_STORE_add_cert(SSL_CTX_get_cert_store(self->server), self->cert);
	SSL_CTX_set_verify(self->server, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_min_proto_version(self->server, variant->version);
	SSL_CTX_set_max_proto_version(self->server, variant->version);
	/* The server signs with SHA-384 (its preference first), and asks for it first. */
	SSL_CTX_set_options(self->server, SSL_OP_CIPHER_SERVER_PREFERENCE);
	ASSERT_EQ(1, SSL_CTX_set1_sigalgs_list(self->server,
					       "rsa_pss_rsae_sha384:rsa_pss_rsae_sha256:"
					       "rsa_pkcs1_sha384:rsa_pkcs1_sha256"));
	ASSERT_EQ(0, tls_pair_tcp(&self->a, &self->b));
}

FIXTURE_TEARDOWN(client)
{
	close(self->a);
	close(self->b);
	SSL_CTX_free(self->server);
	tls_context_free(self->t);
	EVP_PKEY_free(self->signer);
	EVP_PKEY_free(self->server_key);
	free(self->pem);
	free(self->ca);
	X509_free(self->cert);
	X509_free(self->server_cert);
	EVP_PKEY_free(store.key);
}

static int client_handshake(struct _test_data_client *self, SSL **server)
{
	SSL *s = SSL_new(self->server), *c = SSL_new(self->t->ctx);
	int r = -1;

	if (s && c && SSL_set_fd(s, self->a) == 1 && SSL_set_fd(c, self->b) == 1)
		r = tls_pair_handshake(s, c, self->a, self->b);
	SSL_free(c);
	if (server)
		*server = s;
	else
		SSL_free(s);
	return r;
}

TEST_F(client, its_certificate_signs_sha256_and_the_server_signs_as_it_prefers)
{
	SSL *s = NULL;
	int nid = 0;

	ASSERT_EQ(0, client_handshake(self, &s));
	EXPECT_EQ(X509_V_OK, SSL_get_verify_result(s));
	EXPECT_EQ(1, store.signs);
	EXPECT_STREQ("SHA2-256", store.md);
	/* What the server signed with: not held to SHA-256 on this side. */
	EXPECT_EQ(1, SSL_get_signature_nid(s, &nid));
	EXPECT_EQ(NID_sha384, nid);
	SSL_free(s);
}

TEST_F(client, a_server_that_takes_no_sha256_gets_no_signature)
{
	ASSERT_EQ(1, SSL_CTX_set1_client_sigalgs_list(self->server,
						      "rsa_pss_rsae_sha384:rsa_pkcs1_sha384"));
	EXPECT_NE(0, client_handshake(self, NULL));
	EXPECT_EQ(0, store.signs);
	ERR_clear_error();
}

TEST_HARNESS_MAIN
