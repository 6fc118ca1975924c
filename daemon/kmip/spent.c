// SPDX-License-Identifier: GPL-2.0
/*
 * The spent count of each key version, kept on the key server as well as
 * here (message.h, KMIP_SPENT_NAMESPACE), so that it outlives the host:
 * GCM's limit of 2^32 invocations under one key holds for a host that
 * replaces a lost one and adopts its keys (km_adopt() takes the server's
 * count, and refuses an object whose count does not read).
 *
 * After each poll round's revocations (poll.c), both sides are made the
 * larger of the two, field by field: what this host stored
 * (->set_usage(): the kernel's count, which the daemon stores when it has
 * grown by 2^22 requests and at reconciliation and stop; the daemon's
 * reservations for its own AES-GCM) goes to
 * the server, and a larger count there comes here, for the version's
 * next provisioning and reservation.  Neither side's count goes down.  A
 * count of hsmkey's on the server that does not read (unreadable) is
 * neither taken nor written over: the journal says so, and an operator
 * mends it there.  Hosts that share a key each send their own count;
 * KMIP 1.x has no atomic addition, so the server holds the largest of
 * them once the last round has passed (a write lost to another host's in
 * between is sent again at the next), not their sum.
 *
 * Called by the poll thread only, outside st->lock, which it takes to
 * store a count.
 */
#include <errno.h>
#include <string.h>
#include "kmip/store.h"
#include "util.h"

static bool larger(const struct kmip_spent *a, const struct kmip_spent *b)
{
	return a->requests > b->requests || a->bytes > b->bytes;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/*
 * A warning, unless given already (each poll round finds it again): the
 * last KMIP_SPENT_WARNED given are remembered by their hash.
 */
static void warn_once(struct kmip_store *st, const char *msg)
{
	uint64_t h = fnv1a64(msg, strlen(msg));

	for (size_t i = 0; i < KMIP_SPENT_WARNED; i++)
		if (st->spent_warned[i] == h)
			return;
	st->spent_warned[st->spent_warned_next++ % KMIP_SPENT_WARNED] = h;
	log_warn("%s", msg);
}

/*
 * The server's larger count kept here, if version @version of @name is
 * still object @uid of key @id (the key may have been destroyed and
 * another made under its name since the round began).
 */
static void take(struct kmip_store *st, const struct kmip_spent_version *v,
		 const struct kmip_spent *both)
{
	struct ks_key cur;
	int r;

	pthread_mutex_lock(&st->lock);
	r = ks_get_version(st->ks, v->name, v->version, false, &cur);
	if (!r && (strcmp(cur.ref, v->uid) || memcmp(cur.id, v->id, HSMKEY_ID_LEN)))
		r = 1;
	else if (!r)
		r = ks_set_usage(st->ks, v->name, v->version, both->bytes, both->requests);
	pthread_mutex_unlock(&st->lock);
	if (r < 0 && r != -ENOENT)
		log_warn("key %s version %u: the KMIP server's spent count cannot be kept here: %s",
			 v->name, v->version, strerror(-r));
	else if (!r)
		log_info("key %s version %u: the KMIP server has more of it spent than this host knew (%llu requests, %llu bytes): taken",
			 v->name, v->version, (unsigned long long)both->requests,
			 (unsigned long long)both->bytes);
}

/* Whether a refused AddAttribute says the server cannot add attributes at all. */
static bool cannot_add(uint32_t reason)
{
	return reason == KMIP_REASON_OPERATION_NOT_SUPPORTED ||
	       reason == KMIP_REASON_INVALID_MESSAGE;	/* PyKMIP cannot read it */
}

/* This host's larger count sent to the server: 0, or why not. */
static int give(struct kmip_store *st, const struct kmip_spent_version *v, int32_t index,
		const struct kmip_spent *both)
{
	char why[512], msg[768];
	uint32_t reason;
	int r;

	if (index < 0 && st->no_add_attribute)
		return 0;
	r = kmip_note(st, kmip_set_spent(st->client, v->uid, index, both, &reason, why,
					 sizeof(why)), why);
	if (r && index < 0 && cannot_add(reason)) {
		st->no_add_attribute = true;
		log_warn("the KMIP server cannot add attributes (%s): the spent count of keys it did not get from hsmkey is kept on this host only",
			 why);
		return 0;
	}
	if (r) {
		snprintf(msg, sizeof(msg), "key %s version %u: the spent count cannot be kept on the KMIP server: %s",
			 v->name, v->version, why);
		warn_once(st, msg);
	}
	return r;
}

int kmip_spent_sync(struct kmip_store *st, const struct kmip_spent_version *v,
		    const struct kmip_attrs *there)
{
	struct kmip_spent both = {
		.requests = max_u64(v->here.requests, there->spent.requests),
		.bytes = max_u64(v->here.bytes, there->spent.bytes),
	};
	char msg[512];

	if (there->spent_unreadable) {
		snprintf(msg, sizeof(msg), "key %s version %u: its spent count on the KMIP server (object %s) does not read: neither taken nor written over; mend it there",
			 v->name, v->version, v->uid);
		warn_once(st, msg);
		return 0;
	}
	if (larger(&there->spent, &v->here))
		take(st, v, &both);
	if (larger(&v->here, &there->spent))
		return give(st, v, there->spent_index, &both);
	return 0;
}
