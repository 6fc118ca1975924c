// SPDX-License-Identifier: GPL-2.0
/*
 * Subordinate uid ranges (subids.h), read from a file in subuid(5)'s form:
 * "owner:start:count" lines, the owner a login name or a uid, the numbers
 * as newuidmap(1) reads them (decimal, 0x hexadecimal, 0 octal).  Read in
 * the event loop only, at a connection: no lock.
 *
 * A range owned by root charges nobody: root is never limited, and its
 * subordinate uids (system containers) are users of their own.  A line
 * that does not parse, or names a user /etc/passwd does not have, is
 * skipped (and said).  Names are not looked up through NSS: a directory
 * server that is slow or not up yet (hsmkeyd starts early in boot) would
 * hold the event loop, and with it every client and the kernel's events.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "subids.h"
#include "util.h"

#define PASSWD	"/etc/passwd"

struct named {
	char *name;
	uid_t uid;
};

/* /etc/passwd's names and uids, sorted by name (a line at a time, no NSS). */
struct passwd_list {
	struct named *v;
	size_t n, cap;
};

/* A number as newuidmap(1) takes it, of at most @max, the whole of @s. */
static int parse_num(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v;
	char *end;

	if (!*s || strchr(s, '-'))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || end == s || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct named *)a)->name, ((const struct named *)b)->name);
}

static void passwd_free(struct passwd_list *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].name);
	free(p->v);
	*p = (struct passwd_list){ 0 };
}

static int passwd_add(struct passwd_list *p, const char *name, uid_t uid)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		struct named *v = realloc(p->v, cap * sizeof(*v));

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

/* /etc/passwd's entries into @p: 0 or -errno. */
static int passwd_read(struct passwd_list *p)
{
	int fd = open(PASSWD, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	struct passwd pw, *e;
	char buf[4096];
	struct stat st;
	FILE *f;
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > SUBIDS_PASSWD_MAX) {
		close(fd);
		return -EINVAL;
	}
	f = fdopen(fd, "re");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	while (!r && !fgetpwent_r(f, &pw, buf, sizeof(buf), &e))
		r = passwd_add(p, e->pw_name, e->pw_uid);
	fclose(f);
	if (!r)
		qsort(p->v, p->n, sizeof(*p->v), by_name);
	return r;
}

/* An owner: a login name of /etc/passwd, else a uid. */
static int owner_of(const struct passwd_list *p, const char *who, uid_t *uid)
{
	struct named key = { .name = (char *)who }, *found;
	unsigned long long v;

	found = p->n ? bsearch(&key, p->v, p->n, sizeof(*p->v), by_name) : NULL;
	if (found) {
		*uid = found->uid;
		return 0;
	}
	if (parse_num(who, UINT32_MAX - 1, &v))
		return -ENOENT;
	*uid = (uid_t)v;
	return 0;
}

/* One "owner:start:count" line into @r: 0, or -EINVAL / -ENOENT. */
static int parse_line(const struct passwd_list *p, char *line, struct subid_range *r)
{
	char *start = strchr(line, ':'), *count;
	unsigned long long s, c;

	count = start ? strchr(start + 1, ':') : NULL;
	if (!count || strchr(count + 1, ':'))
		return -EINVAL;
	*start++ = '\0';
	*count++ = '\0';
	if (parse_num(start, UINT32_MAX - 1, &s) || parse_num(count, UINT32_MAX, &c) || !c ||
	    s + c > UINT32_MAX)
		return -EINVAL;
	r->start = (uid_t)s;
	r->count = (uint32_t)c;
	return owner_of(p, line, &r->owner);
}

/* Room for one more range in @r (of @n). */
static int grow(struct subid_range **r, size_t n, size_t *cap)
{
	struct subid_range *more;

	if (n < *cap)
		return 0;
	more = realloc(*r, (*cap ? 2 * *cap : 16) * sizeof(**r));
	if (!more)
		return -ENOMEM;
	*r = more;
	*cap = *cap ? 2 * *cap : 16;
	return 0;
}

/*
 * Every line of @text (NUL-terminated, changed in place) into *@out (*@n
 * ranges); the lines skipped, and the first of them, for the caller to say.
 */
