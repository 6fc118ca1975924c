/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libhsmkey: TLS on a socket with keys the application never holds.
 *
 * hsmkey_tls_handshake() passes a connected TCP socket to hsmkeyd, which
 * runs the TLS handshake on it with an identity key it keeps, gives the
 * session's traffic keys to the kernel (hsmkey.ko) and sets kernel TLS up
 * with single-use tokens in their place.  The application then reads and
 * writes plain data on the same descriptor (read, write, sendfile,
 * splice); the kernel encrypts and decrypts.  See hsmkey_tls_handshake(3).
 */
#ifndef HSMKEY_TLS_H
#define HSMKEY_TLS_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

enum hsmkey_tls_role {
	HSMKEY_TLS_SERVER = 0,
	HSMKEY_TLS_CLIENT = 1,
};

struct hsmkey_tls_config {
	enum hsmkey_tls_role role;
	const char *key;		/* identity key name (server: needed) */
	const char *cert_file;		/* its certificate chain, PEM, leaf first */
	const char *ca_file;		/* PEM CAs the peer's certificate must chain
					 * to: a server then asks for client
					 * certificates; a client without it uses
					 * the system's */
	const char *server_name;	/* client: SNI and the name checked */
	const char *alpn;		/* "h2,http/1.1": in preference order */
	int timeout_ms;			/* the handshake's deadline; 0: 10 s */
	const char *socket_path;	/* NULL: $HSMKEYD_SOCKET or the default */
};

struct hsmkey_tls_result {
	char version[16];		/* "TLSv1.3" */
	char cipher[64];		/* "TLS_AES_256_GCM_SHA384" */
	char alpn[256];			/* agreed, or "" */
	char server_name[256];		/* server: the SNI the client sent, or "" */
	char peer_subject[256];		/* the peer certificate's subject, or "" */
	char error[400];		/* on failure: what failed, for a person */
};

/*
 * Run the handshake on @fd, a connected TCP socket, and leave kernel TLS
 * set up on it.  0, or -errno with @res->error saying why; on a failure
 * after the handshake began the socket is shut down (close it).  Blocks
 * until done.  @res may be NULL.
 */
int hsmkey_tls_handshake(int fd, const struct hsmkey_tls_config *cfg,
			 struct hsmkey_tls_result *res);

/*
 * read() for a kernel TLS socket: application data into @buf; 0 at the
 * peer's close_notify or end of stream; records that carry no data (TLS
 * 1.3 session tickets) are skipped.  -1 with errno on error: EKEYEXPIRED
 * for a key update, which 6.1 and 6.12 cannot follow (close).
 */
ssize_t hsmkey_tls_read(int fd, void *buf, size_t len);

/* Send close_notify (the TLS end of data); then close or shutdown @fd. */
int hsmkey_tls_close_notify(int fd);

#ifdef __cplusplus
}
#endif

#endif
