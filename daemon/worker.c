// SPDX-License-Identifier: GPL-2.0
/*
 * Worker threads: one queue of jobs, WORKERS threads taking them in order,
 * except that requests of users other than root and the admin group run
 * on at most WORKERS - 1 threads at once: however many of them stall
 * (a client that does not read its reply holds its worker until the send
 * deadline), an admin's request or the daemon's own job finds a thread.
 * One such user has at most CLIENTS_PER_UID connections, each with one
 * request at a time, so its requests alone never fill those WORKERS - 1:
 * another user's request finds a thread too.
 * A TLS handshake, which waits on a peer for up to its deadline, goes
 * from the worker that read its request to a queue of its own, taken by
 * other threads, so that slow peers hold no worker: one is started
 * whenever a handshake finds none idle, up to HANDSHAKE_WORKERS, as many
 * as clients may be connected, so that none waits for another's.  They
 * stay once started (each keeps its socket to the module, handshake.c);
 * clients one after the other may find the last one still replying, and
 * start another, so a busy server grows the pool towards that bound.
 * Changes to keys are serialised by the daemon's mutation lock (taken in
 * control.c), so a slow change delays only other changes; reads and the
 * event loop go on.  A thread that has replied to a client serves that
 * client's next request itself if it comes within LINGER_MS and no other
 * job waits for a thread (next_request()): a job queued meanwhile that no
 * idle thread can take makes the workers' wantfd readable, and the
 * lingering threads give their clients back to the event loop at once.
 */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "control.h"
#include "request.h"
#include "util.h"
#include "worker.h"

/*
 * How long a thread waits for a client's next request before handing it
 * back, unless a job needs it sooner (wantfd).  Far longer than a
 * scheduler tick: a timer due before the next tick is programmed into the
 * hardware at each wait and cancelled at each wake-up, which under
 * virtualisation cost a quarter of a KMS call's time.
 */
#define LINGER_MS	1000

/* Every client at once, and each of the daemon's three kinds of job. */
#define DONE_MAX	(MAX_CLIENTS + 3)

_Static_assert(WORKERS - 1 > CLIENTS_PER_UID, "one user's clients could hold every shared worker");

struct job {
	enum job_type type;
	int fd;
	bool shared;		/* a client neither root nor admin */
	void *arg;		/* JOB_HANDSHAKE's */
	struct job *next;
};

/*
 * A queue of jobs, and whether its threads are to stop once it is empty.
 * All of it changes with the workers' lock held.  next_request() reads
 * @queued and @stopping without it, so they are always written with
 * __atomic_store_n().
 */
struct queue {
	struct job *head, *tail;
	int queued, idle;	/* jobs in it; its threads waiting for one */
	pthread_cond_t cond;	/* its threads wait on it */
	bool stopping;
};

struct finished {
	int fd;
	bool keep;
};

struct workers {
	struct daemon *d;
	pthread_t threads[WORKERS], hs_threads[HANDSHAKE_WORKERS];
	int nthreads, hs_nthreads;
	pthread_mutex_t lock;		/* everything below */
	struct queue jobs, handshakes;
	int shared_running;	/* at most WORKERS - 1: one is always free for admins */
	/*
	 * eventfd, readable from when a job is queued that the idle threads
	 * may not be enough for (or a thread finds only held-back ones) until
	 * the queue is empty; always once stopping.
	 */
	int wantfd;
	bool wanted;		/* wantfd is readable: no write or read of it needed */
	/*
	 * Finished clients and jobs waiting for the event loop: a client is
	 * with a worker at most once (busy in the client table until it comes
	 * back), and a job's mark (DONE_*) is never there twice (finish()),
	 * so DONE_MAX entries always suffice and a finish never allocates.
	 */
	struct finished done[DONE_MAX];
	size_t ndone;
	int donefd;			/* eventfd: finished clients waiting */
};

static void finish(struct workers *w, int fd, bool keep)
{
	uint64_t one = 1;

	pthread_mutex_lock(&w->lock);
	/*
	 * A job's mark that waits already says the same: one is enough (a
	 * reconciliation may end twice before the loop collects).
	 */
	for (size_t i = 0; fd < 0 && i < w->ndone; i++) {
		if (w->done[i].fd == fd) {
			pthread_mutex_unlock(&w->lock);
			return;		/* the loop is woken already */
		}
	}
	if (w->ndone == DONE_MAX) {
		/* Never: see DONE_MAX.  The descriptor stays the table's. */
		pthread_mutex_unlock(&w->lock);
		log_error("bug: more finished requests than clients and jobs (%d); descriptor %d kept busy",
			  DONE_MAX, fd);
		return;
	}
	w->done[w->ndone++] = (struct finished){ fd, keep };
	pthread_mutex_unlock(&w->lock);
	if (write(w->donefd, &one, sizeof(one)) != sizeof(one))
		log_warn("cannot wake the event loop: %m");
}

