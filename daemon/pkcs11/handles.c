// SPDX-License-Identifier: GPL-2.0
/*
 * Object handles of key versions, remembered by CKA_ID.  SoftHSM's
 * C_FindObjects looks at every object of the token (and at its file), so a
 * find per key made delivery from a token of 1,000 keys a hundred times
 * slower than the wrap itself.
 *
 * A remembered handle is checked (its CKA_CLASS and CKA_ID read back)
 * before use when it was last found or checked more than HANDLE_FRESH_NS
 * ago: a handle some other process freed since, or one a module reused
 * for another object, is not wrapped.  Within that time it is used as
 * found: the read is as dear as the wrap (SoftHSM re-reads a token
 * object's file for it), and a start-up that had just found every handle
 * delivered at half the rate with it.  What that leaves: another process
 * with the PIN that destroys a key version's object and makes another
 * secret key of the same length within the minute, on a module that gives
 * the new object the old handle, has that key wrapped for this version.
 * (SoftHSM never reuses a handle: the wrap fails, and deliver.c looks the
 * version up again.)  A holder of the PIN can wrap any extractable key for
 * itself anyway (hsmkeyd(8), the wrap attack).  This daemon's own
 * destructions forget the handle before and after the object goes, and a
 * check refreshes an entry only while it still holds the handle checked.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "pkcs11/helper.h"
#include "util.h"

#define HANDLE_FRESH_NS	(60ULL * 1000000000ULL)

struct hp_handle {
	uint8_t vid[HP_VID_LEN];
	CK_OBJECT_HANDLE h;
	uint64_t checked;	/* CLOCK_MONOTONIC ns of the last find or check */
	bool used;
};

static size_t slot_of(const uint8_t *vid, size_t cap)
{
	return fnv1a64(vid, HP_VID_LEN) & (cap - 1);
}

/* @vid's entry, with srv->handles_lock held; NULL if none. */
static struct hp_handle *entry(struct hp_server *srv, const uint8_t *vid)
{
	size_t i;

	for (i = srv->handles_cap ? slot_of(vid, srv->handles_cap) : 0;
	     srv->handles_cap && srv->handles[i].used; i = (i + 1) & (srv->handles_cap - 1))
		if (!memcmp(srv->handles[i].vid, vid, HP_VID_LEN))
			return &srv->handles[i];
	return NULL;
}

/* @vid's handle and when it was last found or checked; false if none. */
static bool lookup(struct hp_server *srv, const uint8_t *vid, CK_OBJECT_HANDLE *h,
		   uint64_t *checked)
{
	struct hp_handle *e;

	pthread_mutex_lock(&srv->handles_lock);
	e = entry(srv, vid);
	if (e)
		*h = e->h, *checked = e->checked;
	pthread_mutex_unlock(&srv->handles_lock);
	return e;
}

/* 1 if @vid is new to the table, 0 if its entry was updated. */
static int insert(struct hp_handle *t, size_t cap, const uint8_t *vid, CK_OBJECT_HANDLE h,
		  uint64_t checked)
{
	bool fresh;
	size_t i;

	for (i = slot_of(vid, cap); t[i].used && memcmp(t[i].vid, vid, HP_VID_LEN);
	     i = (i + 1) & (cap - 1))
		;
	fresh = !t[i].used;
	memcpy(t[i].vid, vid, HP_VID_LEN);
	t[i].h = h;
	t[i].checked = checked;
	t[i].used = true;
	return fresh;
}

void hp_handle_remember(struct hp_server *srv, const uint8_t *vid, CK_OBJECT_HANDLE h)
{
	struct hp_handle *t;
	size_t cap, i;

	pthread_mutex_lock(&srv->handles_lock);
	if ((srv->handles_n + 1) * 2 > srv->handles_cap) {
		cap = srv->handles_cap ? srv->handles_cap * 2 : 1024;
		t = calloc(cap, sizeof(*t));
		if (!t)
			goto out;	/* not remembered: found again next time */
		for (i = 0; i < srv->handles_cap; i++)
			if (srv->handles[i].used)
				insert(t, cap, srv->handles[i].vid, srv->handles[i].h,
				       srv->handles[i].checked);
		free(srv->handles);
		srv->handles = t;
		srv->handles_cap = cap;
	}
	srv->handles_n += insert(srv->handles, srv->handles_cap, vid, h, monotonic_ns());
out:
	pthread_mutex_unlock(&srv->handles_lock);
}

