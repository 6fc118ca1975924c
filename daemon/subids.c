// SPDX-License-Identifier: GPL-2.0
/*
 * Subordinate uid ranges (subids.h), read from a file in subuid(5)'s form:
 * "owner:start:count" lines, the owner a login name or a uid.  Read in the
 * event loop only, at a connection: no lock.
 *
 * A range owned by root charges nobody: root is never limited, and its
 * subordinate uids (system containers) are users of their own.  A line
 * that does not parse, or names an unknown user, is skipped (and said):
 * newuidmap(1) would not map it for anyone either.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "subids.h"
#include "util.h"

/* A decimal number of at most @max, the whole of @s. */
static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	unsigned long long v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long long)(*s - '0');
		if (v > max)
			return -ERANGE;
	}
	*out = (uint32_t)v;
	return 0;
}

/* A login name's uid, or a uid itself. */
static int owner_of(const char *who, uid_t *uid)
{
	struct passwd pw, *found = NULL;
	char buf[4096];
	uint32_t v;

	if (!parse_u32(who, UINT32_MAX - 1, &v)) {
		*uid = v;
		return 0;
	}
	if (getpwnam_r(who, &pw, buf, sizeof(buf), &found) || !found)
		return -ENOENT;
	*uid = found->pw_uid;
	return 0;
}

/* One "owner:start:count" line into @r: 0, or -EINVAL (-ENOENT: no such owner). */
static int parse_line(char *line, struct subid_range *r)
{
	char *start = strchr(line, ':'), *count;
	uint32_t s, c;

	count = start ? strchr(start + 1, ':') : NULL;
	if (!count || strchr(count + 1, ':'))
		return -EINVAL;
	*start++ = '\0';
	*count++ = '\0';
	if (parse_u32(start, UINT32_MAX - 1, &s) || parse_u32(count, UINT32_MAX, &c) || !c ||
	    (uint64_t)s + c > UINT32_MAX)
		return -EINVAL;
	r->start = s;
	r->count = c;
	return owner_of(line, &r->owner);
}

/* Every line of @text (NUL-terminated, changed in place) into @out. */
static int parse(const char *path, char *text, struct subid_range **out, size_t *n)
{
	struct subid_range *r = NULL;
	size_t lineno = 0, skipped = 0;
	char *line, *next;

	*n = 0;
	for (line = text; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		if (!*line || *line == '#')
			continue;
		if (*n == SUBIDS_MAX_RANGES) {
			free(r);
			return log_errno(E2BIG, "%s: more than %d ranges", path, SUBIDS_MAX_RANGES);
		}
		if (!(*n % 64)) {
			struct subid_range *more = realloc(r, (*n + 64) * sizeof(*r));

			if (!more) {
				free(r);
				return -ENOMEM;
			}
			r = more;
		}
		if (parse_line(line, &r[*n])) {
			if (!skipped++)
				log_warn("%s: line %zu is not owner:start:count of a known user: skipped",
					 path, lineno);
			continue;
		}
		if (r[*n].owner)	/* root's: see the top */
			(*n)++;
	}
	*out = r;
	return 0;
}

/* The whole of @fd (@size bytes when looked at), NUL-terminated. */
static int slurp(int fd, off_t size, char **out)
{
	char *text;
	int n;

	if (size > SUBIDS_MAX_SIZE)
		return -EFBIG;
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

static bool same_file(const struct subids *s, const char *path, const struct stat *st)
{
	return s->seen && !strcmp(s->path, path) && st->st_dev == s->dev &&
	       st->st_ino == s->ino && st->st_size == s->size &&
	       st->st_mtim.tv_sec == s->mtime.tv_sec && st->st_mtim.tv_nsec == s->mtime.tv_nsec &&
	       st->st_ctim.tv_sec == s->ctime.tv_sec && st->st_ctim.tv_nsec == s->ctime.tv_nsec;
}

static void replace(struct subids *s, const char *path, const struct stat *st,
		    struct subid_range *r, size_t n)
{
	free(s->r);
	s->r = r;
	s->n = n;
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->seen = true;
	s->failing = false;
	s->dev = st ? st->st_dev : 0;
	s->ino = st ? st->st_ino : 0;
	s->size = st ? st->st_size : 0;
	s->mtime = st ? st->st_mtim : (struct timespec){ 0 };
	s->ctime = st ? st->st_ctim : (struct timespec){ 0 };
}

void subids_refresh(struct subids *s, const char *path)
{
	struct subid_range *r = NULL;
	struct stat st;
	char *text = NULL;
	size_t n = 0;
	int fd, e;

	fd = *path ? open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY) : -1;
	if (fd < 0 && (!*path || errno == ENOENT)) {
		replace(s, path, NULL, NULL, 0);	/* none */
		return;
	}
	e = fd < 0 ? -errno : fstat(fd, &st) < 0 ? -errno : 0;
	if (!e && same_file(s, path, &st)) {
		close(fd);
		return;
	}
	if (!e)
		e = S_ISREG(st.st_mode) ? slurp(fd, st.st_size, &text) : -EINVAL;
	if (fd >= 0)
		close(fd);
	if (!e)
		e = parse(path, text, &r, &n);
	free(text);
	if (e) {
		/* Said once until it is read again; tried again at each look. */
		if (!s->failing)
			log_warn("cannot use %s: %s; keeping the subordinate uid ranges read before",
				 path, strerror(-e));
		s->failing = true;
		return;
	}
	replace(s, path, &st, r, n);
}

uid_t subids_owner(const struct subids *s, uid_t uid)
{
	for (size_t i = 0; i < s->n; i++)
		if (uid >= s->r[i].start && uid - s->r[i].start < s->r[i].count)
			return s->r[i].owner;
	return uid;
}

void subids_free(struct subids *s)
{
	free(s->r);
	*s = (struct subids){ 0 };
}