/*
 * With @w->lock held: make wantfd readable (a job waits that no idle
 * worker can take: the lingering ones are to let their clients go), or
 * not (the queue is empty).
 */
static void want(struct workers *w)
{
	uint64_t one = 1;

	if (w->wanted)
		return;
	if (write(w->wantfd, &one, sizeof(one)) != sizeof(one))
		log_warn("cannot wake the lingering workers: %m");
	else
		w->wanted = true;
}

static void unwant(struct workers *w)
{
	uint64_t n;

	if (!w->wanted)
		return;
	if (read(w->wantfd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("eventfd: %m");
	else
		w->wanted = false;
}

/* With @w->lock held: the next job of @q a thread may take, out of it. */
static struct job *take(struct workers *w, struct queue *q)
{
	struct job **pp, *prev = NULL;

	for (pp = &q->head; *pp; prev = *pp, pp = &(*pp)->next) {
		struct job *j = *pp;

		if (j->shared && w->shared_running >= WORKERS - 1)
			continue;
		*pp = j->next;
		if (q->tail == j)
			q->tail = prev;
		__atomic_store_n(&q->queued, q->queued - 1, __ATOMIC_RELAXED);
		w->shared_running += j->shared;
		if (q == &w->jobs && !q->queued && !q->stopping)
			unwant(w);
		return j;
	}
	return NULL;
}

static void append(struct queue *q, struct job *j)
{
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	__atomic_store_n(&q->queued, q->queued + 1, __ATOMIC_RELAXED);
}

/*
 * Whether a client's next request came within LINGER_MS of its reply,
 * while no other job waits for a thread: then this thread serves it,
 * without the two wake-ups of a trip through the event loop (a caller of
 * the KMS API sends its next request at once).  A client that keeps
 * sending, or is quiet, holds the thread only while nobody else needs
 * one: wantfd ends the wait.
 */
static bool next_request(struct workers *w, int fd)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
			       { .fd = w->wantfd, .events = POLLIN } };
	bool others = __atomic_load_n(&w->jobs.queued, __ATOMIC_RELAXED) ||
		      __atomic_load_n(&w->jobs.stopping, __ATOMIC_RELAXED);

	return !others && poll(p, 2, LINGER_MS) >= 1 && p[0].revents == POLLIN &&
	       !p[1].revents;
}

static void run(struct workers *w, struct job *j)
{
	int r;

	control_storage_resume(w->d);
	switch (j->type) {
	case JOB_CLIENT: {
		struct control_peer peer = { .known = false };	/* this row's client */

		do
			r = control_serve(w->d, j->fd, &peer);
		while (r == 0 && next_request(w, j->fd));
		if (r != CONTROL_DETACHED)	/* else a handshake thread has it */
			finish(w, j->fd, r == 0);
		break;
	}
	case JOB_HANDSHAKE:
		finish(w, j->fd, handshake_job_run(j->arg));
		break;
	case JOB_RECONCILE:
		control_reconcile(w->d);
		finish(w, DONE_RECONCILE, false);	/* another may be pending */
		break;
	case JOB_DELETIONS:
		control_deletions_run(w->d);
		finish(w, DONE_DELETIONS, false);	/* the loop may queue the next round */
		break;
	case JOB_USAGE:
		pthread_mutex_lock(&w->d->mutate);
		control_usage_save_grown(w->d);
		pthread_mutex_unlock(&w->d->mutate);
		finish(w, DONE_USAGE, false);
		break;
	}
}

/* A thread of @q's: a worker (jobs) or a handshake thread (handshakes). */
static void serve(struct workers *w, struct queue *q)
{
	struct job *j;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		j = take(w, q);
		if (!j && q->stopping && !q->head)
			break;	/* stopping, queue drained */
		if (!j) {
			/* One held back (shared): a lingering shared thread is to let go. */
			if (q == &w->jobs && q->head)
				want(w);
			q->idle++;
			pthread_cond_wait(&q->cond, &w->lock);
			q->idle--;
			continue;
		}
		pthread_mutex_unlock(&w->lock);
		run(w, j);
		pthread_mutex_lock(&w->lock);
		if (j->shared) {
			w->shared_running--;
			pthread_cond_broadcast(&q->cond);	/* a held-back job may go */
		}
		free(j);
	}
	pthread_mutex_unlock(&w->lock);
}

