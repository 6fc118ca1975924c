/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One mutual-TLS connection to a KMIP server (conn.c): TLS 1.2 or newer
 * (OpenSSL 3), the server's certificate checked against the configured CA
 * and against the host name or address it was reached by, this host's
 * certificate and key presented.  TLS 1.2 only with ECDHE and an AEAD.
 *
 * Every step has a deadline: connecting (each address the name has, with
 * its share of the time left), the handshake, and each call (the request written and the whole
 * response read).  A connection that failed in any way is closed by its
 * caller and never used again.  Decrypted records are cleansed by OpenSSL
 * once read (SSL_OP_CLEANSE_PLAINTEXT), and a response, which may hold
 * key material, is read into locked pages left out of core dumps and
 * wiped when freed.
 *
 * Errors are -errno with the reason in @why for the operator: -ETIMEDOUT,
 * -ECONNREFUSED and the like from the network, -EPROTO for a TLS failure
 * (an untrusted server, a refused client certificate), -EBADMSG for a
 * response that is not one KMIP message, -EMSGSIZE for one over
 * KMIP_MSG_MAX.
 */
#ifndef HSMKEY_KMIP_CONN_H
#define HSMKEY_KMIP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kmip_tls;	/* the CA, certificate and key: one per configuration */
struct kmip_conn;

int kmip_tls_new(const char *ca, const char *cert, const char *key, struct kmip_tls **out,
		 char *why, size_t whylen);
void kmip_tls_free(struct kmip_tls *t);

/* @server: "HOST:PORT" or "[V6ADDR]:PORT". */
int kmip_conn_open(struct kmip_tls *t, const char *server, int timeout_ms,
		   struct kmip_conn **out, char *why, size_t whylen);
/*
 * One request out, one response in (kmip_response_free() it).  @sent:
 * whether the request went out whole, so the server may have acted on it.
 */
int kmip_conn_call(struct kmip_conn *c, const uint8_t *req, size_t len, uint8_t **resp,
		   size_t *resp_len, bool *sent, char *why, size_t whylen);
/* An idle connection still usable: nothing to read, not closed by the server. */
bool kmip_conn_idle_ok(struct kmip_conn *c);
void kmip_response_free(uint8_t *resp, size_t len);
void kmip_conn_close(struct kmip_conn *c);

/* HOST and PORT of "HOST:PORT" / "[V6]:PORT": -EINVAL if malformed. */
int kmip_split_server(const char *server, char *host, size_t hostlen, char *port,
		      size_t portlen);

#endif
