/* SPDX-License-Identifier: GPL-2.0 */
/* A TCP socket's kTLS configuration, from sock_diag. */
#ifndef HSMKEY_TLS_DIAG_H
#define HSMKEY_TLS_DIAG_H

#include <stdint.h>

struct tls_diag {
	uint16_t txconf, rxconf;	/* TLS_CONF_BASE, _SW, _HW, _HW_RECORD */
};

/*
 * The kTLS configuration of connected TCP socket @fd (found by its cookie,
 * in the caller's network namespace): 0, or -ENOENT if the "tls" ULP is
 * not on it or the socket is not found, or -errno.  The kernel reports a
 * socket's ULP only to CAP_NET_ADMIN: without it, -ENOENT.
 */
int tls_diag(int fd, struct tls_diag *out);

#endif