static void *worker_main(void *arg)
{
	struct workers *w = arg;

	serve(w, &w->jobs);
	return NULL;
}

static void *handshake_main(void *arg)
{
	struct workers *w = arg;

	serve(w, &w->handshakes);
	return NULL;
}

int workers_start(struct daemon *d, struct workers **out)
{
	struct workers *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->d = d;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->jobs.cond, NULL);
	pthread_cond_init(&w->handshakes.cond, NULL);
	w->donefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->wantfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->donefd < 0 || w->wantfd < 0) {
		r = -errno;
		if (w->donefd >= 0)
			close(w->donefd);
		if (w->wantfd >= 0)
			close(w->wantfd);
		free(w);
		return r;
	}
	for (w->nthreads = 0; w->nthreads < WORKERS; w->nthreads++) {
		r = pthread_create(&w->threads[w->nthreads], NULL, worker_main, w);
		if (r) {
			workers_stop(w);
			return -r;
		}
	}
	*out = w;
	return 0;
}

static struct job *new_job(enum job_type type, int fd, bool shared, void *arg)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j)
		*j = (struct job){ .type = type, .fd = fd, .shared = shared, .arg = arg };
	return j;
}

int workers_submit(struct workers *w, enum job_type type, int fd, bool shared)
{
	struct job *j = new_job(type, fd, shared, NULL);

	if (!j)
		return -ENOMEM;
	pthread_mutex_lock(&w->lock);
	append(&w->jobs, j);
	if (w->jobs.queued > w->jobs.idle || (shared && w->shared_running >= WORKERS - 1))
		want(w);
	pthread_cond_broadcast(&w->jobs.cond);	/* the one free for it may not be the first */
	pthread_mutex_unlock(&w->lock);
	return 0;
}

int workers_submit_handshake(struct workers *w, int fd, void *job)
{
	struct job *j = new_job(JOB_HANDSHAKE, fd, false, job);

	if (!j)
		return -ENOMEM;
	pthread_mutex_lock(&w->lock);
	/* None idle for it: one thread more, if there may be (else it waits). */
	if (w->handshakes.queued >= w->handshakes.idle && w->hs_nthreads < HANDSHAKE_WORKERS) {
		int r = pthread_create(&w->hs_threads[w->hs_nthreads], NULL, handshake_main, w);

		if (r)
			log_warn("cannot start a handshake thread (%d running): %s; the handshake waits for one",
				 w->hs_nthreads, strerror(r));
		else
			w->hs_nthreads++;
	}
	if (!w->hs_nthreads) {		/* none could be started: none would take it */
		pthread_mutex_unlock(&w->lock);
		free(j);
		return -EAGAIN;
	}
	append(&w->handshakes, j);
	pthread_cond_signal(&w->handshakes.cond);	/* any of them takes it */
	pthread_mutex_unlock(&w->lock);
	return 0;
}

int workers_donefd(const struct workers *w)
{
	return w->donefd;
}

size_t workers_collect(struct workers *w, int *fds, bool *keep, size_t max)
{
	uint64_t n;
	size_t i;

	if (read(w->donefd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("eventfd: %m");
	pthread_mutex_lock(&w->lock);
	for (i = 0; i < w->ndone && i < max; i++) {
		fds[i] = w->done[i].fd;
		keep[i] = w->done[i].keep;
	}
	/* More than @max: leave the rest, and the eventfd readable. */
	memmove(w->done, w->done + i, (w->ndone - i) * sizeof(*w->done));
	w->ndone -= i;
	if (w->ndone) {
		n = 1;
		if (write(w->donefd, &n, sizeof(n)) != sizeof(n))
			log_warn("eventfd: %m");
	}
	pthread_mutex_unlock(&w->lock);
	return i;
}

void workers_stop(struct workers *w)
{
	if (!w)
		return;
	/* The workers first: the last of their requests may queue a handshake. */
	pthread_mutex_lock(&w->lock);
	__atomic_store_n(&w->jobs.stopping, true, __ATOMIC_RELAXED);
	want(w);	/* not taken back: no thread lingers from now on */
	pthread_cond_broadcast(&w->jobs.cond);
	pthread_mutex_unlock(&w->lock);
	for (int i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	pthread_mutex_lock(&w->lock);
	__atomic_store_n(&w->handshakes.stopping, true, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&w->handshakes.cond);
	pthread_mutex_unlock(&w->lock);
	for (int i = 0; i < w->hs_nthreads; i++)
		pthread_join(w->hs_threads[i], NULL);
	/* The finished clients' descriptors are the client table's to close. */
	close(w->donefd);
	close(w->wantfd);
	free(w);
}
