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
 *
 * Whether a peer runs in a user namespace of its own is read from its
 * uid_map, which anyone may read: hsmkeyd, without CAP_SYS_PTRACE (its
 * unit), may not look at another user's /proc/PID/ns.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "passwd_list.h"
#include "subids.h"
#include "util.h"

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

/* An owner: a login name of /etc/passwd, else a uid. */
static int owner_of(const struct passwd_list *p, const char *who, uid_t *uid)
{
	unsigned long long v;

	if (!passwd_list_uid(p, who, uid))
		return 0;
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
static int parse(const struct passwd_list *p, char *text, struct subid_range **out, size_t *n,
		 size_t *skipped, size_t *first_bad)
{
	struct subid_range *r = NULL;
	size_t lineno = 0, cap = 0;
	char *line, *next;
	int e = 0;

	*n = *skipped = *first_bad = 0;
	for (line = text; !e && line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		if (!*line || *line == '#')
			continue;
		e = grow(&r, *n, &cap);
		if (!e && parse_line(p, line, &r[*n])) {
			*first_bad = *skipped ? *first_bad : lineno;
			(*skipped)++;
		} else if (!e && r[*n].owner) {		/* root's: see the top */
			(*n)++;
		}
	}
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

/* Up to @len bytes of the small file @path: how many, or -1. */
static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), n;

	if (fd < 0)
		return -1;
	n = read_full(fd, buf, len);
	close(fd);
	return n;
}

/*
 * @path opened without waiting (a FIFO must not hold the event loop) and
 * looked at into @st: the descriptor, or -1 with why in @st->err.
 */
static int look(const char *path, struct subids_stamp *st)
{
	struct stat s;
	int fd;

	*st = (struct subids_stamp){ .err = ENOENT };
	if (!*path)
		return -1;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0 && fstat(fd, &s) == 0) {
		*st = (struct subids_stamp){ .dev = s.st_dev, .ino = s.st_ino, .size = s.st_size,
					     .mtime = s.st_mtim, .ctime = s.st_ctim,
					     .uid = s.st_uid, .mode = s.st_mode };
		return fd;
	}
	st->err = errno;
	if (fd >= 0)
		close(fd);
	return -1;
}

static bool same_stamp(const struct subids_stamp *a, const struct subids_stamp *b)
{
	return a->err == b->err && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/*
 * The ranges of the file on @fd (@st), if only root may have written it,
 * owners named from the logins on @pfd into *@logins; *@which names the
 * file a failure is of.
 */
static int read_ranges(const char *path, int fd, const struct subids_stamp *st, int pfd,
		       struct subid_range **r, size_t *n, struct passwd_list *logins,
		       const char **which)
{
	size_t skipped, first_bad;
	char *text = NULL;
	int e;

	*which = path;
	if (fd < 0)
		return st->err == ENOENT ? 0 : -st->err;	/* missing: none */
	if (!S_ISREG(st->mode) || st->uid != 0 || (st->mode & 022))
		return -EPERM;
	if (st->size > SUBIDS_MAX_SIZE)
		return -EFBIG;
	e = slurp(fd, st->size, &text);
	if (!e) {
		*which = PASSWD_PATH;
		e = pfd < 0 ? -EIO : passwd_list_read(pfd, logins);
	}
	if (!e) {
		*which = path;
		e = parse(logins, text, r, n, &skipped, &first_bad);
	}
	free(text);
	if (!e && skipped)
		log_warn("%s: %zu line(s) not owner:start:count of a user of %s skipped, the first line %zu",
			 path, skipped, PASSWD_PATH, first_bad);
	return e;
}

/* @r's @n ranges, named from @logins (taken), in use from now on. */
static void replace(struct subids *s, struct subid_range *r, size_t n, struct passwd_list *logins)
{
	free(s->r);
	s->r = r;
	s->n = n;
	passwd_list_free(&s->logins);
	s->logins = *logins;
}

void subids_refresh(struct subids *s, const char *path)
{
	struct subids_stamp now, pw_now;
	struct passwd_list logins = { 0 };
	struct subid_range *r = NULL;
	int fd = look(path, &now), pfd = fd >= 0 ? look(PASSWD_PATH, &pw_now) : -1;
	const char *which;
	size_t n = 0;
	int e;

	if (!s->own_len)	/* hsmkeyd's own never changes */
		s->own_len = read_small("/proc/self/uid_map", s->own_map, sizeof(s->own_map)) ?: -1;
	if (fd < 0)
		pw_now = s->passwd;	/* no ranges to name: not looked at */
	if (s->looked && !strcmp(s->path, path) && same_stamp(&s->stamp, &now) &&
	    same_stamp(&s->passwd, &pw_now)) {
		e = 0;
	} else {
		e = read_ranges(path, fd, &now, pfd, &r, &n, &logins, &which);
		snprintf(s->path, sizeof(s->path), "%s", path);
		s->looked = true;
		s->stamp = now;
		s->passwd = pw_now;
		if (e)
			log_warn("cannot use %s: %s; keeping the subordinate uid ranges read before",
				 which, e == -EPERM ?
				 "not a regular file owned by root and writable by root alone" :
				 strerror(-e));
		else
			replace(s, r, n, &logins);
	}
	if (fd >= 0)
		close(fd);
	if (pfd >= 0)
		close(pfd);
}

/*
 * Is process @pid in a user namespace other than hsmkeyd's?  Its uid_map,
 * as hsmkeyd reads it, is then not hsmkeyd's own (the whole identity, in
 * the initial namespace): no user but root can make a map of all uids.
 * Gone or unreadable: taken as yes.
 */
static bool in_other_namespace(const struct subids *s, pid_t pid)
{
	char path[48], theirs[sizeof(s->own_map)];
	int n;

	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	n = pid > 0 && s->own_len > 0 ? read_small(path, theirs, sizeof(theirs)) : -1;
	return s->own_len <= 0 || n != s->own_len || memcmp(s->own_map, theirs, (size_t)n);
}

uid_t subids_owner(const struct subids *s, uid_t uid, pid_t pid)
{
	for (size_t i = 0; i < s->n; i++)
		if (uid >= s->r[i].start && uid - s->r[i].start < s->r[i].count)
			return !passwd_list_has_uid(&s->logins, uid) && in_other_namespace(s, pid) ?
			       s->r[i].owner : uid;
	return uid;
}

void subids_free(struct subids *s)
{
	free(s->r);
	passwd_list_free(&s->logins);
	*s = (struct subids){ 0 };
}
