/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The socket I/O of a handshake hsmkeyd runs on an application's socket
 * (tls_bio.c): never blocking, whatever the descriptor's file flags.
 */
#ifndef HSMKEY_TLS_BIO_H
#define HSMKEY_TLS_BIO_H

#include <openssl/bio.h>

/* A BIO on @fd (not closed with it), or NULL. */
BIO *tls_bio_new(int fd);

#endif
