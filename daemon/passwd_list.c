// SPDX-License-Identifier: GPL-2.0
/*
 * /etc/passwd's logins, from the file itself (passwd_list.h).  A line
 * longer than the buffer grows it (fgetpwent_r says ERANGE and reads the
 * line again), up to the file's own size.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "passwd_list.h"

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct passwd_named *)a)->name,
		      ((const struct passwd_named *)b)->name);
}

static int by_uid(const void *a, const void *b)
{
	uid_t x = *(const uid_t *)a, y = *(const uid_t *)b;

	return x < y ? -1 : x > y;
}

void passwd_list_free(struct passwd_list *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].name);
	free(p->v);
	free(p->uids);
	*p = (struct passwd_list){ 0 };
}

static int add(struct passwd_list *p, const char *name, uid_t uid)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		struct passwd_named *v = realloc(p->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n].name = strdup(name);
	if (!p->v[p->n].name)
		return -ENOMEM;
	p->v[p->n++].uid = uid;
	return 0;
}

/* Every entry of @f into @p, the buffer grown for a long line. */
static int entries(FILE *f, size_t size, struct passwd_list *p)
{
	size_t len = 4096;
	char *buf = malloc(len);
	struct passwd pw, *e;
	int r = buf ? 0 : -ENOMEM;

	while (!r) {
		int err = fgetpwent_r(f, &pw, buf, len, &e);

		if (err == ERANGE && len <= size) {
			char *more = realloc(buf, 2 * len);

			r = more ? 0 : -ENOMEM;
			buf = more ?: buf;
			len *= 2;
			continue;
		}
		if (err == ENOENT)
			break;
		r = err ? -err : add(p, e->pw_name, e->pw_uid);
	}
	free(buf);
	return r;
}

/* @p's uids, sorted, beside its names sorted. */
static int index_uids(struct passwd_list *p)
{
	if (!p->n)
		return 0;
	p->uids = malloc(p->n * sizeof(*p->uids));
	if (!p->uids)
		return -ENOMEM;
	for (size_t i = 0; i < p->n; i++)
		p->uids[i] = p->v[i].uid;
	qsort(p->uids, p->n, sizeof(*p->uids), by_uid);
	qsort(p->v, p->n, sizeof(*p->v), by_name);
	return 0;
}

int passwd_list_read(int fd, struct passwd_list *p)
{
	struct stat st;
	FILE *f;
	int r, dup_fd;

	*p = (struct passwd_list){ 0 };
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size > PASSWD_MAX_SIZE)
		return -EINVAL;
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	f = dup_fd >= 0 ? fdopen(dup_fd, "re") : NULL;
	if (!f) {
		if (dup_fd >= 0)
			close(dup_fd);
		return -ENOMEM;
	}
	r = entries(f, (size_t)st.st_size, p) ?: index_uids(p);
	fclose(f);
	if (r)
		passwd_list_free(p);
	return r;
}

int passwd_list_uid(const struct passwd_list *p, const char *name, uid_t *uid)
{
	struct passwd_named key = { .name = (char *)name }, *found;

	found = p->n ? bsearch(&key, p->v, p->n, sizeof(*p->v), by_name) : NULL;
	if (!found)
		return -ENOENT;
	*uid = found->uid;
	return 0;
}

bool passwd_list_has_uid(const struct passwd_list *p, uid_t uid)
{
	return p->n && bsearch(&uid, p->uids, p->n, sizeof(*p->uids), by_uid);
}
