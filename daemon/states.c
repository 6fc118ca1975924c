// SPDX-License-Identifier: GPL-2.0
/*
 * A key's state changes: revoke (final), disable and enable, schedule and
 * cancel its deletion.  The keystore records each first (its state rules
 * are the backend's), then the kernel follows.
 */
#include <time.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "deletion.h"
#include "kms_kernel.h"
#include "kms_keys.h"
#include "provision.h"
#include "proto.h"
#include "request.h"
#include "tls_cache.h"
#include "util.h"

/*
 * After the keystore recorded @key's new state, the kernel follows if the
 * module is loaded: a revoked key is revoked there, an active one
 * provisioned and enabled, any other disabled.
 */
static int kernel_follow(struct request *rq, const struct ks_key *key)
{
	struct kernel *k;
	int r;

	/* An identity key's kept TLS contexts hold its private key. */
	if (ks_type_identity(key->type) && key->state != KS_ACTIVE)
		tls_cache_forget(key->id);
	r = reach_kernel(rq, &k);

	if (r || !k)
		return r;
	if (ks_key_revoked(key))
		r = kernel_revoke_all(rq, k, key, false);
	else if (key->state == KS_ACTIVE)
		r = provision_versions(rq, k, key) ?: kernel_state_all(rq, k, key, true);
	else
		r = kernel_state_all(rq, k, key, false);
	kernel_close(k);
	return r;
}

/*
 * @key's new state is written but the HSM did not confirm it (-EINPROGRESS:
 * the pkcs11 backend's P11_UNCONFIRMED, worded by store_failed()); it
 * stands or is undone when the HSM answers again.  Which way the kernel
 * goes meanwhile is the safe one of the two outcomes:
 *  - a change that takes the key away (disable, a scheduled deletion)
 *    reaches the kernel at once: undone, it leaves the kernel refusing a
 *    key the keystore allows, until 'hsmkeyctl enable' or a
 *    reconciliation; not followed, a key the operator meant to stop would
 *    stay usable with nothing telling the kernel later.
 *  - one that gives the key back (enable, cancel-deletion) does not: undone,
 *    the kernel would serve a key the keystore keeps disabled or marked
 *    for destruction, and no later step takes it away again.
 * (A revocation goes by name, revoke_by_name(), as for an unwritable file.)
 */
static int follow_unconfirmed(struct request *rq, const struct ks_key *key, const char *what,
			      int err)
{
	char why[sizeof(rq->err)];
	struct kernel *k;
	int r = 0;

	store_failed(rq, err, what);
	memcpy(why, rq->err, sizeof(why));
	if (key->state == KS_ACTIVE)
		return fail(rq, err, "%s; the kernel does not get it back until then ('hsmkeyctl enable %s' gives it once hsmkeyctl show says it is active)",
			    why, key->name);
	r = reach_kernel(rq, &k);
	if (!r && !k)
		return fail(rq, err, "%s; hsmkey.ko is not loaded (it gets the key in this state when it is)",
			    why);
	if (k)
		kernel_close(k);
	r = r ?: kernel_follow(rq, key);
	if (r) {
		char kwhy[sizeof(rq->err)];

		memcpy(kwhy, rq->err, sizeof(kwhy));
		return fail(rq, r, "%s; the kernel did not follow it: %s", why, kwhy);
	}
	return fail(rq, err, "%s; the kernel refuses new bindings of it meanwhile", why);
}

/* Whether kernel key @kk is a data key of KMS key @name (kms_kernel.h). */
static bool data_key_of(struct daemon *d, const struct kernel_key *kk, const char *name)
{
	char of_name[HSMKEY_NAME_MAX];
	uint8_t of[HSMKEY_ID_LEN];

	return kms_kernel_is_data_key(kk->name, of, NULL) && !kms_keys_name(d, of, of_name) &&
	       !strcmp(of_name, name);
}

/*
 * The keystore could not read or record @name's revocation (@err, worded
 * in rq->err): a damaged or unwritable file must not keep the key usable,
 * so the kernel copies of ours by that name are revoked all the same.
 */
