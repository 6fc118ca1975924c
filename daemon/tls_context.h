/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One TLS handshake's OpenSSL context (tls_context.c), as the handshake
 * request (handshake.c) asks for it.
 */
#ifndef HSMKEY_TLS_CONTEXT_H
#define HSMKEY_TLS_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include <openssl/ssl.h>

/* What the client asked for; the strings are the request's. */
struct tls_request {
	bool server;			/* accept (else connect) */
	const char *key;		/* identity key name; NULL: none (a client without one) */
	const char *cert;		/* its certificate chain, PEM, leaf first */
	const char *ca;			/* PEM: the CAs the peer must chain to; NULL: */
					/* server none asked, client the system's */
	const char *server_name;	/* client: SNI, and the name the server's */
					/* certificate must carry */
	struct json_object *alpn;	/* protocols in preference order, or NULL */
	int timeout_ms;
};

struct tls_context {
	SSL_CTX *ctx;
	bool server;
	uint8_t alpn[256];
	size_t alpn_len;
};

/*
 * The identity key a context serves with: its private key, or one that
 * signs inside the key storage (tls_signer.h).
 */
struct tls_identity {
	const char *name;		/* the key's, for messages */
	EVP_PKEY *pkey;			/* the context takes its own reference */
};

/*
 * A new context for @q with @id (NULL: no identity) into *@out, or -errno
 * with @why worded for the client.  It stays at its address (its ALPN
 * callback's argument) until tls_context_free().
 */
int tls_context_new(struct tls_context **out, const struct tls_request *q,
		    const struct tls_identity *id, char *why, size_t whylen);
/* A connection of @t on @fd. */
int tls_context_ssl(struct tls_context *t, const struct tls_request *q, int fd, SSL **out);
/* @t's context and @t itself (NULL: nothing). */
void tls_context_free(struct tls_context *t);

#endif
