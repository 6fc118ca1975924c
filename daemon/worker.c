// SPDX-License-Identifier: GPL-2.0
/*
 * Worker threads: one queue of jobs, WORKERS threads taking them in order.
 * Changes to keys are serialised by the daemon's mutation lock (taken in
 * control.c), so a slow change delays only other changes; reads and the
 * event loop go on.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "control.h"
#include "util.h"
#include "worker.h"

struct job {
	enum job_type type;
	int fd;
	struct job *next;
};

struct finished {
	int fd;
	bool keep;
};

struct workers {
	struct daemon *d;
	pthread_t threads[WORKERS];
	int nthreads;
	pthread_mutex_t lock;		/* everything below */
	pthread_cond_t cond;
	struct job *head, *tail;
	bool stopping;
	struct finished *done;
	size_t ndone, cap;
	int donefd;			/* eventfd: finished clients waiting */
};

static void finish(struct workers *w, int fd, bool keep)
{
	uint64_t one = 1;
	struct finished *tmp;

	pthread_mutex_lock(&w->lock);
	if (w->ndone == w->cap) {
		tmp = realloc(w->done, (w->cap ? 2 * w->cap : 16) * sizeof(*tmp));
		if (!tmp) {
			pthread_mutex_unlock(&w->lock);
			if (fd >= 0)
				close(fd);	/* the client sees the connection end */
			return;
		}
		w->done = tmp;
		w->cap = w->cap ? 2 * w->cap : 16;
	}
	w->done[w->ndone++] = (struct finished){ fd, keep };
	pthread_mutex_unlock(&w->lock);
	if (write(w->donefd, &one, sizeof(one)) != sizeof(one))
		log_warn("cannot wake the event loop: %m");
}

static void *worker_main(void *arg)
{
	struct workers *w = arg;
	struct job *j;

	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (!w->head && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		j = w->head;
		if (!j) {
			pthread_mutex_unlock(&w->lock);
			return NULL;	/* stopping, queue drained */
		}
		w->head = j->next;
		if (!w->head)
			w->tail = NULL;
		pthread_mutex_unlock(&w->lock);

		switch (j->type) {
		case JOB_CLIENT:
			finish(w, j->fd, control_serve(w->d, j->fd) == 0);
			break;
		case JOB_RECONCILE:
			control_reconcile(w->d);
			break;
		case JOB_DELETIONS:
			control_deletions_run(w->d);
			finish(w, -1, false);	/* the loop may queue the next round */
			break;
		}
		free(j);
	}
}

int workers_start(struct daemon *d, struct workers **out)
{
	struct workers *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->d = d;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->donefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->donefd < 0) {
		free(w);
		return -errno;
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

int workers_submit(struct workers *w, enum job_type type, int fd)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->type = type;
	j->fd = fd;
	pthread_mutex_lock(&w->lock);
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	pthread_cond_signal(&w->cond);
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
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (int i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	for (size_t i = 0; i < w->ndone; i++)
		if (w->done[i].fd >= 0)
			close(w->done[i].fd);
	free(w->done);
	close(w->donefd);
	free(w);
}