static int revoke_by_name(struct request *rq, const char *name, int err)
{
	char why[sizeof(rq->err)];
	struct kernel_key *held = NULL;
	struct kernel *k;
	size_t n = 0, done = 0;
	int r;

	memcpy(why, rq->err, sizeof(why));
	tls_cache_forget_name(name);	/* an identity key's kept contexts */
	r = reach_kernel(rq, &k);
	if (r || !k)
		return r ?: fail(rq, err, "%s (hsmkey.ko is not loaded: no kernel copy to revoke)",
				 why);
	r = kernel_held(k, &held, &n);
	for (size_t i = 0; !r && i < n; i++) {
		const struct kernel_key *kk = &held[i];
		bool data = data_key_of(rq->d, kk, name);

		if (!kk->has_owner || memcmp(kk->owner, instance(rq->d), HSMKEY_OWNER_LEN) ||
		    (strcmp(kk->name, name) && !data) || kk->state == HSMKEY_STATE_REVOKED)
			continue;
		/* A data key goes, as when the revocation is recorded (kms_kernel.h). */
		r = data ? kernel_remove(k, kk->id, kk->version) : kernel_revoke(k, kk->id, kk->version);
		done += !r;
		r = r == -ENOKEY ? 0 : r;	/* gone meanwhile */
	}
	kernel_close(k);
	free(held);
	if (r)
		return fail(rq, r, "%s; revoking its kernel copies failed too: %s", why,
			    strerror(-r));
	log_warn("key %s: %s; revoked its %zu kernel copies", name, why, done);
	return fail(rq, err, "%s; its kernel copies were revoked (%zu)", why, done);
}

int op_revoke(struct request *rq)
{
	struct ks_key key;
	const char *name;
	int r = get_name(rq, "name", &name);

	if (r)
		return r;
	r = get_key(rq, name, false, &key);
	if (r == -ENOKEY)
		return r;
	/*
	 * The keystore first: a key revoked there is never provisioned again.
	 * Already revoked there, the kernel follows again (a revoke that did
	 * not reach the kernel is retried by repeating it).
	 */
	if (!r && !ks_key_revoked(&key)) {
		r = rq->d->be->ops->set_state(rq->d->be, name, KS_REVOKED, 0);
		if (r) {
			char what[HSMKEY_NAME_MAX + 24];

			/* Unconfirmed too: the kernel copies go (revoke_by_name()). */
			snprintf(what, sizeof(what), "the revocation of '%s'", name);
			r = store_failed(rq, r, what);
		}
	}
	if (r)
		return revoke_by_name(rq, name, r);
	if (!ks_key_revoked(&key))
		key.state = KS_REVOKED;
	r = kernel_follow(rq, &key);
	if (r) {
		char why[sizeof(rq->err)];

		memcpy(why, rq->err, sizeof(why));
		return fail(rq, r, "'%s' is revoked in the keystore (never provisioned again), but not yet in the kernel: %s",
			    name, why);
	}
	log_info("revoked key %s (%u versions)", name, key.current);
	add_key_fields(rq->reply, &key);
	return 0;
}

/*
 * Disable: new bindings are refused (EPERM) in the kernel, and the key is
 * not provisioned again; existing bindings (open volumes) keep working.
 * Enable undoes it, provisioning the key if the kernel lacks it.
 */
static int set_enabled(struct request *rq, bool enable)
{
	_cleanup_key_ struct ks_key key = { 0 };
	char what[HSMKEY_NAME_MAX + 24];
	const char *name;
	/* No secret read here: provisioning reads its own (a key server may be away). */
	int r = get_named_key(rq, false, &name, &key);

	if (r)
		return r;
	snprintf(what, sizeof(what), "the new state of '%s'", name);
	if (key.state == KS_PENDING_DELETION)
		return fail(rq, EPERM, "key '%s' is scheduled for deletion: 'hsmkeyctl cancel-deletion %s' first",
			    name, name);
	/* The backend keeps revoked final (-EPERM), whatever was read here. */
	r = key.state == KS_REVOKED ? -EPERM :
	    rq->d->be->ops->set_state(rq->d->be, name, enable ? KS_ACTIVE : KS_DISABLED, 0);
	if (r == -EPERM)
		return fail(rq, EKEYREVOKED, "key '%s' is revoked; revocation is final", name);
	if (r && r != -EINPROGRESS)
		return store_failed(rq, r, what);
	key.state = enable ? KS_ACTIVE : KS_DISABLED;
	if (r)
		return follow_unconfirmed(rq, &key, what, r);
	r = kernel_follow(rq, &key);
	if (r)
		return r;
	log_info("%s key %s", enable ? "enabled" : "disabled", name);
	add_key_fields(rq->reply, &key);
	return 0;
}

