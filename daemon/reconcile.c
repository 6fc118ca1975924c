// SPDX-License-Identifier: GPL-2.0
/*
 * Reconciliation: converging the kernel with the keystore at start, on
 * SIGHUP and after lost events (one at a time, at most one more pending),
 * and keeping what the kernel has spent of each key.
 */
#include <pthread.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "deletion.h"
#include "kms_kernel.h"
#include "kms_keys.h"
#include "provision.h"
#include "proto.h"
#include "request.h"
#include "util.h"

void control_reconcile(struct daemon *d)
{
	int failed;

	pthread_mutex_lock(&d->mutate);
	failed = control_load_all(d);
	pthread_mutex_unlock(&d->mutate);
	log_info("converged the kernel with the keystore%s", failed ? " (not all of it: see above)" : "");
	pthread_mutex_lock(&d->lock);
	d->reconciling = false;
	pthread_mutex_unlock(&d->lock);
}

void control_reconcile_request(struct daemon *d)
{
	d->resync = true;
}

/*
 * However many gaps the events show, one reconciliation runs at a time
 * and at most one more is pending (@resync): each re-reads every key.
 */
bool control_reconcile_due(struct daemon *d)
{
	bool due;

	if (!d->resync)
		return false;
	pthread_mutex_lock(&d->lock);
	due = !d->reconciling;
	d->reconciling = true;
	pthread_mutex_unlock(&d->lock);
	if (due)
		d->resync = false;
	return due;
}

struct load_ctx {
	struct daemon *d;
	struct kernel *k;
	struct provision_batch *batch;	/* NULL: one key at a time */
	const struct kernel_key *held;	/* the kernel's keys before; NULL: unknown */
	size_t nheld;
	int failed;
};

/*
 * Whether the kernel held every version of @meta's key, ours and not
 * revoked, before this reconciliation: then nothing is read for it (a key
 * server's backend would fetch each version's material only to have the
 * kernel say it has it).
 */
static bool all_held(const struct load_ctx *l, const struct ks_key *meta)
{
	const struct kernel_key *kk;
	uint32_t v;

	if (!l->held)
		return false;
	for (v = 1; v <= meta->current; v++) {
		kk = kernel_held_find(l->held, l->nheld, meta->id, v);
		if (!kk || !kk->has_owner || kk->state == HSMKEY_STATE_REVOKED ||
		    memcmp(kk->owner, instance(l->d), HSMKEY_OWNER_LEN))
			return false;
	}
	return true;
}

static int load_one(const struct ks_key *meta, void *arg)
{
	struct load_ctx *l = arg;
	struct request rq = { .d = l->d };

	kms_keys_remember(l->d, meta);
	if (meta->state == KS_PENDING_DELETION)
		note_deletion(l->d, meta->delete_at);
	if (meta->state != KS_ACTIVE || ks_type_daemon(meta->type) ||
	    (meta->has_policy && meta->policy.no_load_at_start))
		return 0;
	if (!l->batch && all_held(l, meta))
		return 0;
	if (l->batch ? provision_batch_add(l->batch, meta) :
		       provision_versions(&rq, l->k, meta)) {
		log_error("cannot load key %s: %s", meta->name, l->batch ? "see above" : rq.err);
		l->failed++;
	}
	return 0;
}

/*
 * Converge one kernel key with the keystore.  Ours (our instance id as
 * owner): revoke it if the keystore no longer has it or has revoked it,
 * disable or enable it to match; a valid bound key is left undisturbed.
 * Another keystore's: report, never touch.
 */
static int reconcile_one(struct load_ctx *l, const struct kernel_key *kk)
{
	char id[2 * HSMKEY_ID_LEN + 1];
	struct ks_key key;
	int r, want;

	hex_encode(kk->id, HSMKEY_ID_LEN, id);
	if (!kk->has_owner || memcmp(kk->owner, instance(l->d), HSMKEY_OWNER_LEN)) {
		log_info("kernel key %s (id %s version %u) belongs to another keystore: left alone",
			 kk->name, id, kk->version);
		return 0;
	}
	if (kms_kernel_is_data_key(kk->name, NULL, NULL))
		return 0;	/* once the KMS keys are known: kms_kernel_reconcile() */
	save_usage(l->d, kk->name, kk);
	if (kk->state == HSMKEY_STATE_REVOKED)
		return 0;
	r = l->d->be->ops->get(l->d->be, kk->name, kk->version, false, &key);
	if (r == -ENOENT || (!r && (memcmp(key.id, kk->id, HSMKEY_ID_LEN) ||
				    ks_key_revoked(&key)))) {
		log_info("revoking kernel key %s version %u: %s", kk->name, kk->version,
			 r == -ENOENT ? "no longer in the keystore" : "revoked in the keystore");
		r = kernel_revoke(l->k, kk->id, kk->version);
		if (r && r != -ENOKEY)
			l->failed++;
		return 0;
	}
	if (r) {
		/* Unreadable (tampered?): ks_get said so; no guess either way. */
		return 0;
	}
	want = key.state == KS_ACTIVE ? HSMKEY_STATE_ACTIVE : HSMKEY_STATE_DISABLED;
	if (kk->state != want) {
		log_info("%s kernel key %s version %u to match the keystore",
			 want == HSMKEY_STATE_DISABLED ? "disabling" : "enabling", kk->name,
			 kk->version);
		if (kernel_set_state(l->k, kk->id, kk->version, want == HSMKEY_STATE_ACTIVE))
			l->failed++;
	}
	return 0;
}

