// SPDX-License-Identifier: GPL-2.0
/*
 * Object handles of key versions, remembered by CKA_ID.  SoftHSM's
 * C_FindObjects looks at every object of the token (and at its file), so a
 * find per key made delivery from a token of 1,000 keys a hundred times
 * slower than the wrap itself.  A remembered handle is checked before use
 * (its CKA_CLASS and CKA_ID read back): a handle some other process freed,
 * or one a module reused for another object, is never wrapped.
 */
#include <stdlib.h>
#include <string.h>
#include "pkcs11/helper.h"
#include "util.h"

struct hp_handle {
	uint8_t vid[HP_VID_LEN];
	CK_OBJECT_HANDLE h;
	bool used;
};

static size_t slot_of(const uint8_t *vid, size_t cap)
{
	uint64_t x = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < HP_VID_LEN; i++)
		x = (x ^ vid[i]) * 1099511628211ULL;
	return x & (cap - 1);
}

static bool lookup(struct hp_server *srv, const uint8_t *vid, CK_OBJECT_HANDLE *h)
{
	size_t i;
	bool found = false;

	pthread_mutex_lock(&srv->handles_lock);
	for (i = srv->handles_cap ? slot_of(vid, srv->handles_cap) : 0;
	     srv->handles_cap && srv->handles[i].used; i = (i + 1) & (srv->handles_cap - 1)) {
		if (!memcmp(srv->handles[i].vid, vid, HP_VID_LEN)) {
			*h = srv->handles[i].h;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&srv->handles_lock);
	return found;
}

static void insert(struct hp_handle *t, size_t cap, const uint8_t *vid, CK_OBJECT_HANDLE h)
{
	size_t i;

	for (i = slot_of(vid, cap); t[i].used && memcmp(t[i].vid, vid, HP_VID_LEN);
	     i = (i + 1) & (cap - 1))
		;
	memcpy(t[i].vid, vid, HP_VID_LEN);
	t[i].h = h;
	t[i].used = true;
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
				insert(t, cap, srv->handles[i].vid, srv->handles[i].h);
		free(srv->handles);
		srv->handles = t;
		srv->handles_cap = cap;
	}
	insert(srv->handles, srv->handles_cap, vid, h);
	srv->handles_n++;
out:
	pthread_mutex_unlock(&srv->handles_lock);
}

/* After a destruction: forget them all (rare; they are found again). */
void hp_handles_forget(struct hp_server *srv)
{
	pthread_mutex_lock(&srv->handles_lock);
	free(srv->handles);
	srv->handles = NULL;
	srv->handles_cap = srv->handles_n = 0;
	pthread_mutex_unlock(&srv->handles_lock);
}

/* The remembered handle of @vid, if it still names that key version. */
bool hp_handle_recall(struct hp_session *s, const uint8_t *vid, CK_OBJECT_HANDLE *h)
{
	CK_OBJECT_CLASS cls = 0;
	uint8_t id[HP_VID_LEN + 1];
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)), ATTR(CKA_ID, id, sizeof(id)),
	};

	if (!lookup(s->srv, vid, h))
		return false;
	return s->srv->p->C_GetAttributeValue(s->h, *h, t, ARRAY_SIZE(t)) == CKR_OK &&
	       cls == CKO_SECRET_KEY && t[1].ulValueLen == HP_VID_LEN &&
	       !memcmp(id, vid, HP_VID_LEN);
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
		rv = p->C_FindObjects(s->h, h, ARRAY_SIZE(h), &n);
		if (rv != CKR_OK)
			break;
		for (i = 0; i < n; i++) {
			a.ulValueLen = sizeof(vid);
			if (p->C_GetAttributeValue(s->h, h[i], &a, 1) == CKR_OK &&
			    a.ulValueLen == HP_VID_LEN)
				hp_handle_remember(s->srv, vid, h[i]);
		}
	} while (n == ARRAY_SIZE(h));
	p->C_FindObjectsFinal(s->h);
	return rv == CKR_OK ? 0 : hp_fail(s, rv, "C_FindObjects");
}