static int parse(char *text, struct subid_range **out, size_t *n, size_t *skipped,
		 size_t *first_bad)
{
	struct passwd_list p = { 0 };
	struct subid_range *r = NULL;
	size_t lineno = 0, cap = 0;
	char *line, *next;
	int e = strchr(text, ':') ? passwd_read(&p) : 0;

	*n = *skipped = *first_bad = 0;
	for (line = text; !e && line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		if (!*line || *line == '#')
			continue;
		e = grow(&r, *n, &cap);
		if (!e && parse_line(&p, line, &r[*n])) {
			*first_bad = *skipped ? *first_bad : lineno;
			(*skipped)++;
		} else if (!e && r[*n].owner) {		/* root's: see the top */
			(*n)++;
		}
	}
	passwd_free(&p);
	if (e)
		free(r);
	else
		*out = r;
	return e;
}

/* The whole of @fd (@size bytes when looked at), NUL-terminated. */
static int slurp(int fd, off_t size, char **out)
{
	char *text;
	int n;

	text = malloc((size_t)size + 1);
	if (!text)
		return -ENOMEM;
	n = read_full(fd, text, (size_t)size);
	if (n < 0) {
		free(text);
		return n;
	}
	text[n] = '\0';	/* shorter: cut meanwhile; its change is seen at the next look */
	*out = text;
	return 0;
}

static struct subids_stamp stamp_of(const struct stat *st)
{
	return (struct subids_stamp){ .dev = st->st_dev, .ino = st->st_ino, .size = st->st_size,
				      .mtime = st->st_mtim, .ctime = st->st_ctim };
}

static bool same_stamp(const struct subids_stamp *a, const struct subids_stamp *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* @fd's ranges, if it is a file only root may have written. */
static int read_ranges(const char *path, int fd, const struct stat *st,
		       struct subid_range **r, size_t *n)
{
	size_t skipped, first_bad;
	char *text = NULL;
	int e;

	if (!S_ISREG(st->st_mode) || st->st_uid != 0 || (st->st_mode & 022))
		return -EPERM;
	if (st->st_size > SUBIDS_MAX_SIZE)
		return -EFBIG;
	e = slurp(fd, st->st_size, &text) ?: parse(text, r, n, &skipped, &first_bad);
	free(text);
	if (!e && skipped)
		log_warn("%s: %zu line(s) not owner:start:count of a user of %s skipped, the first line %zu",
			 path, skipped, PASSWD, first_bad);
	return e;
}

/* hsmkeyd's own user namespace, once. */
static void own_namespace(struct subids *s)
{
	struct stat st;

	if (s->ns_ino || stat("/proc/self/ns/user", &st) < 0)
		return;
	s->ns_dev = st.st_dev;
	s->ns_ino = st.st_ino;
}

void subids_refresh(struct subids *s, const char *path)
{
	struct subids_stamp now = { 0 };
	struct subid_range *r = NULL;
	struct stat st;
	size_t n = 0;
	int fd, e = 0;

	own_namespace(s);
	/* Not for reading yet: a FIFO must not hold the event loop. */
	fd = *path ? open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY) : -1;
	if (fd < 0 && *path && errno != ENOENT)
		e = -errno;
	else if (fd >= 0 && fstat(fd, &st) < 0)
		e = -errno;
	else if (fd >= 0)
		now = stamp_of(&st);
	if (s->looked && !strcmp(s->path, path) && same_stamp(&s->stamp, &now)) {
		if (fd >= 0)
			close(fd);
		return;		/* as last looked at: in use, or said already */
	}
	if (!e && fd >= 0)
		e = read_ranges(path, fd, &st, &r, &n);
	if (fd >= 0)
		close(fd);
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->looked = true;
	s->stamp = now;
	if (e) {
		log_warn("cannot use %s: %s; keeping the subordinate uid ranges read before",
			 path, e == -EPERM ? "not a regular file owned by root and writable by root alone" :
			 strerror(-e));
		return;
	}
	free(s->r);
	s->r = r;
	s->n = n;
}

/* Is process @pid in a user namespace other than hsmkeyd's?  Gone: taken as yes. */
static bool in_other_namespace(const struct subids *s, pid_t pid)
{
	char path[48];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	return pid <= 0 || stat(path, &st) < 0 || st.st_ino != s->ns_ino || st.st_dev != s->ns_dev;
}

uid_t subids_owner(const struct subids *s, uid_t uid, pid_t pid)
{
	for (size_t i = 0; i < s->n; i++)
		if (uid >= s->r[i].start && uid - s->r[i].start < s->r[i].count)
			return in_other_namespace(s, pid) ? s->r[i].owner : uid;
	return uid;
}

void subids_free(struct subids *s)
{
	free(s->r);
	*s = (struct subids){ 0 };
}
