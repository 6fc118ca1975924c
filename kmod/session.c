// SPDX-License-Identifier: GPL-2.0
/*
 * Session keys for kTLS: a key the daemon hands over for one setkey(),
 * named by a short token (uapi/linux/hsmkey.h, "kTLS session tokens").
 *
 * A token's MAC covers its handle and length only, so that it tells a
 * token from a raw key with or without its entry: handles are never
 * reused while the module is loaded (the handle is the generation), and
 * what else binds the key (expiry, owner) is the entry's, in kernel memory.
 * A token whose entry is gone (spent and pruned, expired, withdrawn) is
 * refused, never taken for a raw key.
 *
 * Entries live in an xarray indexed by handle; the xarray's own lock (a
 * spinlock, taken with bottom halves off: setkey() may come from any
 * context) covers every field of every entry but the record count (an
 * atomic), and the counters below; a bound tfm's requests also read the
 * state without it (READ_ONCE: a revocation is seen by the requests that
 * follow it).  An entry is waiting when added: the pruning work
 * (every second while any wait) frees it once its lifetime is over, as
 * hsmkey_session_flush() does when the daemon closes /dev/hsmkey.  Taken,
 * it is spent: its material wiped from the table, and the entry bound to
 * the tfm that took it (ktls.c), which holds a reference and counts its
 * requests here; it may be revoked then, which refuses the tfm's next
 * requests.  A spent entry leaves the table when that tfm lets it go (is
 * freed or keyed again), the daemon's close notwithstanding: the
 * connection outlives a daemon restart, as a loaded key does.
 *
 * References: the table holds one while the entry is in it, the bound tfm
 * one; the last put frees it.
 */
#include <crypto/algapi.h>
#include <crypto/hash.h>
#include <crypto/sha2.h>
#include <linux/cred.h>
#include <linux/pid.h>
#include <linux/random.h>
#include <linux/refcount.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <linux/hsmkey.h>
#include "compat.h"
#include "session.h"

#define HSMKEY_SESSION_KEY_MAX	32
#define HSMKEY_SESSION_HDR	8	/* magic and handle */

struct hsmkey_session {
	refcount_t ref;
	u64 expires;		/* ktime_get_boottime_ns() */
	struct pid *owner;	/* the thread group that added it */
	kuid_t euid;		/* and its effective uid then */
	u32 handle;
	u8 len;
	u8 state;		/* enum hsmkey_session_state */
	atomic64_t records;	/* the bound tfm's requests, refused ones too */
	u8 material[HSMKEY_SESSION_KEY_MAX];
};

/* What the token's MAC covers. */
struct hsmkey_session_mac_in {
	char label[18];		/* "hsmkey session v1" NUL */
	__be32 handle;
	u8 len;
} __packed;

static DEFINE_XARRAY_FLAGS(hsmkey_sessions, XA_FLAGS_LOCK_BH);
static u32 hsmkey_session_last;		/* under the xarray's lock */
static unsigned int hsmkey_session_n;	/* likewise: waiting entries */
static unsigned int hsmkey_session_nbound;	/* likewise: spent ones */
static bool hsmkey_session_frozen;	/* likewise: hibernating */
static bool hsmkey_session_held;	/* likewise: KUnit holds pruning back */
/* Set once by init, keyed with the per-load secret; NULL: no sessions. */
static struct crypto_shash *hsmkey_session_tfm;

static void hsmkey_session_prune(struct work_struct *work);
static DECLARE_DELAYED_WORK(hsmkey_session_work, hsmkey_session_prune);

static bool hsmkey_session_len_ok(unsigned int len)
{
	return len == 16 || len == HSMKEY_SESSION_KEY_MAX;
}

/* The MAC of the token of @handle for a key of @len bytes. */
static int hsmkey_session_mac(u32 handle, unsigned int len, u8 *mac)
{
	SHASH_DESC_ON_STACK(desc, hsmkey_session_tfm);
	struct hsmkey_session_mac_in in = {
		.label = "hsmkey session v1",
		.handle = cpu_to_be32(handle),
		.len = len,
	};
	int err;

	desc->tfm = hsmkey_session_tfm;
	err = crypto_shash_digest(desc, (const u8 *)&in, sizeof(in), mac);
	shash_desc_zero(desc);
	return err;
}

