/* SPDX-License-Identifier: GPL-2.0 */
#ifndef HSMKEY_CONTROL_H
#define HSMKEY_CONTROL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include "audit.h"
#include "backend.h"
#include "config.h"
#include "kernel.h"

/* Denial events are recorded as one count per this many seconds. */
#define DENIALS_SECONDS	10

struct audit;
struct wrapkey;

/*
 * The daemon's state, shared by the event loop (main.c) and the workers
 * (worker.c).  The event loop owns @events, @last_kseq, @last_suppressed,
 * @resync and the @denials summary.  @mutate is held across every change
 * to keys (an admin request, a reconciliation, a destruction), so changes
 * happen one at a time and in the audit log's order; reads take no lock,
 * and no client I/O happens under it.  @lock guards @anchor (which
 * audit_anchor.c also reads without it, atomically, only against NULL),
 * @next_deletion and @reconciling (the event loop takes it: it is never
 * held long); @wrap_lock guards @wrapkey (making one takes a second);
 * @cfg_lock the groups and deletion_wait in @cfg, which SIGHUP replaces.
 * @data_keys is held across the check of a data key's count and its add
 * to the kernel (kms_kernel.c), which counts @data_keys_added (written
 * under it, read without it atomically).
 * Order: data_keys, then mutate, then wrap_lock, then lock.
 */
struct daemon {
	pthread_mutex_t data_keys;
	uint64_t data_keys_added;
	pthread_mutex_t mutate;
	pthread_mutex_t lock;
	pthread_mutex_t wrap_lock;
	pthread_rwlock_t cfg_lock;
	struct config *cfg;
	struct backend *be;		/* key storage */
	int statefd;			/* the state directory (audit log) */
	struct wrapkey *wrapkey;	/* the import wrapping key, made on first use */
	int64_t next_deletion;		/* earliest pending destruction, 0: none */
	struct audit *audit;
	struct kernel *events;		/* the kernel's events group, or NULL */
	struct kernel *anchor;		/* for the audit anchor, or NULL */
	uint64_t last_kseq;		/* of the last kernel event seen */
	uint64_t last_suppressed;	/* the kernel's count of rate-limited events */
	bool resync;			/* events were lost: converge again */
	uint64_t denials;		/* DENY events not yet recorded ... */
	int64_t denials_until;		/* ... until this time (s) ... */
	struct kernel_event denial_last;	/* ... the last of them */
	bool reconciling;		/* under @lock: a reconciliation is queued or runs */
	unsigned int comebacks;		/* under @lock: the storage's, at the last one */
	const char *state_dir;
	const char *socket_path;
	struct workers *workers;	/* set once they run */
	struct kms_keys *kms;		/* the KMS API's memory (kms_keys.h) */
};

/* A reply not taken by the client within this is given up (and the client). */
#define SEND_MS		5000
/* The same for a streamed reply, all its messages together. */
#define STREAM_MS	30000
/* A key file passed as a pipe must be written within this. */
#define INPUT_MS	2000

/* control.c: the socket, authorisation, dispatch, the audit bracket */
/*
 * A record that could not be written (-@r): logged; @r when the log fails
 * closed (the call is refused), 0 when it fails open.
 */
int control_audit_failed(struct daemon *d, int r);
int control_listen(const char *path);
/* Who is connected on @cfd (SO_PEERCRED), and whether root or the admin group. */
int control_peer(struct daemon *d, int cfd, struct ucred *cred, bool *admin);
/* The same for a peer whose credentials @cred were taken already (a request's). */
bool control_peer_admin(struct daemon *d, int cfd, const struct ucred *cred);
/*
 * Whether the peer on @cfd has one of @n gids in @gids as its primary group
 * (@cred's) or one of its supplementary groups (SO_PEERGROUPS: the
 * credentials it had when it connected).
 */
bool control_peer_in_gids(int cfd, const struct ucred *cred, const gid_t *gids, size_t n);
/*
 * A connected client as the thread serving its requests in a row knows it
 * (worker.c): its credentials (SO_PEERCRED: those of when it connected,
 * which never change) and its name (/proc/PID/comm, for the audit log
 * only: a process names itself), read at the first request of the row,
 * not at each.
 */
struct control_peer {
	struct ucred cred;
	char comm[AUDIT_COMM_MAX];
	bool known;
};
/*
 * Serve one request on a connected client, @peer as earlier requests in
 * the row left it (zeroed for the first); -ECONNRESET when it has gone,
 * CONTROL_DETACHED when a handshake thread has it now (worker.h).
 */
#define CONTROL_DETACHED 1
int control_serve(struct daemon *d, int cfd, struct control_peer *peer);
struct request;
/*
 * The reply to @rq (served: @r 0, or -errno and rq->err), sent; then @rq's
 * resources freed.  The send's result.
 */
int control_reply(struct request *rq, int r);
/* Append a record of the daemon's own (start, stop) and keep the anchor. */
int control_audit(struct daemon *d, const char *op, int result, const char *detail);

/*
 * storage.c: the backend and the audit log (a backend that is unreachable
 * leaves @audit NULL: degraded); before each worker job, a degraded start
 * whose storage is back gets its audit log and a reconciliation.
 */
int open_storage(struct daemon *d, unsigned int flags);
void control_storage_resume(struct daemon *d);

/* events.c: join the kernel's events group if not yet (the module may load later) */
void control_events_open(struct daemon *d);
/* Record every queued kernel event; a gap or overrun asks for a reconciliation. */
void control_events_read(struct daemon *d);
/*
 * Record the denials counted so far, when their interval is over or @now:
 * the seconds until it is over (-1: none counted).
 */
int control_denials_flush(struct daemon *d, bool now);

/* deletion.c: the seconds until a deletion is due (0: now; -1: none pending) */
int control_deletions_due(struct daemon *d);
/* Destroy the keys whose deletion is due (a worker job). */
void control_deletions_run(struct daemon *d);

/* reconcile.c: converge the kernel with the keystore; returns how many failed */
int control_load_all(struct daemon *d);
/* control_load_all() under the mutation lock (a worker job). */
void control_reconcile(struct daemon *d);
/* Event loop: converge again (SIGHUP, lost events) ... */
void control_reconcile_request(struct daemon *d);
/* ... and whether to queue the reconciliation now (one at a time). */
bool control_reconcile_due(struct daemon *d);
/* At stop: store what the kernel has spent of each of our keys' versions ... */
void control_usage_save(struct daemon *d);
/* ... and every minute (JOB_USAGE, under d->mutate) of those that spent 2^22 requests since. */
void control_usage_save_grown(struct daemon *d);

#endif
