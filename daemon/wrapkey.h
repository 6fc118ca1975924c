/* SPDX-License-Identifier: GPL-2.0 */
/* The import wrapping key (RSA-OAEP): see wrapkey.c. */
#ifndef HSMKEY_WRAPKEY_H
#define HSMKEY_WRAPKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "backend.h"

/* The daemon's own pair (a backend without ->import_key) */
#define WRAPKEY_ALGORITHM	"RSAES_OAEP_SHA_256"

struct wrapkey;

/* Load STATE/import-key.pem, or make it (always when @renew). */
int wrapkey_open(struct backend *be, int dirfd, bool renew, struct wrapkey **out);
/* The public key of a pair kept elsewhere (a token's hsmkey:import): n and e. */
int wrapkey_from_public(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen,
			struct wrapkey **out);
void wrapkey_close(struct wrapkey *w);
/* The public key as PEM (SubjectPublicKeyInfo) and its SHA-256 in hex. */
int wrapkey_public(struct wrapkey *w, char *pem, size_t size, char *fingerprint);
/* RSA-OAEP decryption of @in into @out (*@outlen: room, then length). */
int wrapkey_unwrap(struct wrapkey *w, const uint8_t *in, size_t inlen, uint8_t *out,
		   size_t *outlen);

#endif
