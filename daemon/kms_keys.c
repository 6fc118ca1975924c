// SPDX-License-Identifier: GPL-2.0
/*
 * The local KMS API's memory of its keys (kms_keys.h): key id to name, and
 * the encrypting version's invocations.
 *
 * Locking: @lock guards the table and every entry; it is never held across
 * a call into the key storage.  A reservation is written under the
 * daemon's mutation lock (the daemon's changes to a stored key all are; a
 * KMIP server's larger count comes in under the backend's own lock,
 * kmip/spent.c), then read back, and taken into the entry afterwards; two
 * threads reserving at once waste a block, never reuse one.  A stored
 * count above every reservation made here is someone else's (the key
 * server's): all of it is taken as spent.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "backend.h"
#include "control.h"
#include "kms_keys.h"
#include "util.h"

#define BUCKETS		1024

struct kms_entry {
	struct kms_entry *next;
	uint8_t id[HSMKEY_ID_LEN];
	char name[HSMKEY_NAME_MAX];
	uint32_t version;		/* whose invocations these are, 0: none yet */
	uint64_t spent, reserved;	/* spent < reserved: one may be spent */
	uint64_t reserving;		/* the largest reservation being stored */
};

struct kms_keys {
	pthread_mutex_t lock;
	struct kms_entry *buckets[BUCKETS];
};

struct kms_keys *kms_keys_new(void)
{
	struct kms_keys *k = calloc(1, sizeof(*k));

	if (k)
		pthread_mutex_init(&k->lock, NULL);
	return k;
}

void kms_keys_free(struct kms_keys *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < BUCKETS; i++) {
		while (k->buckets[i]) {
			struct kms_entry *e = k->buckets[i];

			k->buckets[i] = e->next;
			free(e);
		}
	}
	pthread_mutex_destroy(&k->lock);
	free(k);
}

/* Ids are random: two of their bytes spread them well enough. */
static struct kms_entry **bucket(struct kms_keys *k, const uint8_t *id)
{
	return &k->buckets[(id[0] | id[1] << 8) % BUCKETS];
}

/* Under @lock. */
static struct kms_entry *find(struct kms_keys *k, const uint8_t *id)
{
	for (struct kms_entry *e = *bucket(k, id); e; e = e->next)
		if (!memcmp(e->id, id, HSMKEY_ID_LEN))
			return e;
	return NULL;
}

/* Under @lock; NULL when out of memory (the key is then looked up again). */
static struct kms_entry *find_or_add(struct kms_keys *k, const struct ks_key *key)
{
	struct kms_entry *e = find(k, key->id), **b;

	if (e)
		return e;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	memcpy(e->id, key->id, HSMKEY_ID_LEN);
	memcpy(e->name, key->name, sizeof(e->name));
	b = bucket(k, key->id);
	e->next = *b;
	*b = e;
	return e;
}

void kms_keys_remember(struct daemon *d, const struct ks_key *key)
{
	if (!d->kms || !ks_type_kms(key->type))
		return;
	pthread_mutex_lock(&d->kms->lock);
	find_or_add(d->kms, key);
	pthread_mutex_unlock(&d->kms->lock);
}

static int remember_one(const struct ks_key *key, void *arg)
{
	kms_keys_remember(arg, key);
	return 0;
}

static int lookup(struct kms_keys *k, const uint8_t *id, char *name)
{
	struct kms_entry *e;

	pthread_mutex_lock(&k->lock);
	e = find(k, id);
	if (e)
		memcpy(name, e->name, HSMKEY_NAME_MAX);
	pthread_mutex_unlock(&k->lock);
	return e ? 0 : -ENOENT;
}

int kms_keys_name(struct daemon *d, const uint8_t *id, char *name)
{
	return lookup(d->kms, id, name);
}

void kms_keys_fill(struct daemon *d)
{
	int r;

	if (!d->kms || !backend_keeps(d->be, KS_TYPE_KMS_AES_256))
		return;		/* a storage that keeps no KMS keys */
	r = d->be->ops->list(d->be, NULL, remember_one, d);
	if (r < 0)
		log_warn("cannot list the keys to find the KMS keys: %s", strerror(-r));
}

