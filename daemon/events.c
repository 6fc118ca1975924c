// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel-event intake: the events group read in the event loop, each event
 * recorded in the audit log (denials as one count per interval), a gap or
 * overrun asking for a reconciliation.
 */
#include <stdio.h>
#include <time.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "audit.h"
#include "audit_anchor.h"
#include "control.h"
#include "util.h"

/*
 * A record of the daemon's own, from the event loop: the kernel's anchor
 * follows at once, the keystore's at the next request (the loop never
 * waits on the backend, whose lock a long listing may hold).
 */
static void record(struct daemon *d, const char *op, int result, const char *detail)
{
	struct audit_who me = { .uid = getuid(), .pid = getpid(), .comm = "hsmkeyd" };
	int r;

	if (!d->audit)
		return;
	r = audit_record(d->audit, &me, op, NULL, 0, result, detail);
	if (r)
		log_error("cannot write the audit log: %s", strerror(-r));
	else
		audit_anchor_kernel(d);
}

static int on_kernel_event(const struct kernel_event *e, void *arg)
{
	struct daemon *d = arg;
	char detail[96];

	if (d->last_kseq && e->seq > d->last_kseq + 1) {
		/* An overrun: record, then resync. */
		snprintf(detail, sizeof(detail), "kernel events %llu to %llu were not received",
			 (unsigned long long)d->last_kseq + 1, (unsigned long long)e->seq - 1);
		record(d, "events-lost", -ENOBUFS, detail);
		control_reconcile_request(d);
	}
	/* Binds and denials the rate limit held back: no sequence number, a count. */
	if (d->last_kseq && e->suppressed > d->last_suppressed) {
		snprintf(detail, sizeof(detail),
			 "the kernel's rate limit held back %llu bind or deny events",
			 (unsigned long long)(e->suppressed - d->last_suppressed));
		record(d, "events-suppressed", 0, detail);
	}
	if (e->suppressed > d->last_suppressed)
		d->last_suppressed = e->suppressed;
	d->last_kseq = e->seq;
	if (e->type == HSMKEY_EVENT_DENY) {
		/* A flood of refused tokens costs one record per interval. */
		if (!d->denials++)
			d->denials_until = (int64_t)time(NULL) + DENIALS_SECONDS;
		d->denial_last = *e;
		return 0;
	}
	control_denials_flush(d, true);	/* in order, before the next record */
	if (d->audit && !audit_kernel_event(d->audit, e->type, e->seq, e->id, e->version,
					     e->uid, e->pid, e->comm, e->err))
		audit_anchor_kernel(d);
	return 0;
}

int control_denials_flush(struct daemon *d, bool now)
{
	char detail[200], id[2 * HSMKEY_ID_LEN + 1];
	int64_t left = d->denials_until - (int64_t)time(NULL);
	const struct kernel_event *e = &d->denial_last;

	if (!d->denials)
		return -1;
	if (!now && left > 0)
		return (int)left;
	hex_encode(e->id, HSMKEY_ID_LEN, id);
	snprintf(detail, sizeof(detail),
		 "the kernel refused %llu token(s) in %d s; the last: key id %s version %u, uid %u, pid %u, errno %u (kernel events up to %llu)",
		 (unsigned long long)d->denials, DENIALS_SECONDS, id, e->version, e->uid, e->pid,
		 e->err, (unsigned long long)e->seq);
	record(d, "denials", 0, detail);
	d->denials = 0;
	return -1;
}

void control_events_open(struct daemon *d)
{
	if (d->events || kernel_events_open(&d->events))
		return;
	log_info("recording the kernel's events in the audit log");
}

void control_events_read(struct daemon *d)
{
	int r;

	if (!d->events)
		return;
	r = kernel_events_read(d->events, on_kernel_event, d);
	if (r == -ENOBUFS) {
		record(d, "events-lost", r, "the event socket overran; resynchronising");
		control_reconcile_request(d);
	}
	/* Lost events: the event loop queues one reconciliation (reconcile.c). */
	if (r && r != -ENOBUFS) {
		log_warn("the kernel's events group failed (%s); leaving it", strerror(-r));
		kernel_close(d->events);
		d->events = NULL;
	}
}
