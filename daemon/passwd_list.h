/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The local users of /etc/passwd, read as a file (fgetpwent_r), never
 * through NSS: for the event loop, which must not wait on a directory
 * service (subids.c).
 */
#ifndef HSMKEY_PASSWD_LIST_H
#define HSMKEY_PASSWD_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PASSWD_PATH	"/etc/passwd"
#define PASSWD_MAX_SIZE	(4 << 20)

struct passwd_named {
	char *name;
	uid_t uid;
};

struct passwd_list {
	struct passwd_named *v;		/* sorted by name */
	size_t n, cap;
	uid_t *uids;			/* every entry's uid, sorted */
};

/* The entries of the regular file open on @fd (the caller closes it): 0 or -errno. */
int passwd_list_read(int fd, struct passwd_list *p);
/* The uid of login @name: 0, or -ENOENT. */
int passwd_list_uid(const struct passwd_list *p, const char *name, uid_t *uid);
/* Whether @uid is some login's. */
bool passwd_list_has_uid(const struct passwd_list *p, uid_t uid);
void passwd_list_free(struct passwd_list *p);

#endif
