/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kTLS keyed by session tokens: after OpenSSL's handshake on a TCP socket,
 * the traffic keys go to hsmkey.ko and the socket gets kTLS with tokens.
 */
#ifndef HSMKEY_KTLS_H
#define HSMKEY_KTLS_H

#include <stdbool.h>
#include <stdint.h>
#include <openssl/ssl.h>
#include "kernel.h"

/* What the handshake's key log gives (TLS 1.3's traffic secrets). */
struct ktls_secrets {
	uint8_t client[64], server[64];
	unsigned int client_len, server_len;
};

/* One direction's keys, as kTLS takes them. */
struct ktls_dir {
	uint8_t key[32];
	uint8_t salt[4];
	uint8_t iv[8];
	uint64_t seq;		/* the next record's sequence number */
};

struct ktls_keys {
	uint16_t version;	/* TLS_1_2_VERSION or TLS_1_3_VERSION */
	unsigned int keylen;	/* 16 or 32 */
	struct ktls_dir tx, rx;
};

/* What ktls_install() left on the socket: the session keys' handles. */
struct ktls_installed {
	uint32_t tx_handle, rx_handle;
};

/*
 * Restrict @ctx to what kTLS takes (TLS 1.2 and 1.3, AES-GCM), with no
 * session tickets and no renegotiation, and hook its key log.  Then, per
 * connection, ktls_watch() before the handshake: @sec collects what the
 * key log gives (wipe it after ktls_keys()).
 */
int ktls_prepare_ctx(SSL_CTX *ctx);
int ktls_watch(SSL *ssl, struct ktls_secrets *sec);
/*
 * The traffic keys of @ssl's finished handshake, for this side (@server or
 * client): -EPROTONOSUPPORT for what kTLS does not take, -EPROTO when a
 * secret is missing.  Wipe @out after use.
 */
int ktls_keys(SSL *ssl, const struct ktls_secrets *sec, bool server, struct ktls_keys *out);
/*
 * Set kTLS TX and RX up on @fd with session tokens for @keys' keys, which
 * hsmkey.ko gets (SESSION_ADD, through @k) and binds to the socket; then
 * make sure it took both tokens (SESSION_GET: SPENT) and that both
 * directions run in software (sock_diag: TLS_CONF_SW), so that no other
 * gcm(aes) and no NIC holds a token as a key.  On any failure the socket
 * is shut down (close it) and the session keys given to the module are
 * revoked (@why says if the module refused).  @why gets a message for the
 * log.  Needs CAP_SYS_ADMIN (the module) and CAP_NET_ADMIN (sock_diag
 * gives a socket's kTLS configuration only to it).
 */
int ktls_install(struct kernel *k, int fd, const struct ktls_keys *keys,
		 struct ktls_installed *out, char *why, size_t whylen);

#endif
