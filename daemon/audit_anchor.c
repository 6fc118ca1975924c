// SPDX-License-Identifier: GPL-2.0
/*
 * The audit anchor (see audit_anchor.h): the log cannot vouch for its own
 * length, so its head is kept where an attacker editing the state
 * directory cannot quietly take it back.  The kernel's copy does not
 * survive a reboot or module reload, the backend's sealed one does; each
 * covers the other's gap.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include "audit.h"
#include "audit_anchor.h"
#include "control.h"
#include "kernel.h"
#include "proto.h"
#include "util.h"

#define ANCHOR_RECORD	"audit-anchor"
#define ANCHOR_LEN	(8 + AUDIT_HEAD_LEN)
#define ABSENT_RETRY_MS	1000

/*
 * Serialises the anchor's moves (so both copies only move forward) without
 * holding d->lock, which the event loop takes, across the keystore's
 * durable write.  Order: anchor_lock, then d->lock.  It also guards the
 * failure states (a warning once per run of failures, not every record)
 * and the sequence number the keystore holds (UINT64_MAX: not read yet).
 */
static pthread_mutex_t anchor_lock = PTHREAD_MUTEX_INITIALIZER;
static int kernel_failed, store_failed;
static uint64_t stored_seq = UINT64_MAX;

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static bool module_absent(int r)
{
	return r == -ENOENT || r == -EPROTONOSUPPORT;
}

/* Report the first failure of a run (@what), and the recovery after one. */
static void note(int *failed, int r, const char *what, const char *why)
{
	if (r && r != *failed)
		log_warn("cannot store the audit anchor %s: %s%s%s", what, strerror(-r),
			 *why ? ": " : "", why);
	else if (!r && *failed)
		log_info("the audit anchor is stored %s again", what);
	*failed = r;
}

/*
 * Until when no module is there to keep the anchor in (looked for again
 * once a second): written under d->lock, read without it too, so that a
 * host without the module (the KMS API alone) takes no lock per record.
 */
static int64_t absent_until;
/*
 * The head's sequence number last given to the kernel, under d->lock (0:
 * unknown).  The same head is not sent twice; if the module dropped it
 * meanwhile (its slot given to another keystore), the next record's head
 * goes there.
 */
static uint64_t kernel_seq;

static bool kernel_absent(const struct daemon *d, int64_t now)
{
	return !__atomic_load_n(&d->anchor, __ATOMIC_RELAXED) &&
	       now < __atomic_load_n(&absent_until, __ATOMIC_RELAXED);
}

/*
 * The kernel's copy goes out on the socket registered on /dev/hsmkey (see
 * kernel.h); the socket it is built on is kept across records (every
 * kernel event makes a record), opened again after a failure.
 */
static void anchor_kernel(struct daemon *d, uint64_t seq, const uint8_t *head)
{
	const uint8_t *owner = d->be->ops->instance(d->be);
	int64_t now = proto_deadline(0);
	int r;

	if (kernel_absent(d, now))
		return;
	/* Another thread's call took it there already (records of several at once). */
	if (d->anchor && seq == kernel_seq)
		return;
	if (!d->anchor) {
		struct kernel *k;

		r = kernel_open(&k);
		if (module_absent(r)) {
			__atomic_store_n(&absent_until, now + ABSENT_RETRY_MS, __ATOMIC_RELAXED);
			return;
		}
		if (!r)
			__atomic_store_n(&d->anchor, k, __ATOMIC_RELAXED);
	} else {
		r = 0;
	}
	if (!r)
		r = kernel_audit_set(d->anchor, owner, seq, head);
	kernel_seq = r ? 0 : seq;
	note(&kernel_failed, r, "in the kernel", r && d->anchor ? kernel_errmsg(d->anchor) : "");
	if (r && d->anchor) {
		kernel_close(d->anchor);
		__atomic_store_n(&d->anchor, NULL, __ATOMIC_RELAXED);
	}
}

