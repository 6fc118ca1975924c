// SPDX-License-Identifier: GPL-2.0
/*
 * The spent count of each key version, kept on the key server as well as
 * here (message.h, KMIP_SPENT_NAMESPACE), so that it outlives the host:
 * GCM's limit of 2^32 invocations under one key holds for a host that
 * replaces a lost one and adopts its keys (km_adopt() takes the server's
 * count).
 *
 * Each poll round (poll.c) makes both sides the larger of the two, field
 * by field: what this host stored (->set_usage(): the kernel's count at
 * reconciliation, revocation and stop; the daemon's reservations for its
 * own AES-GCM) goes to the server, and a larger count there comes here,
 * for the version's next provisioning.  Neither side's count goes down,
 * whatever the server says.  Hosts that share a key each send their own
 * count and the server keeps the largest, not their sum: KMIP 1.x has no
 * atomic addition, and a server without AddAttribute (PyKMIP) gives a
 * host no instance of its own.
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

/* The server's larger count kept here. */
static void take(struct kmip_store *st, const char *name, uint32_t version,
		 const struct kmip_spent *both)
{
	int r;

	pthread_mutex_lock(&st->lock);
	r = ks_set_usage(st->ks, name, version, both->bytes, both->requests);
	pthread_mutex_unlock(&st->lock);
	if (r)
		log_warn("key %s version %u: the KMIP server's spent count cannot be kept here: %s",
			 name, version, strerror(-r));
	else
		log_info("key %s version %u: the KMIP server has more of it spent than this host knew (%llu requests, %llu bytes): taken",
			 name, version, (unsigned long long)both->requests,
			 (unsigned long long)both->bytes);
}

/*
 * An AddAttribute the server answered with a refusal that is not about
 * the object or the moment: it cannot add attributes (PyKMIP cannot even
 * read the request, and says Invalid Message).
 */
static bool cannot_add(int r)
{
	return r && r != -EHOSTDOWN && r != -ECONNABORTED && r != -ETIMEDOUT && r != -ENOMEM &&
	       r != -ENOENT;
}

/* This host's larger count sent to the server. */
static void give(struct kmip_store *st, const char *name, uint32_t version, const char *uid,
		 int32_t index, const struct kmip_spent *both)
{
	char why[512];
	int r;

	if (index < 0 && st->no_add_attribute)
		return;
	r = kmip_note(st, kmip_set_spent(st->client, uid, index, both, why, sizeof(why)), why);
	if (index < 0 && cannot_add(r)) {
		st->no_add_attribute = true;
		log_warn("the KMIP server cannot add attributes (%s): the spent count of keys it did not get from hsmkey is kept on this host only",
			 why);
	} else if (r) {
		log_warn("key %s version %u: the spent count cannot be kept on the KMIP server: %s",
			 name, version, why);
	}
}

void kmip_spent_sync(struct kmip_store *st, const char *name, uint32_t version, const char *uid,
		     const struct kmip_spent *here, const struct kmip_attrs *there)
{
	struct kmip_spent both = {
		.requests = max_u64(here->requests, there->spent.requests),
		.bytes = max_u64(here->bytes, there->spent.bytes),
	};

	if (larger(&there->spent, here))
		take(st, name, version, &both);
	if (larger(here, &there->spent))
		give(st, name, version, uid, there->spent_index, &both);
}