/* @vid's entry checked now, if it still holds @h (not forgotten meanwhile). */
static void refresh(struct hp_server *srv, const uint8_t *vid, CK_OBJECT_HANDLE h)
{
	struct hp_handle *e;

	pthread_mutex_lock(&srv->handles_lock);
	e = entry(srv, vid);
	if (e && e->h == h)
		e->checked = monotonic_ns();
	pthread_mutex_unlock(&srv->handles_lock);
}

/* After a destruction: the entry stays, naming no handle (0). */
void hp_handle_forget(struct hp_server *srv, const uint8_t *vid)
{
	struct hp_handle *e;

	pthread_mutex_lock(&srv->handles_lock);
	e = entry(srv, vid);
	if (e)
		e->h = CK_INVALID_HANDLE;
	pthread_mutex_unlock(&srv->handles_lock);
}

/* All of them, when the module is closed. */
void hp_handles_forget(struct hp_server *srv)
{
	pthread_mutex_lock(&srv->handles_lock);
	free(srv->handles);
	srv->handles = NULL;
	srv->handles_cap = srv->handles_n = 0;
	pthread_mutex_unlock(&srv->handles_lock);
}

/*
 * The remembered handle of @vid, if it was found or checked within
 * HANDLE_FRESH_NS or still names that key version now.
 */
bool hp_handle_recall(struct hp_session *s, const uint8_t *vid, CK_OBJECT_HANDLE *h)
{
	CK_OBJECT_CLASS cls = 0;
	uint8_t id[HP_VID_LEN + 1];
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)), ATTR(CKA_ID, id, sizeof(id)),
	};
	uint64_t checked;

	if (!lookup(s->srv, vid, h, &checked) || *h == CK_INVALID_HANDLE)
		return false;
	if (monotonic_ns() - checked < HANDLE_FRESH_NS)
		return true;
	if (s->srv->p->C_GetAttributeValue(s->h, *h, t, ARRAY_SIZE(t)) != CKR_OK ||
	    cls != CKO_SECRET_KEY || t[1].ulValueLen != HP_VID_LEN || memcmp(id, vid, HP_VID_LEN))
		return false;
	refresh(s->srv, vid, *h);
	return true;
}

/* At start: every key version's handle, from one search of the token. */
int hp_handles_load(struct hp_session *s)
{
	CK_FUNCTION_LIST *p = s->srv->p;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = { ATTR(CKA_CLASS, &cls, sizeof(cls)) };
	CK_OBJECT_HANDLE h[256];
	uint8_t vid[HP_VID_LEN + 1];
	CK_ATTRIBUTE a = ATTR(CKA_ID, vid, sizeof(vid));
	CK_ULONG n, i;
	CK_RV rv;

	rv = p->C_FindObjectsInit(s->h, t, ARRAY_SIZE(t));
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_FindObjectsInit");
	do {
		rv = hp_find_next(s, h, ARRAY_SIZE(h), &n);
		if (rv != CKR_OK)
			break;
		for (i = 0; i < n; i++) {
			a.ulValueLen = sizeof(vid);
			if (p->C_GetAttributeValue(s->h, h[i], &a, 1) == CKR_OK &&
			    a.ulValueLen == HP_VID_LEN)
				hp_handle_remember(s->srv, vid, h[i]);
			if (i % 64 == 63)
				hp_beat(s->srv);	/* a slow token: a step per 64 reads */
		}
	} while (n == ARRAY_SIZE(h));
	p->C_FindObjectsFinal(s->h);
	return rv == CKR_OK ? 0 : hp_fail(s, rv, "C_FindObjects");
}
