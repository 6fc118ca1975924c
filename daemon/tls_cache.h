/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The OpenSSL contexts of tls-handshake requests, kept for the next
 * request that asks for the same (tls_cache.c): making one costs more than
 * the server's side of a handshake.  An entry holds an identity key's
 * private key in OpenSSL's memory (a key kept inside the key storage: its
 * public half, tls_signer.h), so it lives at most TLS_CACHE_SECONDS
 * and goes when its key is revoked, disabled or scheduled for deletion
 * (or its revocation could not be written: by name), and every entry when
 * the key storage could not queue all its revocations.
 */
#ifndef HSMKEY_TLS_CACHE_H
#define HSMKEY_TLS_CACHE_H

#include <stdint.h>
#include "key.h"
#include "tls_context.h"

#define TLS_CACHE_ENTRIES	32
#define TLS_CACHE_SECONDS	300

struct tls_cached;

/* What an entry is for: the key's id and version, and the request's digest. */
struct tls_cache_id {
	uint8_t key_id[HSMKEY_ID_LEN];	/* zero: no identity key */
	uint32_t version;
	uint8_t digest[32];		/* tls_cache_digest() */
};

/* The digest of what else makes the context: role, certificate, CAs, ALPN. */
int tls_cache_digest(const struct tls_request *q, uint8_t *digest);
/* A held entry for @id, or NULL. */
struct tls_cached *tls_cache_get(const struct tls_cache_id *id);
/*
 * The forgets and clears so far: read it before the key's state is
 * checked, and give it to tls_cache_put().
 */
uint64_t tls_cache_generation(void);
/*
 * @t (taken over, whatever the outcome) for @id, the key named @name (NULL:
 * none): a held entry, kept in the list unless a forget or clear came after @gen;
 * NULL for want of memory (@t is then freed).
 */
struct tls_cached *tls_cache_put(const struct tls_cache_id *id, const char *name, uint64_t gen,
				 struct tls_context *t);
struct tls_context *tls_cached_context(struct tls_cached *c);
void tls_cache_release(struct tls_cached *c);
/* Drop every entry of the key @key_id, or named @name (held ones go when released). */
void tls_cache_forget(const uint8_t *key_id);
void tls_cache_forget_name(const char *name);
/* Drop the entries too old (the event loop's timer): the seconds until the next is, or -1. */
int tls_cache_expire(void);
/* Drop every entry, as a forget of every key (revocations the storage lost). */
void tls_cache_clear(void);

#endif
