// SPDX-License-Identifier: GPL-2.0
/*
 * The embedded keystore's index: each key's authenticated metadata, built
 * when the store is opened and kept with every change, so that get and
 * list at 100,000 keys neither read nor unseal every file.  A sorted array
 * of pointers: lookups by binary search, a change moves pointers only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

/* The position of @name, or where it would go; *@found says which. */
static size_t ks_index_pos(const struct ks_index *ix, const char *name, bool *found)
{
	size_t lo = 0, hi = ix->n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(ix->e[mid]->meta.name, name);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct ks_entry *ks_index_find(const struct ks_index *ix, const char *name)
{
	bool found;
	size_t i = ks_index_pos(ix, name, &found);

	return found ? ix->e[i] : NULL;
}

size_t ks_index_after(const struct ks_index *ix, const char *name)
{
	bool found;
	size_t i;

	if (!name)
		return 0;
	i = ks_index_pos(ix, name, &found);
	return found ? i + 1 : i;
}

/* @name's entry, made if there is none. */
static struct ks_entry *ks_index_slot(struct ks_index *ix, const char *name)
{
	struct ks_entry *e;
	bool found;
	size_t i = ks_index_pos(ix, name, &found);

	if (found) {
		e = ix->e[i];
	} else {
		if (ix->n == ix->cap) {
			size_t cap = ix->cap ? 2 * ix->cap : 64;
			struct ks_entry **tmp = realloc(ix->e, cap * sizeof(*tmp));

			if (!tmp)
				return NULL;
			ix->e = tmp;
			ix->cap = cap;
		}
		e = calloc(1, sizeof(*e));
		if (!e)
			return NULL;
		memmove(ix->e + i + 1, ix->e + i, (ix->n - i) * sizeof(*ix->e));
		ix->e[i] = e;
		ix->n++;
	}
	return e;
}

/* Insert or replace @rec's entry; @st: its file as written or read. */
int ks_index_put(struct ks_index *ix, const struct ks_record *rec, const struct stat *st)
{
	struct ks_entry *e = ks_index_slot(ix, rec->meta.name);

	if (!e)
		return -ENOMEM;
	e->gen = rec->gen;
	e->damaged = false;
	e->meta = rec->meta;
	ks_key_wipe(&e->meta);
	e->dev = st ? st->st_dev : 0;
	e->ino = st ? st->st_ino : 0;
	e->ctime = st ? st->st_ctim : (struct timespec){ 0 };
	return 0;
}

/* Key @name, whose file does not authenticate, claiming generation @gen. */
int ks_index_put_damaged(struct ks_index *ix, const char *name, uint64_t gen)
{
	struct ks_entry *e = ks_index_slot(ix, name);

	if (!e)
		return -ENOMEM;
	memset(e, 0, sizeof(*e));
	snprintf(e->meta.name, sizeof(e->meta.name), "%s", name);
	e->gen = gen;
	e->damaged = true;
	return 0;
}

void ks_index_remove(struct ks_index *ix, const char *name)
{
	bool found;
	size_t i = ks_index_pos(ix, name, &found);

	if (!found)
		return;
	free(ix->e[i]);
	memmove(ix->e + i, ix->e + i + 1, (ix->n - i - 1) * sizeof(*ix->e));
	ix->n--;
}

void ks_index_free(struct ks_index *ix)
{
	for (size_t i = 0; i < ix->n; i++)
		free(ix->e[i]);
	free(ix->e);
	memset(ix, 0, sizeof(*ix));
}
