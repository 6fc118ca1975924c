// SPDX-License-Identifier: GPL-2.0
/*
 * Data keys in the kernel (kms_kernel.h): added bound to their caller's
 * uid and a lifetime, following their KMS key's state, removed once spent.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/rand.h>
#include "control.h"
#include "kernel.h"
#include "kms_keys.h"
#include "kms_kernel.h"
#include "provision.h"
#include "request.h"
#include "util.h"

#define DK_PREFIX	"dk:"
#define DK_PREFIX_LEN	3

bool kms_kernel_is_data_key(const char *name, uint8_t *parent, uint32_t *uid)
{
	uint8_t id[HSMKEY_ID_LEN];
	char hex[2 * HSMKEY_ID_LEN + 1], *end;
	unsigned long v;

	if (strncmp(name, DK_PREFIX, DK_PREFIX_LEN) ||
	    strlen(name) < DK_PREFIX_LEN + 2 * HSMKEY_ID_LEN + 2 ||
	    name[DK_PREFIX_LEN + 2 * HSMKEY_ID_LEN] != ':')
		return false;
	memcpy(hex, name + DK_PREFIX_LEN, 2 * HSMKEY_ID_LEN);
	hex[2 * HSMKEY_ID_LEN] = '\0';
	name += DK_PREFIX_LEN + 2 * HSMKEY_ID_LEN + 1;
	if (*name < '0' || *name > '9')
		return false;	/* digits only: strtoul() would take a sign or spaces */
	errno = 0;
	v = strtoul(name, &end, 10);
	if (hex_decode(hex, id, HSMKEY_ID_LEN) || *end || errno || v > UINT32_MAX)
		return false;
	if (parent)
		memcpy(parent, id, HSMKEY_ID_LEN);
	if (uid)
		*uid = (uint32_t)v;
	return true;
}

bool kms_kernel_ours(struct daemon *d, const struct kernel_key *kk)
{
	return kk->has_owner && !memcmp(kk->owner, instance(d), HSMKEY_OWNER_LEN) &&
	       kms_kernel_is_data_key(kk->name, NULL, NULL);
}

/* What the kernel holds, from one dump (kernel_held()); worded on failure. */
static int dump(struct request *rq, struct kernel *k, struct kernel_key **held, size_t *n)
{
	int r = kernel_held(k, held, n);

	return r ? fail(rq, r, "cannot read the kernel's keys: %s", strerror(-r)) : 0;
}

/*
 * The live data keys, all and of @uid, after removing every spent one
 * (revoked: its time was up, or its KMS key was revoked while the daemon
 * was away).  Made with no lock held, it may only count too many: the
 * module's dump goes on from a place in its table that removals do not
 * move, so it misses no key there all along; a key added meanwhile may be
 * missed, which kms_kernel_add() tells by data_keys_added.
 */
static int count_live(struct request *rq, struct kernel *k, uint32_t uid, size_t *all,
		      size_t *mine)
{
	struct kernel_key *held = NULL;
	size_t n = 0;
	uint32_t owner;
	int r = dump(rq, k, &held, &n);

	*all = *mine = 0;
	for (size_t i = 0; !r && i < n; i++) {
		if (!kms_kernel_ours(rq->d, &held[i]))
			continue;
		kms_kernel_is_data_key(held[i].name, NULL, &owner);
		if (held[i].state == HSMKEY_STATE_REVOKED) {
			kernel_remove(k, held[i].id, held[i].version);
			continue;
		}
		(*all)++;
		*mine += owner == uid;
	}
	free(held);
	return r;
}

/*
 * The kernel key @key for @material: name, fresh id and verifier, policy
 * (no longer than its KMS key's own validity, @parent's).
 */
static int make_key(struct request *rq, const struct ks_key *parent, int type,
		    const uint8_t *material, uint32_t ttl, struct ks_key *key)
{
	char hex[2 * HSMKEY_ID_LEN + 1];

	hex_encode(parent->id, HSMKEY_ID_LEN, hex);
	snprintf(key->name, sizeof(key->name), DK_PREFIX "%s:%" PRIu32, hex, rq->cred.uid);
	key->type = type;
	key->version = key->current = 1;
	key->state = KS_ACTIVE;
	key->created = key->version_created = time(NULL);
	key->has_policy = true;
	key->policy.nuids = 1;
	key->policy.uids[0] = rq->cred.uid;
	key->policy.not_after = key->created + ttl;
	if (parent->has_policy && parent->policy.not_after &&
	    parent->policy.not_after < key->policy.not_after)
		key->policy.not_after = parent->policy.not_after;
	memcpy(key->material, material, key_type_len(type));
	if (RAND_bytes(key->id, HSMKEY_ID_LEN) != 1 ||
	    RAND_bytes(key->verifier, HSMKEY_VERIFIER_LEN) != 1)
		return fail(rq, EIO, "no random bytes for the data key's id");
	return 0;
}

/*
 * Whether @rq's uid may have one more data key in the kernel, and the
 * kernel one more of hsmkeyd's, by the live ones of the count (@all,
 * @mine) or, with an add made since it began (@gen: d->data_keys_added
 * then), of a count made again; with @d->data_keys held, so that no add
 * comes between the answer and the caller's own add.
 */
static int may_add(struct request *rq, struct kernel *k, uint64_t gen, size_t all, size_t mine)
{
	int r = 0;

	if (gen != __atomic_load_n(&rq->d->data_keys_added, __ATOMIC_ACQUIRE))
		r = count_live(rq, k, rq->cred.uid, &all, &mine);
	if (!r && mine >= KMS_KERNEL_PER_UID)
		r = fail(rq, EDQUOT, "uid %u has %d data keys in the kernel, as many as one user may: they go when their time is up",
			 rq->cred.uid, KMS_KERNEL_PER_UID);
	if (!r && all >= KMS_KERNEL_MAX)
		r = fail(rq, EDQUOT, "the kernel holds %d data keys, as many as hsmkeyd puts there: they go when their time is up",
			 KMS_KERNEL_MAX);
	return r;
}

