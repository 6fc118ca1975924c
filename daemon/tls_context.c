// SPDX-License-Identifier: GPL-2.0
/*
 * The OpenSSL context of one handshake request (tls_context.h): the
 * identity key from the key store, the certificate chain and the CA the
 * client sent (public data, as PEM in the request: hsmkeyd opens no file
 * a client names), ALPN and SNI; restricted to what kTLS takes.
 */
#include <errno.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "ktls.h"
#include "tls_bio.h"
#include "tls_context.h"
#include "tls_signer.h"
#include "util.h"

/* ALPN's wire form: each protocol a length byte and its name. */
static int alpn_wire(struct json_object *list, uint8_t *out, size_t max, size_t *len)
{
	size_t n = 0, count = list ? json_object_array_length(list) : 0;

	for (size_t i = 0; i < count; i++) {
		const char *p = json_object_get_string(json_object_array_get_idx(list, i));
		size_t l = p ? strlen(p) : 0;

		if (!l || l > 255 || n + 1 + l > max)
			return -EINVAL;
		out[n++] = (uint8_t)l;
		memcpy(out + n, p, l);
		n += l;
	}
	*len = n;
	return 0;
}

/* Server: the first of ours the client offers; none in common: refused. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	struct tls_context *t = arg;
	unsigned char *sel;

	(void)ssl;
	if (SSL_select_next_proto(&sel, outlen, t->alpn, (unsigned int)t->alpn_len, in,
				  inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;	/* no_application_protocol */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/*
 * Each PEM certificate in @pem to @fn, in order, which takes it over (0)
 * or refuses it (-errno; it is freed): the count taken, or -errno.
 */
static int each_cert(const char *pem, int (*fn)(X509 *x, int n, void *arg), void *arg)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x;
	int n = 0, r = 0;

	if (!bio)
		return -ENOMEM;
	while (!r && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		r = fn(x, n, arg);
		if (r)
			X509_free(x);
		n += !r;
	}
	ERR_clear_error();
	BIO_free(bio);
	return r ?: n;
}

/* The leaf, then the rest of the chain. */
static int chain_cert(X509 *x, int n, void *arg)
{
	SSL_CTX *ctx = arg;

	if (n)
		return SSL_CTX_add0_chain_cert(ctx, x) == 1 ? 0 : -EINVAL;
	if (SSL_CTX_use_certificate(ctx, x) != 1)
		return -EINVAL;
	X509_free(x);	/* the context took its own reference */
	return 0;
}

static int use_chain(SSL_CTX *ctx, const char *pem, char *why, size_t whylen)
{
	int n = each_cert(pem, chain_cert, ctx);

	if (n < 0)
		snprintf(why, whylen, "a certificate of the chain is not usable");
	else if (!n)
		snprintf(why, whylen, "the certificate file holds no PEM certificate");
	return n > 0 ? 0 : -EINVAL;
}

/* A CA that the peer's certificate may chain to. */
static int ca_cert(X509 *x, int n, void *arg)
{
	(void)n;
	if (X509_STORE_add_cert(arg, x) != 1)
		return -EINVAL;
	X509_free(x);	/* the store took its own reference */
	return 0;
}

static int use_ca(SSL_CTX *ctx, const char *pem, char *why, size_t whylen)
{
	int n = each_cert(pem, ca_cert, SSL_CTX_get_cert_store(ctx));

	if (n <= 0)
		snprintf(why, whylen, "the CA file holds %s",
			 n ? "a certificate that is not usable" : "no PEM certificate");
	return n > 0 ? 0 : -EINVAL;
}

/*
 * The signature algorithms of a context whose RSA key signs inside the key
 * storage, which signs SHA-256 digests only (key_use_sign_in()): ECDSA,
 * EdDSA, and RSA with SHA-256.  A server signs with one of these and so
 * asks the client for one (its list is both); what it asks of a client
 * certificate is SIGALGS_PEER.  A client sets them for its own
 * certificate only, accepting what the server signs with as OpenSSL does.
 */
#define SIGALGS_RSA_SHA256 \
	"ecdsa_secp256r1_sha256:ecdsa_secp384r1_sha384:ecdsa_secp521r1_sha512:" \
	"ed25519:ed448:rsa_pss_rsae_sha256:rsa_pss_pss_sha256:rsa_pkcs1_sha256"
