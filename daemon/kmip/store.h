/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The KMIP backend (backend = kmip): what its files share.
 *
 * The key server holds the keys: every version of every key is a KMIP
 * symmetric key object there, named with the hsmkey key's name, created,
 * fetched, revoked and destroyed there.  This host keeps what the server
 * has no place for — the key's type, id, versions, state, policy, spent
 * usage, and which object each version is — in an embedded keystore of
 * its own (STATE/kmip, keystore.h), each version there a "ref" to its
 * object with only its verifier sealed: no key material is on this
 * host's disk.  The daemon's own records and the audit log's keys come
 * from that keystore too.
 *
 * Material is fetched from the server when a version is loaded
 * (get(..., unseal)), wrapped by the server under this host's KEK where
 * the server can (kek.c): a key object the host registered on the server
 * and keeps sealed in its keystore, so the material is never in clear in
 * a TLS record; unwrapped into locked memory and wiped after use.  A
 * server that cannot wrap gets the material asked for in clear, once
 * logged.
 *
 * Locking: st->lock (recursive) serialises the keystore; a call to the
 * server is never made under it, except from a list() callback (the
 * daemon's start-up).  st->kek_lock guards the KEK; st->health_lock the
 * reachability.
 */
#ifndef HSMKEY_KMIP_STORE_H
#define HSMKEY_KMIP_STORE_H

#include <pthread.h>
#include "backend.h"
#include "embedded/keystore.h"
#include "kmip/client.h"

#define KMIP_KEK_LEN		32
#define KMIP_KEK_RECORD		"kmip-kek"	/* its uid and bytes, sealed */
#define KMIP_GROUP		"hsmkey"	/* the Object Group of hsmkey's keys */

struct kmip_store {
	struct backend be;
	struct keystore *ks;
	pthread_mutex_t lock;
	struct kmip_client *client;
	pthread_mutex_t kek_lock;
	char kek_uid[KMIP_UID_MAX];
	uint8_t *kek;		/* KMIP_KEK_LEN bytes in secret pages; NULL: none yet */
	bool no_wrap;		/* the server refused to wrap: fetched in clear */
	pthread_mutex_t health_lock;
	bool down;
	char why[512];
};

static inline struct kmip_store *kmip_store_of(struct backend *b)
{
	return (struct kmip_store *)b;
}

/* kek.c */
/* The material of @key's version (key->ref) into key->material. */
int kmip_fetch(struct kmip_store *st, struct ks_key *key);
void kmip_kek_free(struct kmip_store *st);

/* backend.c: a call to the server went (@r 0) or failed: health(). */
int kmip_note(struct kmip_store *st, int r, const char *why);

#endif
