/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Subordinate uid ranges (subuid(5)): the uids a user may map into user
 * namespaces of their own (a rootless container) through newuidmap(1).
 * The control socket's per-user limits charge a connection from such a
 * uid, made from inside a user namespace, to the user who owns its range,
 * so that one user with many subordinate uids is still one user.  Only
 * limits: who a peer is, for every permission and in the audit log, stays
 * its own uid.
 */
#ifndef HSMKEY_SUBIDS_H
#define HSMKEY_SUBIDS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "passwd_list.h"

/* A file larger than this is refused (the ranges read before are kept). */
#define SUBIDS_MAX_SIZE		(1 << 20)
/* Owners looked up by name in /etc/passwd, of at most this size. */
#define SUBIDS_PASSWD_MAX	(4 << 20)

struct subid_range {
	uid_t start;
	uint32_t count;
	uid_t owner;
};

/* A file as it was looked at: a change of any of these is a change. */
struct subids_stamp {
	int err;			/* why it could not be opened (ENOENT: missing) */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	uid_t uid;
	mode_t mode;
};

/* The ranges in use, and the files they were (or failed to be) read from. */
struct subids {
	char path[PATH_MAX];
	bool looked;			/* @path was looked at: the stamps are theirs then */
	struct subids_stamp stamp, passwd;
	struct subid_range *r;
	size_t n;
	struct passwd_list logins;	/* /etc/passwd's, as the ranges were read */
	char own_map[128];		/* hsmkeyd's /proc/self/uid_map, read once */
	int own_len;			/* its length; 0: not read yet, -1: unreadable */
};

/*
 * Look at @path ("" for none) again: read it if it is another file or it
 * or /etc/passwd changed since the last look (an open and a stat each
 * when not).  A missing file has no ranges.  One that cannot be used (not
 * a regular file owned by root and writable by root alone, too large,
 * unreadable) keeps the ranges read before and is said in the log, once
 * until it changes again.  Never blocks on the file (a FIFO is opened
 * without waiting and refused unread) nor on a directory service: owners
 * named are looked up in /etc/passwd only.
 */
void subids_refresh(struct subids *s, const char *path);
/*
 * Whose limits a connection of @uid, made by process @pid, counts in: the
 * owner of @uid's range when @pid is in a user namespace other than
 * hsmkeyd's (its uid_map is not hsmkeyd's own; gone: as if it were) and
 * @uid is no login of /etc/passwd; else @uid itself (in hsmkeyd's own
 * namespace a uid in a range is a user of its own, or root's doing).
 */
uid_t subids_owner(const struct subids *s, uid_t uid, pid_t pid);
void subids_free(struct subids *s);

#endif