/*
 * One invocation spent from what the entry of @meta's key has reserved for
 * its version: 0; -EAGAIN when all reserved are spent (*@reserved says how
 * many that is); -ESTALE when @meta is older than a version seen already.
 */
static int spend_reserved(struct kms_keys *k, const struct ks_key *meta, uint64_t *reserved)
{
	struct kms_entry *e;
	int r = -EAGAIN;

	pthread_mutex_lock(&k->lock);
	e = find_or_add(k, meta);
	if (!e || meta->version < e->version) {
		pthread_mutex_unlock(&k->lock);
		return e ? -ESTALE : -ENOMEM;
	}
	if (e->version != meta->version) {
		/* A new version: what the storage reserved may all be spent. */
		e->version = meta->version;
		e->spent = e->reserved = meta->used_requests;
		e->reserving = 0;
	} else if (meta->used_requests > e->reserved && meta->used_requests > e->reserving) {
		/* Counted elsewhere since (a key server's count): all of it spent. */
		e->spent = e->reserved = meta->used_requests;
	}
	if (e->spent < e->reserved) {
		e->spent++;
		r = 0;
	}
	*reserved = e->reserved;
	pthread_mutex_unlock(&k->lock);
	return r;
}

/*
 * Before it is stored: a reservation up to @reserving is this daemon's
 * own (0: none after all, a failure).  A key server's count that lands
 * inside a block while it is being stored is taken for the block itself:
 * at most one block (KMS_RESERVE) is then counted once for both.
 */
static void mark_reserving(struct kms_keys *k, const struct ks_key *meta, uint64_t reserving)
{
	struct kms_entry *e;

	pthread_mutex_lock(&k->lock);
	e = find(k, meta->id);
	if (e && e->version == meta->version && (!reserving || e->reserving < reserving))
		e->reserving = reserving ? reserving : e->reserved;
	pthread_mutex_unlock(&k->lock);
}

/*
 * A reservation up to @reserved stored, the storage then holding @stored:
 * more than reserved means someone else counted past it (a key server's
 * count, taken meanwhile), and all of that is spent.
 */
static void take_reservation(struct kms_keys *k, const struct ks_key *meta, uint64_t reserved,
			     uint64_t stored)
{
	struct kms_entry *e;

	pthread_mutex_lock(&k->lock);
	e = find(k, meta->id);
	if (e && e->version == meta->version) {
		if (stored > reserved && stored > e->reserved)
			e->spent = e->reserved = stored;
		else if (e->reserved < reserved)
			e->reserved = reserved;
	}
	pthread_mutex_unlock(&k->lock);
}

/* What the storage holds as reserved for @meta's version now. */
static int stored_count(struct daemon *d, const struct ks_key *meta, uint64_t *stored)
{
	struct ks_key now;
	int r = d->be->ops->get(d->be, meta->name, meta->version, false, &now);

	*stored = r ? 0 : now.used_requests;
	if (!r && memcmp(now.id, meta->id, HSMKEY_ID_LEN))
		r = -ESTALE;	/* another key by that name since */
	return r;
}

int kms_keys_spend(struct daemon *d, const struct ks_key *meta)
{
	for (;;) {
		uint64_t reserved, stored;
		int r = spend_reserved(d->kms, meta, &reserved);

		if (r != -EAGAIN)
			return r;
		if (reserved >= KMS_INVOCATIONS_MAX)
			return -EKEYEXPIRED;
		reserved = reserved + KMS_RESERVE < KMS_INVOCATIONS_MAX ?
			   reserved + KMS_RESERVE : KMS_INVOCATIONS_MAX;
		mark_reserving(d->kms, meta, reserved);
		pthread_mutex_lock(&d->mutate);
		r = d->be->ops->set_usage(d->be, meta->name, meta->version, meta->used_bytes,
					  reserved);
		if (!r)
			r = stored_count(d, meta, &stored);
		pthread_mutex_unlock(&d->mutate);
		if (r) {
			mark_reserving(d->kms, meta, 0);
			return r;
		}
		take_reservation(d->kms, meta, reserved, stored);
	}
}
