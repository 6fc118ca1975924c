/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The daemon's worker threads.  The event loop (main.c) never calls a
 * key storage backend, which may take seconds (an HSM, a key server): it
 * hands each client request, each reconciliation and each round of due
 * deletions to a worker, and goes on reading kernel events and serving
 * other clients.  A client's socket leaves the loop's poll set while its
 * request is with a worker and comes back through workers_collect().
 */
#ifndef HSMKEY_WORKER_H
#define HSMKEY_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include "clients.h"

/*
 * Two more than the connections one user other than root and the admin
 * group may hold (clients.h): however many of that user's requests stall
 * (a client that does not read its reply holds its worker until the send
 * deadline), one thread is left for other such users and one for admins
 * (worker.c).
 */
#define WORKERS (CLIENTS_PER_UID + 2)
/*
 * Threads of their own for TLS handshakes (handshake.c), which may wait on
 * a peer for up to their deadline: never on the WORKERS above.  One for
 * each client connection there may be (a client has one request at a
 * time), started as they are first needed.
 */
#define HANDSHAKE_WORKERS MAX_CLIENTS

enum job_type {
	JOB_CLIENT,		/* serve one request on the socket */
	JOB_RECONCILE,		/* converge the kernel with the keystore */
	JOB_DELETIONS,		/* destroy the keys whose deletion is due */
	JOB_HANDSHAKE,		/* a client's handshake (handshake_job_run()) */
	JOB_USAGE,		/* store what the kernel has spent (control_usage_save_grown()) */
};

struct daemon;
struct workers;

int workers_start(struct daemon *d, struct workers **out);
/*
 * Queue a job; -ENOMEM if it cannot (the caller then closes a client).
 * @shared: a client who is neither root nor admin (see worker.c).
 */
int workers_submit(struct workers *w, enum job_type type, int fd, bool shared);
/*
 * Queue client @fd's handshake @job for a handshake thread, which runs
 * handshake_job_run(@job) and gives @fd back to the event loop.
 */
int workers_submit_handshake(struct workers *w, int fd, void *job);
/* Readable when finished clients are waiting to be collected. */
int workers_donefd(const struct workers *w);
/*
 * Finished jobs: a client's socket and whether it stays connected, or
 * DONE_DELETIONS / DONE_RECONCILE / DONE_USAGE for the daemon's own jobs.
 */
#define DONE_DELETIONS	(-1)
#define DONE_RECONCILE	(-2)
#define DONE_USAGE	(-3)
size_t workers_collect(struct workers *w, int *fds, bool *keep, size_t max);
/* Let queued and running jobs finish, then stop the threads. */
void workers_stop(struct workers *w);

#endif