static void hsmkey_session_put(struct hsmkey_session *s)
{
	if (refcount_dec_and_test(&s->ref)) {
		put_pid(s->owner);
		kfree_sensitive(s);
	}
}

/* Under the lock: @s out of the table, its material wiped. */
static void hsmkey_session_drop(struct hsmkey_session *s)
{
	__xa_erase(&hsmkey_sessions, s->handle);
	if (s->state == HSMKEY_SESSION_WAITING)
		hsmkey_session_n--;
	else
		hsmkey_session_nbound--;
	memzero_explicit(s->material, sizeof(s->material));
	hsmkey_session_put(s);
}

static void hsmkey_session_prune(struct work_struct *work)
{
	u64 now = ktime_get_boottime_ns();
	struct hsmkey_session *s;
	unsigned long i;
	bool more;

	xa_lock_bh(&hsmkey_sessions);
	xa_for_each(&hsmkey_sessions, i, s)
		if (s->state == HSMKEY_SESSION_WAITING && s->expires <= now &&
		    !hsmkey_session_held)
			hsmkey_session_drop(s);
	more = hsmkey_session_n;
	xa_unlock_bh(&hsmkey_sessions);
	if (more)
		queue_delayed_work(system_wq, &hsmkey_session_work, HZ);
}

/* Under the lock: the next handle, never one used before in this load. */
static int hsmkey_session_insert(struct hsmkey_session *s)
{
	int err;

	if (hsmkey_session_frozen)
		return -EAGAIN;
	if (hsmkey_session_n >= HSMKEY_SESSION_MAX)
		return -ENOSPC;
	if (hsmkey_session_last == U32_MAX)
		return -ENOSPC;	/* 2^32 - 1 session keys in one load */
	s->handle = hsmkey_session_last + 1;
	err = __xa_insert(&hsmkey_sessions, s->handle, s, GFP_ATOMIC);
	if (err)
		return err;
	hsmkey_session_last = s->handle;
	hsmkey_session_n++;
	return 0;
}

/*
 * A session key of @len bytes at @material, usable by the calling thread
 * group for @ttl seconds, once: its token (@len bytes) at @token.
 */
int hsmkey_session_add(const u8 *material, unsigned int len, unsigned int ttl,
		       u8 *token, u32 *handle)
{
	struct hsmkey_session *s;
	u8 mac[SHA256_DIGEST_SIZE];
	int err;

	if (!hsmkey_session_len_ok(len) || !ttl || ttl > HSMKEY_SESSION_TTL_MAX)
		return -EINVAL;
	if (!hsmkey_session_tfm)
		return -EOPNOTSUPP;
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	refcount_set(&s->ref, 1);
	s->state = HSMKEY_SESSION_WAITING;
	s->owner = get_task_pid(current, PIDTYPE_TGID);
	s->euid = current_euid();
	s->len = len;
	s->expires = ktime_get_boottime_ns() + (u64)ttl * NSEC_PER_SEC;
	memcpy(s->material, material, len);

	xa_lock_bh(&hsmkey_sessions);
	err = hsmkey_session_insert(s);
	/* @s may go as soon as the lock does: its handle from a copy. */
	*handle = s->handle;
	xa_unlock_bh(&hsmkey_sessions);
	if (err) {
		put_pid(s->owner);
		kfree_sensitive(s);
		return err;
	}
	queue_delayed_work(system_wq, &hsmkey_session_work, HZ);

	err = hsmkey_session_mac(*handle, len, mac);
	if (!err) {
		memcpy(token, HSMKEY_SESSION_MAGIC, 4);
		put_unaligned_be32(*handle, token + 4);
		memcpy(token + HSMKEY_SESSION_HDR, mac, len - HSMKEY_SESSION_HDR);
	} else {
		/* No token for it: out again, unless the daemon's close took it. */
		xa_lock_bh(&hsmkey_sessions);
		s = xa_load(&hsmkey_sessions, *handle);
		if (s)
			hsmkey_session_drop(s);
		xa_unlock_bh(&hsmkey_sessions);
	}
	memzero_explicit(mac, sizeof(mac));
	return err;
}