static int load_stored(struct daemon *d, uint8_t *buf)
{
	int n = d->be->ops->record_load ?
		d->be->ops->record_load(d->be, ANCHOR_RECORD, buf, ANCHOR_LEN) : -EOPNOTSUPP;

	if (n >= 0 && n != ANCHOR_LEN)
		n = -EBADMSG;
	if (n < 0 && n != -ENOENT && n != -EOPNOTSUPP)
		log_warn("cannot read the audit anchor kept in the keystore: %s", strerror(-n));
	return n;
}

/*
 * Like the kernel's, the keystore's copy only moves forward: a log cut
 * short and written on keeps failing verification until it has passed
 * the point it was cut at (the start check's record stays in the chain).
 */
static void anchor_backend(struct daemon *d, uint64_t seq, const uint8_t *head)
{
	uint8_t buf[ANCHOR_LEN];
	int r;

	if (stored_seq == UINT64_MAX)
		stored_seq = load_stored(d, buf) == ANCHOR_LEN ? get_be64(buf) : 0;
	if (seq <= stored_seq || !d->be->ops->record_store)
		return;
	put_be64(buf, seq);
	memcpy(buf + 8, head, AUDIT_HEAD_LEN);
	r = d->be->ops->record_store(d->be, ANCHOR_RECORD, buf, sizeof(buf));
	note(&store_failed, r, "in the keystore", "");
	if (!r)
		stored_seq = seq;
}

/*
 * Each copy under its own lock, the head read under it, so each moves
 * forward in order: the kernel's under d->lock (a netlink call, never
 * long), the keystore's under anchor_lock (a sealed write that can wait
 * for the backend).
 */
void audit_anchor_kernel(struct daemon *d)
{
	uint8_t head[AUDIT_HEAD_LEN];
	uint64_t seq;

	if (kernel_absent(d, proto_deadline(0)))
		return;
	pthread_mutex_lock(&d->lock);	/* guards d->anchor */
	seq = audit_head(d->audit, head);
	if (seq)
		anchor_kernel(d, seq, head);
	pthread_mutex_unlock(&d->lock);
}

void audit_anchor(struct daemon *d)
{
	uint8_t head[AUDIT_HEAD_LEN];
	uint64_t seq;

	audit_anchor_kernel(d);
	pthread_mutex_lock(&anchor_lock);
	seq = audit_head(d->audit, head);
	if (seq)
		anchor_backend(d, seq, head);
	pthread_mutex_unlock(&anchor_lock);
}

void audit_anchor_get(struct daemon *d, uint64_t *seq, uint8_t *head)
{
	uint8_t buf[ANCHOR_LEN], khead[AUDIT_HEAD_LEN];
	uint64_t kseq = 0;
	struct kernel *k;

	*seq = 0;
	if (load_stored(d, buf) == ANCHOR_LEN) {
		*seq = get_be64(buf);
		memcpy(head, buf + 8, AUDIT_HEAD_LEN);
	}
	if (!kernel_open(&k)) {
		if (kernel_audit_get(k, d->be->ops->instance(d->be), &kseq, khead))
			kseq = 0;
		kernel_close(k);
	}
	/* Ties go to the kernel: the copy no file in the state directory holds. */
	if (kseq && kseq >= *seq) {
		*seq = kseq;
		memcpy(head, khead, AUDIT_HEAD_LEN);
	}
}

void audit_anchor_check(struct daemon *d)
{
	struct audit_who me = { .uid = getuid(), .pid = getpid(), .comm = "hsmkeyd" };
	uint8_t head[AUDIT_HEAD_LEN];
	uint64_t anchor, records, checkpoints;
	char msg[512];

	if (!d->audit)
		return;
	audit_anchor_get(d, &anchor, head);
	if (!audit_verify(d->audit, anchor, head, msg, sizeof(msg), &records, &checkpoints))
		return;
	log_error("the audit log does not verify: %s", msg);
	if (!audit_record(d->audit, &me, "audit-check", NULL, 0, -EBADMSG, msg))
		audit_anchor(d);
}
