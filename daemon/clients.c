// SPDX-License-Identifier: GPL-2.0
/*
 * Connection limits for the control socket (see clients.h): so that any
 * local user's connections, idle or not reading, cannot lock root out.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "clients.h"
#include "control.h"
#include "util.h"

/* May another connection charged to @charged (not an admin) be kept? */
static bool within_limits(const struct clients *cl, uid_t charged)
{
	int mine = 0, shared = 0;

	for (int i = 0; i < cl->n; i++) {
		if (cl->c[i].admin)
			continue;
		shared++;
		mine += cl->c[i].charged == charged;
	}
	return mine < CLIENTS_PER_UID && shared < CLIENTS_SHARED;
}

static int accept_one(struct clients *cl, struct daemon *d, int lfd)
{
	struct client c = { .idle_until = monotonic_ms() + IDLE_SECONDS * 1000 };
	struct ucred cred;

	c.fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (c.fd < 0)
		return -errno;
	if (control_peer(d, c.fd, &cred, &c.admin)) {
		close(c.fd);
		return 0;
	}
	c.uid = cred.uid;
	c.charged = subids_owner(&cl->subids, cred.uid, cred.pid);
	if (cl->n == MAX_CLIENTS || (!c.admin && !within_limits(cl, c.charged))) {
		if (c.charged != c.uid)
			log_debug("connection of uid %u refused: over the limit of uid %u, its owner",
				  (unsigned int)c.uid, (unsigned int)c.charged);
		else
			log_debug("connection of uid %u refused: over its limit", (unsigned int)c.uid);
		close(c.fd);
		return 0;
	}
	cl->c[cl->n++] = c;
	return 0;
}

/*
 * The whole backlog at once (bounded): a connect flood refused one per
 * loop turn would keep the backlog full and root's connect() waiting.
 */
int clients_accept(struct clients *cl, struct daemon *d, int lfd)
{
	char path[PATH_MAX];

	pthread_rwlock_rdlock(&d->cfg_lock);
	memcpy(path, d->cfg->subuid_file, sizeof(path));
	pthread_rwlock_unlock(&d->cfg_lock);
	subids_refresh(&cl->subids, path);
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int r = accept_one(cl, d, lfd);

		if (r == -EMFILE || r == -ENFILE)
			return r;
		if (r)
			return 0;	/* EAGAIN: the backlog is empty */
	}
	return 0;
}

static void drop(struct clients *cl, int i)
{
	close(cl->c[i].fd);
	cl->c[i] = cl->c[--cl->n];
}

int clients_expire(struct clients *cl)
{
	int64_t now = monotonic_ms(), next = -1;

	for (int i = 0; i < cl->n; i++) {
		if (cl->c[i].busy)
			continue;
		if (cl->c[i].idle_until <= now) {
			drop(cl, i--);
			continue;
		}
		if (next < 0 || cl->c[i].idle_until - now < next)
			next = cl->c[i].idle_until - now;
	}
	return (int)next;
}

int clients_pollset(struct clients *cl, struct pollfd *pfd)
{
	int n = 0;

	for (int i = 0; i < cl->n; i++)
		if (!cl->c[i].busy)
			pfd[n++] = (struct pollfd){ .fd = cl->c[i].fd, .events = POLLIN };
	return n;
}

struct client *clients_find(struct clients *cl, int fd)
{
	for (int i = 0; i < cl->n; i++)
		if (cl->c[i].fd == fd)
			return &cl->c[i];
	return NULL;
}

void clients_done(struct clients *cl, int fd, bool keep)
{
	struct client *c = clients_find(cl, fd);

	if (!c) {
		close(fd);
		return;
	}
	c->busy = false;
	c->idle_until = monotonic_ms() + IDLE_SECONDS * 1000;
	if (!keep)
		drop(cl, (int)(c - cl->c));
}

void clients_close_all(struct clients *cl)
{
	while (cl->n)
		drop(cl, cl->n - 1);
	subids_free(&cl->subids);
}