/*
 * Under the mutation lock, so that a revocation or disabling of the KMS
 * key either comes after the data key is in the kernel (and removes it)
 * or before (and the key is refused here).
 */
static int add_locked(struct request *rq, struct kernel *k, const struct ks_key *parent,
		      int type, const uint8_t *material, uint32_t ttl, struct ks_key *key)
{
	struct ks_key now;
	int r = rq->d->be->ops->get(rq->d->be, parent->name, 0, false, &now);

	if (r || memcmp(now.id, parent->id, HSMKEY_ID_LEN) || now.state != KS_ACTIVE)
		return fail(rq, !r && now.state == KS_DISABLED ? EPERM : EKEYREVOKED,
			    "key '%s' was revoked, disabled or replaced meanwhile", parent->name);
	r = make_key(rq, &now, type, material, ttl, key);
	if (!r && (r = kernel_add(k, key, instance(rq->d))))
		r = fail(rq, r, "the kernel refused the data key: %s%s%s", strerror(-r),
			 *kernel_errmsg(k) ? ": " : "", kernel_errmsg(k));
	return r;
}

int kms_kernel_add(struct request *rq, const struct ks_key *parent, int type,
		   const uint8_t *material, uint32_t ttl, struct hsmkey_token *token,
		   uint8_t *kid, int64_t *expires)
{
	struct ks_key key = { 0 };
	struct kernel *k = NULL;
	size_t all = 0, mine = 0;
	uint64_t gen = 0;
	int r = open_kernel(rq, &k);

	/*
	 * The count reads every key the kernel holds: under no lock, so that
	 * a caller with the data-key grant alone keeps no change to keys (a
	 * revocation above all) waiting on its calls, nor, unless adds go on
	 * meanwhile, another caller's data key.  Only adds make it too low,
	 * and they are counted.
	 */
	if (!r) {
		gen = __atomic_load_n(&rq->d->data_keys_added, __ATOMIC_ACQUIRE);
		r = count_live(rq, k, rq->cred.uid, &all, &mine);
		crash_point("dk-counted");
	}
	if (!r) {
		pthread_mutex_lock(&rq->d->data_keys);
		r = may_add(rq, k, gen, all, mine);
		if (!r) {
			pthread_mutex_lock(&rq->d->mutate);
			r = add_locked(rq, k, parent, type, material, ttl, &key);
			pthread_mutex_unlock(&rq->d->mutate);
			/* Whatever came of it: a lost reply may hide an add made. */
			__atomic_add_fetch(&rq->d->data_keys_added, 1, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&rq->d->data_keys);
	}
	if (!r) {
		ks_token(&key, token);
		memcpy(kid, key.id, HSMKEY_ID_LEN);
		*expires = key.policy.not_after;
	}
	ks_key_wipe(&key);
	kernel_close(k);
	return r;
}

/* One data key made to follow its KMS key's state @state (0: gone). */
static int follow_one(struct kernel *k, const struct kernel_key *kk, int state)
{
	bool active = state == KS_ACTIVE;
	int r;

	if (state && state != KS_REVOKED && kk->state != HSMKEY_STATE_REVOKED) {
		if (active == (kk->state == HSMKEY_STATE_ACTIVE))
			return 0;
		r = kernel_set_state(k, kk->id, kk->version, active);
		if (r != -EKEYREVOKED)	/* its time ran out meanwhile: spent */
			return r == -ENOKEY ? 0 : r;
	}
	r = kernel_remove(k, kk->id, kk->version);
	return r == -ENOKEY ? 0 : r;
}

int kms_kernel_follow(struct request *rq, struct kernel *k, const struct ks_key *parent,
		      int state)
{
	uint8_t of[HSMKEY_ID_LEN];
	struct kernel_key *held = NULL;
	size_t n = 0;
	int r = dump(rq, k, &held, &n), first = 0;

	/* Each one, whatever became of the one before: taking keys away is the safe way. */
	for (size_t i = 0; !r && i < n; i++) {
		int one;

		if (!kms_kernel_ours(rq->d, &held[i]))
			continue;
		kms_kernel_is_data_key(held[i].name, of, NULL);
		if (memcmp(of, parent->id, HSMKEY_ID_LEN))
			continue;
		one = follow_one(k, &held[i], state);
		if (one && !first)
			first = fail(rq, one, "the kernel did not follow '%s' with its data key %s: %s",
				     parent->name, held[i].name, strerror(-one));
	}
	free(held);
	return r ?: first;
}

void kms_kernel_reconcile(struct daemon *d, struct kernel *k, const struct kernel_key *kk)
{
	char name[HSMKEY_NAME_MAX];
	uint8_t of[HSMKEY_ID_LEN];
	struct ks_key parent;
	int state = 0, r = -ENOENT;

	if (!kms_kernel_is_data_key(kk->name, of, NULL))
		return;
	if (!kms_keys_name(d, of, name))
		r = d->be->ops->get(d->be, name, 0, false, &parent);
	if (r && r != -ENOENT)
		return;	/* unreadable: the storage said why; no guess either way */
	if (!r && !memcmp(parent.id, of, HSMKEY_ID_LEN))
		state = ks_key_revoked(&parent) ? KS_REVOKED : parent.state;
	r = follow_one(k, kk, state);
	if (r)
		log_warn("cannot make data key %s follow its KMS key: %s", kk->name, strerror(-r));
}
