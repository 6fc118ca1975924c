// SPDX-License-Identifier: GPL-2.0
/*
 * Tombstones: the ids of the keys that were revoked or destroyed, kept in
 * STATE/tombs (tombfile.c) for as long as the keystore lives, counted and
 * hashed by the sealed root record.  Revoked is terminal: the generation
 * sum refuses an older key file put back, but the operator's recovery
 * (KS_OPEN_ACCEPT) takes the files found, and only a record outside those
 * files can still say that a key found there was revoked or destroyed.
 * In memory, 17 bytes a key (id and final state) in a sorted array: a
 * lookup is a binary search, at most KS_TOMBS_MAX of them.  A change is
 * appended to the file as it is made (ks_tomb_set()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"
#include "util.h"

/* The position of @id, or where it would go; *@found says which. */
static size_t ks_tomb_pos(const struct ks_tombs *tb, const uint8_t *id, bool *found)
{
	size_t lo = 0, hi = tb->n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(tb->t[mid].id, id, HSMKEY_ID_LEN);

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

/* Key @id's tombstone: KS_TOMB_REVOKED, KS_TOMB_DESTROYED, or 0 for none. */
int ks_tomb_find(const struct ks_tombs *tb, const uint8_t *id)
{
	bool found;
	size_t i = ks_tomb_pos(tb, id, &found);

	return found ? tb->t[i].state : 0;
}

/* A rise of key @id to @state: on file first (when the table has one). */
static int ks_tomb_write(struct ks_tombs *tb, const uint8_t *id, int state)
{
	return tb->file ? ks_tombfile_append(tb, id, state) : 0;
}

/*
 * Key @id is @state now (a tombstone only rises: revoked, then
 * destroyed); *@prev: what it was, for ks_tomb_undo() when the change
 * that made it does not happen.
 */
int ks_tomb_set(struct ks_tombs *tb, const uint8_t *id, int state, int *prev)
{
	bool found;
	size_t i = ks_tomb_pos(tb, id, &found);
	int r;

	*prev = found ? tb->t[i].state : 0;
	tb->undo_count = tb->count;
	memcpy(tb->undo_hash, tb->hash, KS_MAC_LEN);
	if (found) {
		if (state <= tb->t[i].state)
			return 0;
		r = ks_tomb_write(tb, id, state);
		if (!r)
			tb->t[i].state = (uint8_t)state;
		return r;
	}
	if (tb->n >= KS_TOMBS_MAX) {
		log_error("the keystore holds %u tombstones, its bound (a key revoked or destroyed keeps one for ever, so that no copy of its file makes it usable again): a key is only created while every key could still get one; this one does not",
			  KS_TOMBS_MAX);
		return -ENOSPC;
	}
	if (tb->n == tb->cap) {
		size_t cap = tb->cap ? 2 * tb->cap : 64;
		struct ks_tomb *t = realloc(tb->t, cap * sizeof(*t));

		if (!t)
			return -ENOMEM;
		tb->t = t;
		tb->cap = cap;
	}
	r = ks_tomb_write(tb, id, state);
	if (r)
		return r;
	memmove(tb->t + i + 1, tb->t + i, (tb->n - i) * sizeof(*tb->t));
	memcpy(tb->t[i].id, id, HSMKEY_ID_LEN);
	tb->t[i].state = (uint8_t)state;
	tb->n++;
	return 0;
}

/*
 * Key @id's tombstone back to @prev (0: none), as before the last
 * ks_tomb_set(): its entry is no longer counted (the root record's count
 * does not move) and goes from the file before the next one is appended.
 */
void ks_tomb_undo(struct ks_tombs *tb, const uint8_t *id, int prev)
{
	bool found;
	size_t i = ks_tomb_pos(tb, id, &found);

	if (tb->count != tb->undo_count)
		tb->extra = true;
	tb->count = tb->undo_count;
	memcpy(tb->hash, tb->undo_hash, KS_MAC_LEN);
	if (!found)
		return;
	if (prev) {
		tb->t[i].state = (uint8_t)prev;
		return;
	}
	memmove(tb->t + i, tb->t + i + 1, (tb->n - i - 1) * sizeof(*tb->t));
	tb->n--;
}

/*
 * Key @meta as its tombstone allows: one revoked (or destroyed) is revoked
 * whatever its file says, its deletion schedule dropped.  Returns the
 * tombstone; true work only when the file said otherwise (*@forced).
 */
int ks_tomb_keep(const struct ks_tombs *tb, struct ks_key *meta, bool *forced)
{
	int t = ks_tomb_find(tb, meta->id);

	*forced = t && !ks_key_revoked(meta);
	if (*forced) {
		meta->state = KS_REVOKED;
		meta->prior_state = 0;
		meta->delete_at = 0;
	}
	return t;
}

/* @n entries from a format-3 root record at @in into @tb: sorted, no id twice, known states. */
int ks_tomb_decode(struct ks_tombs *tb, const uint8_t *in, size_t n)
{
	struct ks_tomb *t;

	if (n > KS_TOMBS_MAX)
		return -EBADMSG;
	t = n ? malloc(n * sizeof(*t)) : NULL;
	if (n && !t)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++, in += KS_TOMB_LEN) {
		memcpy(t[i].id, in, HSMKEY_ID_LEN);
		t[i].state = in[HSMKEY_ID_LEN];
		if ((t[i].state != KS_TOMB_REVOKED && t[i].state != KS_TOMB_DESTROYED) ||
		    (i && memcmp(t[i - 1].id, t[i].id, HSMKEY_ID_LEN) >= 0)) {
			free(t);
			return -EBADMSG;
		}
	}
	ks_tomb_free(tb);
	tb->t = t;
	tb->n = tb->cap = n;
	return 0;
}

void ks_tomb_free(struct ks_tombs *tb)
{
	if (tb->file)
		close(tb->fd);
	free(tb->t);
	memset(tb, 0, sizeof(*tb));
}