/* Under the lock: may the calling task take @s? */
static int hsmkey_session_check(struct hsmkey_session *s)
{
	if (s->state != HSMKEY_SESSION_WAITING)
		return -EKEYREVOKED;
	if (s->expires <= ktime_get_boottime_ns()) {
		memzero_explicit(s->material, sizeof(s->material));
		return -EKEYEXPIRED;
	}
	if (task_tgid(current) != s->owner || !uid_eq(current_euid(), s->euid))
		return -EACCES;
	return 0;
}

/*
 * setkey()'s bytes @buf (@len): 0 if they are not a token of this load's
 * (a raw key then), 1 if they were and the key is now at @material (@len
 * bytes; spent here) with its entry at @bound (the caller's reference,
 * for hsmkey_session_use() and, once done with it, hsmkey_session_unbind()),
 * or the refusal of a token.
 */
int hsmkey_session_take(const u8 *buf, unsigned int len, u8 *material,
			struct hsmkey_session **bound)
{
	struct hsmkey_session *s;
	u8 mac[SHA256_DIGEST_SIZE];
	u32 handle;
	int err;

	if (!hsmkey_session_len_ok(len) || !hsmkey_session_tfm ||
	    memcmp(buf, HSMKEY_SESSION_MAGIC, 4))
		return 0;
	handle = get_unaligned_be32(buf + 4);
	/* Whether or not the handle is in the table: no timing to tell. */
	err = hsmkey_session_mac(handle, len, mac);
	if (!err && crypto_memneq(mac, buf + HSMKEY_SESSION_HDR,
				  len - HSMKEY_SESSION_HDR))
		err = 1;	/* not made by this load: a raw key */
	memzero_explicit(mac, sizeof(mac));
	if (err)
		return err > 0 ? 0 : err;

	xa_lock_bh(&hsmkey_sessions);
	s = xa_load(&hsmkey_sessions, handle);
	if (!s) {
		/* Spent or expired and pruned since, or withdrawn. */
		err = -EKEYREVOKED;
	} else {
		err = hsmkey_session_check(s);
		if (!err) {
			memcpy(material, s->material, len);
			memzero_explicit(s->material, sizeof(s->material));
			s->state = HSMKEY_SESSION_SPENT;
			hsmkey_session_n--;
			hsmkey_session_nbound++;
			refcount_inc(&s->ref);
			*bound = s;
			err = 1;
		}
	}
	xa_unlock_bh(&hsmkey_sessions);
	return err;
}

/*
 * A request of the tfm @s is bound to: 0, or -EKEYREVOKED once revoked,
 * -EKEYEXPIRED past HSMKEY_SESSION_RECORDS_MAX requests.  Lockless: the
 * state is read once, the count is atomic.
 */
int hsmkey_session_use(struct hsmkey_session *s)
{
	u64 n = atomic64_inc_return(&s->records);

	if (READ_ONCE(s->state) == HSMKEY_SESSION_REVOKED)
		return -EKEYREVOKED;
	if (n > HSMKEY_SESSION_RECORDS_MAX)
		return -EKEYEXPIRED;
	return 0;
}

/* The tfm bound to @s is done with it (freed, or keyed again). */
void hsmkey_session_unbind(struct hsmkey_session *s)
{
	xa_lock_bh(&hsmkey_sessions);
	if (xa_load(&hsmkey_sessions, s->handle) == s)
		hsmkey_session_drop(s);
	hsmkey_session_put(s);
	xa_unlock_bh(&hsmkey_sessions);
}

/*
 * Revoke the session key of @handle: a waiting one is withdrawn (wiped;
 * its token refused from now on), a spent one refuses its tfm's next
 * requests.  0, or -ENOENT if no such key is in the table.
 */
int hsmkey_session_revoke(u32 handle)
{
	struct hsmkey_session *s;
	int err = 0;

	xa_lock_bh(&hsmkey_sessions);
	s = xa_load(&hsmkey_sessions, handle);
	if (!s)
		err = -ENOENT;
	else if (s->state == HSMKEY_SESSION_WAITING)
		hsmkey_session_drop(s);
	else
		WRITE_ONCE(s->state, HSMKEY_SESSION_REVOKED);
	xa_unlock_bh(&hsmkey_sessions);
	return err;
}

