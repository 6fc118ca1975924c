/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The control socket's connected clients, as the event loop keeps them.
 * The socket is open to every local user, so no one user may take what
 * root and the admin group need: each other user holds at most
 * CLIENTS_PER_UID connections, all of them together at most
 * CLIENTS_SHARED, a connection with no request for IDLE_SECONDS is closed,
 * and sockets are non-blocking (workers send with a deadline).  A user's
 * subordinate uids (subids.h, subuid_file) count as that user.
 */
#ifndef HSMKEY_CLIENTS_H
#define HSMKEY_CLIENTS_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "subids.h"

#define MAX_CLIENTS	64
#define CLIENTS_SHARED	48
#define CLIENTS_PER_UID	4
#define IDLE_SECONDS	10
#define ACCEPT_BATCH	64	/* connections taken per readable listener */

struct daemon;

struct client {
	int fd;
	uid_t uid;
	uid_t charged;		/* whose limit it counts in: @uid, or its range's owner */
	bool admin;		/* root or the admin group, when it connected */
	bool busy;		/* a worker has it: out of the poll set */
	int64_t idle_until;	/* monotonic ms */
};

struct clients {
	struct client c[MAX_CLIENTS];
	int n;
	struct subids subids;	/* as of the last accept */
};

/*
 * Accept one connection (or refuse it: over its limits).  -EMFILE or
 * -ENFILE when out of descriptors: the caller stops listening a while.
 */
int clients_accept(struct clients *cl, struct daemon *d, int lfd);
/* Close idle clients; the ms until the next one idles out (-1: none). */
int clients_expire(struct clients *cl);
/* The idle clients' poll entries, from @pfd on; returns how many. */
int clients_pollset(struct clients *cl, struct pollfd *pfd);
struct client *clients_find(struct clients *cl, int fd);
/* Back from a worker: in the poll set again, or closed (!@keep). */
void clients_done(struct clients *cl, int fd, bool keep);
void clients_close_all(struct clients *cl);

#endif
