/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The KMIP backend (backend = kmip): what its files share.
 *
 * The key server holds the keys: every version of every key is a KMIP
 * object there (a symmetric key: AES, or HMAC-SHA256 for a MAC key; a
 * private key, PKCS #8, for an identity key), named with the hsmkey key's
 * name, created or registered, fetched, revoked and destroyed there.
 * This host keeps what the server has no place for — the key's type, id, versions, state, policy, spent
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
 * logged.  A private key is always asked for in clear inside TLS: AES key
 * wrap (RFC 3394) takes whole 8-byte blocks, which a PKCS #8 key is not in
 * general, and KMIP 1.x servers differ on the padded form (RFC 5649).
 *
 * A thread follows the server (poll.c): what the server revokes or
 * destroys is revoked here, and the daemon woken to revoke it in the
 * kernel and to write it in the audit log (->storage_events()).
 *
 * Locking: st->lock (recursive) serialises the keystore and is a leaf:
 * nothing else is taken under it and no call to the server is made under
 * it (list() calls back without it).  st->kek_lock guards the KEK and may
 * take st->lock (to read or keep the KEK's record).  st->pending_lock
 * guards the revocations the server has yet to be told (poll.c) and may
 * take st->lock too.  st->health_lock and st->events_lock guard the
 * reachability and the revocations waiting for the audit log; both are
 * leaves.
 */
#ifndef HSMKEY_KMIP_STORE_H
#define HSMKEY_KMIP_STORE_H

#include <pthread.h>
#include <time.h>
#include "backend.h"
#include "embedded/keystore.h"
#include "kmip/client.h"

#define KMIP_KEK_LEN		32
#define KMIP_KEK_RECORD		"kmip-kek"	/* its uid and bytes, sealed */
#define KMIP_KEK_NAME		"hsmkey-kek-"	/* its Name: this, then the instance */
#define KMIP_GROUP		"hsmkey"	/* the Object Group of hsmkey's keys */
#define KMIP_EVENTS_MAX		256		/* revocations waiting for the audit log */
#define KMIP_PENDING_RECORD	"kmip-pending"	/* revoked here, not yet on the server */

/* A key the server revoked, for the audit log. */
struct kmip_event {
	char name[HSMKEY_NAME_MAX];
	uint32_t version;
	char why[400];
};

#define KMIP_SPENT_WARNED	64

struct kmip_store {
	struct backend be;
	struct keystore *ks;
	pthread_mutex_t lock;
	struct kmip_client *client;
	pthread_mutex_t kek_lock;
	char kek_uid[KMIP_UID_MAX];
	uint8_t *kek;		/* KMIP_KEK_LEN bytes in secret pages; NULL: none yet */
	bool no_wrap;		/* the server refused to wrap: fetched in clear */
	int64_t no_wrap_at;	/* since when, CLOCK_MONOTONIC s (asked again an hour later) */
	pthread_mutex_t health_lock;
	bool down;
	char why[512];
	/* poll.c */
	long long poll_interval;	/* seconds; 0: not followed */
	long long offline_grace;	/* seconds; -1: until the next reboot */
	pthread_t poll_thread;
	bool polling;
	int stop_fd;
	int wake_fd;			/* ->comebacks_fd() */
	unsigned int changes;		/* ->comebacks() */
	char (*gone)[KS_REF_MAX];	/* objects not found at the last round (poller's own) */
	size_t ngone;
	/* spent.c, the poller's own: */
	bool no_add_attribute;		/* the server cannot add attributes */
	uint64_t spent_warned[KMIP_SPENT_WARNED];	/* warnings given, by hash */
	unsigned int spent_warned_next;
	pthread_mutex_t pending_lock;	/* KMIP_PENDING_RECORD: taken before st->lock */
	pthread_mutex_t events_lock;
	struct kmip_event events[KMIP_EVENTS_MAX];
	unsigned int nevents, events_lost;
};

static inline struct kmip_store *kmip_store_of(struct backend *b)
{
	return (struct kmip_store *)b;
}

/*
 * spent.c: a version as the poll round found it here, and (@there,
 * GetAttributes) on the server: each side's spent count made the larger
 * of the two.  0, or why the server could not be given this host's (the
 * round's other versions then wait for the next: -EHOSTDOWN,
 * -ETIMEDOUT, -ECONNABORTED).  The poll thread's.
 */
struct kmip_spent_version {
	const char *name;
	const uint8_t *id;
	uint32_t version;
	const char *uid;
	struct kmip_spent here;
};

int kmip_spent_sync(struct kmip_store *st, const struct kmip_spent_version *v,
		    const struct kmip_attrs *there);

/* kek.c */
/* The material of @key's version (key->ref) into key->material. */
int kmip_fetch(struct kmip_store *st, struct ks_key *key);
void kmip_kek_free(struct kmip_store *st);

/* backend.c: a call to the server went (@r 0) or failed: health(). */
int kmip_note(struct kmip_store *st, int r, const char *why);

/* backend.c: every version of @name revoked on the server. */
int kmip_revoke_on_server(struct kmip_store *st, const char *name);

/* poll.c */
int kmip_poll_start(struct kmip_store *st);
/*
 * @name (key @id) revoked here, not yet on the server (@err: why not):
 * the poller tells the server when it answers; kept across restarts.
 * drop: not to be told (its objects are destroyed there).
 */
void kmip_pending_add(struct kmip_store *st, const char *name, const uint8_t *id, int err);
void kmip_pending_drop(struct kmip_store *st, const char *name);
void kmip_poll_stop(struct kmip_store *st);
/* The daemon woken: comebacks() changes, comebacks_fd() is readable. */
void kmip_wake(struct kmip_store *st);
void kmip_event_add(struct kmip_store *st, const char *name, uint32_t version, const char *why);
int kmip_storage_events(struct kmip_store *st,
			void (*fn)(void *arg, const char *name, uint32_t version, const char *why),
			void *arg);

#endif