/*
 * What became of the session key of @handle: enum hsmkey_session_state,
 * with its tfm's requests so far at @records, or -ENOENT once it is out
 * of the table.
 */
int hsmkey_session_state(u32 handle, u64 *records)
{
	struct hsmkey_session *s;
	int state = -ENOENT;

	xa_lock_bh(&hsmkey_sessions);
	s = xa_load(&hsmkey_sessions, handle);
	if (s) {
		state = s->state;
		*records = atomic64_read(&s->records);
	}
	xa_unlock_bh(&hsmkey_sessions);
	return state;
}

/* For KUnit: @s's tfm has made @n requests. */
void hsmkey_session_records_set(struct hsmkey_session *s, u64 n)
{
	atomic64_set(&s->records, n);
}

/* For KUnit: keep expired entries in the table (@hold) to see them refused. */
void hsmkey_session_prune_hold(bool hold)
{
	xa_lock_bh(&hsmkey_sessions);
	hsmkey_session_held = hold;
	xa_unlock_bh(&hsmkey_sessions);
}

/*
 * Hibernation: refused while session keys wait in the table (the image
 * would hold them), and no new ones until thawed.  0 when frozen.  (A
 * spent one's key is its tfm's, as a raw kTLS key is the socket's.)
 */
int hsmkey_session_freeze(void)
{
	int err = 0;

	xa_lock_bh(&hsmkey_sessions);
	if (hsmkey_session_n)
		err = -EBUSY;
	else
		hsmkey_session_frozen = true;
	xa_unlock_bh(&hsmkey_sessions);
	return err;
}

void hsmkey_session_thaw(void)
{
	xa_lock_bh(&hsmkey_sessions);
	hsmkey_session_frozen = false;
	xa_unlock_bh(&hsmkey_sessions);
}

/*
 * Every waiting session key wiped (the daemon that added them is gone),
 * and with @all the spent ones' entries too (unload: no tfm is left).
 */
static void hsmkey_session_wipe(bool all)
{
	struct hsmkey_session *s;
	unsigned long i;

	xa_lock_bh(&hsmkey_sessions);
	xa_for_each(&hsmkey_sessions, i, s)
		if (all || s->state == HSMKEY_SESSION_WAITING)
			hsmkey_session_drop(s);
	xa_unlock_bh(&hsmkey_sessions);
}

void hsmkey_session_flush(void)
{
	hsmkey_session_wipe(false);
}

/* Session keys waiting in the table, and (@bound) spent ones. */
unsigned int hsmkey_session_count(unsigned int *bound)
{
	unsigned int n;

	xa_lock_bh(&hsmkey_sessions);
	n = hsmkey_session_n;
	if (bound)
		*bound = hsmkey_session_nbound;
	xa_unlock_bh(&hsmkey_sessions);
	return n;
}

/* The MAC, keyed with a secret of this load's that never leaves it. */
int hsmkey_session_init(void)
{
	struct crypto_shash *tfm;
	u8 secret[SHA256_DIGEST_SIZE];
	int err;

	tfm = crypto_alloc_shash("hmac(sha256)", 0, 0);
	if (IS_ERR(tfm))
		return PTR_ERR(tfm);
	get_random_bytes(secret, sizeof(secret));
	err = crypto_shash_setkey(tfm, secret, sizeof(secret));
	memzero_explicit(secret, sizeof(secret));
	if (err) {
		crypto_free_shash(tfm);
		return err;
	}
	hsmkey_session_tfm = tfm;
	return 0;
}

bool hsmkey_session_ready(void)
{
	return hsmkey_session_tfm;
}

void hsmkey_session_exit(void)
{
	if (!hsmkey_session_tfm)
		return;
	cancel_delayed_work_sync(&hsmkey_session_work);
	hsmkey_session_wipe(true);
	crypto_free_shash(hsmkey_session_tfm);
	hsmkey_session_tfm = NULL;
}
