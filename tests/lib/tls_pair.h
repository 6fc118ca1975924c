/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A TLS connection over loopback TCP between two OpenSSL ends in one
 * process, for the kTLS test and benchmark: a self-signed certificate, the
 * TCP pair, both handshakes driven to the end.
 */
#ifndef HSMKEY_TLS_PAIR_H
#define HSMKEY_TLS_PAIR_H

#include <openssl/ssl.h>

/* A self-signed P-256 certificate for CN=hsmkey-test and its key: 0 or -1. */
int tls_pair_cert(EVP_PKEY **key, X509 **cert);
/* A connected loopback TCP pair: @a accepted, @b connected: 0 or -1. */
int tls_pair_tcp(int *a, int *b);
/* Server @s on @a and client @c on @b through their handshakes: 0 or -1. */
int tls_pair_handshake(SSL *s, SSL *c, int a, int b);

#endif