int op_disable(struct request *rq)
{
	return set_enabled(rq, false);
}

int op_enable(struct request *rq)
{
	return set_enabled(rq, true);
}

/*
 * Schedule destruction after a waiting period (deletion_wait, or longer
 * with "wait"): meanwhile the key is disabled (the kernel refuses new
 * bindings; open volumes keep working) and cancel-deletion gets it back.
 */
int op_schedule_deletion(struct request *rq)
{
	struct json_object *w = json_object_object_get(rq->req, "wait");
	int64_t wait = deletion_wait(rq->d), at;
	char what[HSMKEY_NAME_MAX + 24];
	struct ks_key key;
	const char *name;
	int r = get_named_key(rq, false, &name, &key);

	if (r)
		return r;
	snprintf(what, sizeof(what), "the deletion of '%s'", name);
	if (w) {
		if (!json_object_is_type(w, json_type_int) || json_object_get_int64(w) < wait ||
		    json_object_get_int64(w) > 3650LL * 86400)
			return fail(rq, EINVAL, "the waiting period must be at least %lld seconds (deletion_wait) and at most 3650 days",
				    (long long)wait);
		wait = json_object_get_int64(w);
	}
	if (key.state == KS_PENDING_DELETION)
		return fail(rq, EALREADY, "key '%s' is already scheduled for deletion", name);
	at = (int64_t)time(NULL) + wait;
	r = rq->d->be->ops->set_state(rq->d->be, name, KS_PENDING_DELETION, at);
	if (r && r != -EINPROGRESS)
		return store_failed(rq, r, what);
	key.prior_state = key.state;
	key.state = KS_PENDING_DELETION;
	key.delete_at = at;
	/* The deletion job looks at the keystore when due: it stands by then or not. */
	note_deletion(rq->d, at);
	if (r)
		return follow_unconfirmed(rq, &key, what, r);
	/* A revoked key's kernel copies are revoked (again: in case they were not). */
	r = kernel_follow(rq, &key);
	log_info("key %s scheduled for deletion at %lld", name, (long long)at);
	add_key_fields(rq->reply, &key);
	return r;
}

/*
 * Keep a key scheduled for deletion: the backend restores the state from
 * before the schedule, so a revoked key stays revoked; an active one is
 * enabled in the kernel again.
 */
int op_cancel_deletion(struct request *rq)
{
	struct ks_key key, was;
	const char *name;
	int r = get_named_key(rq, false, &name, &key);

	if (r)
		return r;
	if (key.state != KS_PENDING_DELETION)
		return fail(rq, EINVAL, "key '%s' is not scheduled for deletion", name);
	was = key;
	r = rq->d->be->ops->cancel_deletion(rq->d->be, name, &key);
	if (r) {
		char what[HSMKEY_NAME_MAX + 24];

		snprintf(what, sizeof(what), "the new state of '%s'", name);
		if (r != -EINPROGRESS)
			return store_failed(rq, r, what);
		/* The state it goes back to, as the backend's answer would say. */
		was.state = was.prior_state ?: KS_DISABLED;
		was.prior_state = 0;
		return follow_unconfirmed(rq, &was, what, r);
	}
	log_info("deletion of key %s cancelled; it is %s again", name, ks_state_name(key.state));
	/* Disabled, or revoked: the kernel's copies are so already. */
	if (key.state == KS_ACTIVE)
		r = kernel_follow(rq, &key);
	if (!r)
		add_key_fields(rq->reply, &key);
	ks_key_wipe(&key);
	return r;
}