static int save_one(const struct kernel_key *kk, void *arg)
{
	struct daemon *d = arg;

	if (kk->has_owner && !memcmp(kk->owner, instance(d), HSMKEY_OWNER_LEN))
		save_usage(d, kk->name, kk);
	return 0;
}

/*
 * The minute's save (JOB_USAGE) stores a version's count only once it
 * has grown by USAGE_STEP requests since this daemon stored it or first
 * saw it (the start's reconciliation stores every count): after a crash
 * GCM's count is never more than that and a minute behind, and a busy
 * volume does not cost a key-store write (on PKCS#11, token objects)
 * every minute.  The table is d->mutate's, as JOB_USAGE runs under it.
 */
#define USAGE_STEP	(1ULL << 22)	/* 1/1024 of GCM's 2^32 */
#define USAGE_SEEN	4096		/* versions followed; beyond, each save is made */

struct usage_seen {
	uint8_t id[HSMKEY_ID_LEN];
	uint32_t version;
	bool used;
	uint64_t requests;	/* as last stored, or first seen */
};

static struct usage_seen usage_seen[USAGE_SEEN];

static struct usage_seen *seen_slot(const struct kernel_key *kk)
{
	uint64_t h = fnv1a64(kk->id, HSMKEY_ID_LEN) ^ (kk->version * 0x9e3779b97f4a7c15ULL);

	for (size_t i = 0; i < USAGE_SEEN; i++) {
		struct usage_seen *s = &usage_seen[(h + i) % USAGE_SEEN];

		if (!s->used || (s->version == kk->version && !memcmp(s->id, kk->id, HSMKEY_ID_LEN)))
			return s;
	}
	return NULL;
}

static int save_grown(const struct kernel_key *kk, void *arg)
{
	struct daemon *d = arg;
	struct usage_seen *s;

	if (!kk->has_owner || memcmp(kk->owner, instance(d), HSMKEY_OWNER_LEN))
		return 0;
	s = seen_slot(kk);
	if (s && !s->used) {
		memcpy(s->id, kk->id, HSMKEY_ID_LEN);
		s->version = kk->version;
		s->requests = kk->requests;
		s->used = true;
		return 0;
	}
	if (s && kk->requests < s->requests + USAGE_STEP)
		return 0;
	save_usage(d, kk->name, kk);
	if (s)
		s->requests = kk->requests;
	return 0;
}

/* @fn on every key the kernel holds (the usage savers above). */
static void usage_walk(struct daemon *d, int (*fn)(const struct kernel_key *kk, void *arg))
{
	struct kernel *k;

	if (kernel_open(&k))
		return;
	if (kernel_list(k, fn, d))
		log_warn("cannot read the kernel's keys to store their usage");
	kernel_close(k);
}

void control_usage_save_grown(struct daemon *d)
{
	usage_walk(d, save_grown);
}

void control_usage_save(struct daemon *d)
{
	usage_walk(d, save_one);
}

/*
 * At start and on SIGHUP: converge the kernel with the keystore, then
 * provision every active key that should be loaded and is not.
 */
int control_load_all(struct daemon *d)
{
	struct kernel_key *held = NULL;
	size_t nheld = 0;
	bool have_held;
	int listed;
	struct load_ctx l = { .d = d };
	struct request brq = { .d = d };
	int r;

	/* Degraded (the key storage unreachable): every key is unknown, none gone. */
	if (!d->audit)
		return 0;
	pthread_mutex_lock(&d->lock);
	d->next_deletion = 0;	/* unknown: the event loop has a look */
	/* A comeback after this needs another one (main.c). */
	if (d->be->ops->comebacks)
		d->comebacks = d->be->ops->comebacks(d->be);
	pthread_mutex_unlock(&d->lock);
	r = kernel_open(&l.k);
	if (r)
		kms_keys_fill(d);	/* the walk below does not run */
	if (r == -ENOENT) {
		log_warn("hsmkey.ko is not loaded; keys will be provisioned when they are used");
		return 0;
	}
	if (r) {
		log_error("hsmkey.ko is loaded but cannot be reached: %s; no key is provisioned",
			  strerror(-r));
		return 1;
	}
	/* The whole dump first: no other request on the socket during it. */
	have_held = !kernel_held(l.k, &held, &nheld);
	if (!have_held)
		log_warn("cannot read the kernel's keys to reconcile them");
	for (size_t i = 0; i < nheld; i++)
		reconcile_one(&l, &held[i]);
	pthread_mutex_lock(&d->lock);
	d->next_deletion = -1;	/* load_one() notes each pending one */
	pthread_mutex_unlock(&d->lock);
	/* What the kernel held before reconcile_one(): it only changes states. */
	if (d->be->ops->wrap_for_kernel)
		l.batch = provision_batch_new(&brq, l.k, held, nheld, have_held);
	/* kernel_held() sorted it, for kernel_held_find(). */
	if (have_held && !l.batch) {
		l.held = held;
		l.nheld = nheld;
	}
	listed = d->be->ops->list(d->be, NULL, load_one, &l);
	if (l.batch)
		l.failed += provision_batch_flush(l.batch);
	provision_batch_free(l.batch);
	/* Only after a whole walk: a KMS key the walk missed is not gone. */
	for (size_t i = 0; !listed && i < nheld; i++)
		if (kms_kernel_ours(d, &held[i]))
			kms_kernel_reconcile(d, l.k, &held[i]);
	free(held);
	kernel_close(l.k);
	return l.failed;
}
