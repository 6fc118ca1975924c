/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Subordinate uid ranges (subuid(5)): the uids a user may map into user
 * namespaces of their own (a rootless container) through newuidmap(1).
 * The control socket's per-user limits charge such a uid to the user who
 * owns its range, so that one user with many subordinate uids is still
 * one user.  Only limits: who a peer is, for every permission and in the
 * audit log, stays its own uid.
 */
#ifndef HSMKEY_SUBIDS_H
#define HSMKEY_SUBIDS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Ranges read from one file at most; a file longer than this is refused. */
#define SUBIDS_MAX_RANGES	65536
#define SUBIDS_MAX_SIZE		(4 << 20)

struct subid_range {
	uid_t start;
	uint32_t count;
	uid_t owner;
};

/* The ranges of @path as last read; the file's identity then, to see it change. */
struct subids {
	char path[PATH_MAX];
	struct subid_range *r;
	size_t n;
	bool seen;		/* @path was read: its identity below is valid */
	bool failing;		/* the last look could not read it (said once) */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

/*
 * Read @path ("" for none) again if it is another file, or the file has
 * changed since it was last read (a stat at each look).  A missing file
 * has no ranges; one that cannot be read or parsed keeps the ranges read
 * before, and says why once.
 */
void subids_refresh(struct subids *s, const char *path);
/* The user @uid's connections count as: its range's owner, or itself. */
uid_t subids_owner(const struct subids *s, uid_t uid);
void subids_free(struct subids *s);

#endif
