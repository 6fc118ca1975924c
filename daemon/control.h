/* SPDX-License-Identifier: GPL-2.0 */
#ifndef HSMKEY_CONTROL_H
#define HSMKEY_CONTROL_H

#include "config.h"
#include <stdbool.h>
#include <stdint.h>
#include "backend.h"

struct audit;
struct kernel;
struct wrapkey;

struct daemon {
	const struct config *cfg;
	struct backend *be;		/* key storage */
	int statefd;			/* the state directory (audit log) */
	struct wrapkey *wrapkey;	/* the import wrapping key, made on first use */
	int64_t next_deletion;		/* earliest pending destruction, 0: none */
	struct audit *audit;
	struct kernel *events;		/* the kernel's events group, or NULL */
	struct kernel *anchor;		/* for the audit anchor, or NULL */
	uint64_t last_kseq;		/* of the last kernel event seen */
	bool resync;			/* events were lost: converge again */
	const char *state_dir;
	const char *socket_path;
};

int control_listen(const char *path);
/* Serve one request on a connected client; -ECONNRESET when it has gone. */
int control_serve(struct daemon *d, int cfd);
/* Provision every active key into the kernel; returns how many failed. */
int control_load_all(struct daemon *d);
/* Join the kernel's events group if not yet (the module may load later). */
void control_events_open(struct daemon *d);
void control_audit_check(struct daemon *d);
/* Record every queued kernel event; a gap or overrun triggers a resync. */
void control_events_read(struct daemon *d);
/*
 * Destroy the keys whose deletion is due; returns the seconds until the
 * next one is (-1: none pending), for the event loop's timeout.
 */
int control_deletions(struct daemon *d);
/* Append a record of the daemon's own (start, stop) and keep the anchor. */
int control_audit(struct daemon *d, const char *op, int result, const char *detail);

#endif