#define SIGALGS_PEER \
	"ecdsa_secp256r1_sha256:ecdsa_secp384r1_sha384:ecdsa_secp521r1_sha512:" \
	"ed25519:ed448:rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha512:" \
	"rsa_pss_pss_sha256:rsa_pss_pss_sha384:rsa_pss_pss_sha512:" \
	"rsa_pkcs1_sha256:rsa_pkcs1_sha384:rsa_pkcs1_sha512"

/* A context with an identity key that signs RSA with SHA-256 only. */
static int sha256_only(SSL_CTX *ctx, bool server)
{
	if (!server)
		return SSL_CTX_set1_client_sigalgs_list(ctx, SIGALGS_RSA_SHA256) == 1 ? 0 : -ENOMEM;
	return SSL_CTX_set1_sigalgs_list(ctx, SIGALGS_RSA_SHA256) == 1 &&
	       SSL_CTX_set1_client_sigalgs_list(ctx, SIGALGS_PEER) == 1 ? 0 : -ENOMEM;
}

/* The identity key and its certificate, which must name it. */
static int use_identity(SSL_CTX *ctx, bool server, const struct tls_identity *id,
			const char *cert, char *why, size_t whylen)
{
	int r = use_chain(ctx, cert, why, whylen);

	if (r)
		return r;
	if (SSL_CTX_use_PrivateKey(ctx, id->pkey) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(why, whylen, "the certificate is not for key '%s' (its public key differs)",
			 id->name);
		r = -EKEYREJECTED;
	} else if (tls_signer_is(id->pkey) && EVP_PKEY_is_a(id->pkey, "RSA")) {
		r = sha256_only(ctx, server);
	}
	ERR_clear_error();
	return r;
}

/*
 * A context in the library context of its identity key: a key that signs
 * in the key storage is known there only (tls_signer.h).
 */
static SSL_CTX *ssl_ctx_for(const struct tls_request *q, const struct tls_identity *id)
{
	const SSL_METHOD *m = q->server ? TLS_server_method() : TLS_client_method();

	if (id && tls_signer_is(id->pkey))
		return SSL_CTX_new_ex(tls_signer_libctx(), NULL, m);
	return SSL_CTX_new(m);
}

int tls_context_new(struct tls_context **out, const struct tls_request *q,
		    const struct tls_identity *id, char *why, size_t whylen)
{
	struct tls_context *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	t->server = q->server;
	t->ctx = ssl_ctx_for(q, id);
	r = t->ctx ? ktls_prepare_ctx(t->ctx) : -ENOMEM;
	if (!r && alpn_wire(q->alpn, t->alpn, sizeof(t->alpn), &t->alpn_len)) {
		snprintf(why, whylen, "ALPN takes 1 to 255 characters a protocol, %zu in all",
			 sizeof(t->alpn));
		r = -EINVAL;
	}
	if (!r && id)
		r = use_identity(t->ctx, q->server, id, q->cert, why, whylen);
	if (!r && q->ca)
		r = use_ca(t->ctx, q->ca, why, whylen);
	else if (!r && !q->server && SSL_CTX_set_default_verify_paths(t->ctx) != 1)
		r = -EIO;
	if (!r && (q->ca || !q->server))
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	if (!r && q->server && t->alpn_len)
		SSL_CTX_set_alpn_select_cb(t->ctx, alpn_select, t);	/* t stays where it is */
	if (!r) {
		*out = t;
		return 0;
	}
	tls_context_free(t);
	return r;
}

int tls_context_ssl(struct tls_context *t, const struct tls_request *q, int fd, SSL **out)
{
	SSL *ssl = SSL_new(t->ctx);
	BIO *bio = ssl ? tls_bio_new(fd) : NULL;
	bool ok = bio;

	if (bio)
		SSL_set_bio(ssl, bio, bio);	/* the SSL takes it over */
	if (ok && !q->server && q->server_name)
		ok = SSL_set_tlsext_host_name(ssl, q->server_name) == 1 &&
		     SSL_set1_host(ssl, q->server_name) == 1;
	if (ok && !q->server && t->alpn_len)
		ok = SSL_set_alpn_protos(ssl, t->alpn, (unsigned int)t->alpn_len) == 0;
	if (!ok) {
		SSL_free(ssl);
		return -ENOMEM;
	}
	*out = ssl;
	return 0;
}

void tls_context_free(struct tls_context *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);	/* the private key's copy freed (and wiped) with it */
	free(t);
}
