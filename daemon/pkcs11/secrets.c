// SPDX-License-Identifier: GPL-2.0
/*
 * What the token computes or keeps for the daemon itself, with keys that
 * never leave it: the records' MAC (hsmkey:record), derived daemon secrets
 * (hsmkey:root), audit signatures (hsmkey:audit, Ed25519), the instance id
 * and the rollback anchor.  CKO_DATA values cannot be changed (F21), so an
 * anchor is stored as a new object hsmkey:anchor:N before the older ones
 * are removed: after a crash between the two, the highest N wins.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pkcs11/helper.h"
#include "util.h"

#define ANCHOR_APP "hsmkey anchor"
#define ANCHOR_PREFIX "hsmkey:anchor:"

static int sign(struct hp_session *s, CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE key,
		const void *msg, size_t len, uint8_t *out, CK_ULONG outlen)
{
	CK_MECHANISM m = { mech, NULL, 0 };
	CK_ULONG n = outlen;
	CK_RV rv;

	rv = s->srv->p->C_SignInit(s->h, &m, key);
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_SignInit");
	rv = s->srv->p->C_Sign(s->h, (CK_BYTE_PTR)msg, len, out, &n);
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_Sign");
	if (n != outlen)
		return hp_failf(s, -EIO, "C_Sign gave %lu bytes", (unsigned long)n);
	return 0;
}

/*
 * hsmkey:record and hsmkey:root are used once per record and per key
 * version delivered: thousands of times at start-up.  A token object may
 * be re-read on every use (SoftHSM reads its file's generation for each
 * attribute it looks at), so each is copied once into a session object of
 * the session kept open (C_CopyObject, CKA_TOKEN false; still sensitive,
 * and never wrapped by anyone: it lives only in that session) and the copy
 * is used.  A token that refuses the copy is used as it is.  A logout
 * destroys private session objects: after one, the token objects serve
 * (copy_lost()).
 */
static pthread_mutex_t copies_lock = PTHREAD_MUTEX_INITIALIZER;

static CK_OBJECT_HANDLE copy_of(struct hp_server *srv, CK_OBJECT_HANDLE key)
{
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE t[] = { ATTR(CKA_TOKEN, &no, sizeof(no)) };
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

	if (key == CK_INVALID_HANDLE ||
	    srv->p->C_CopyObject(srv->keep, key, t, ARRAY_SIZE(t), &h) != CKR_OK)
		return CK_INVALID_HANDLE;
	return h;
}

/* The handle to use (the copy if any), and the token object's in *@key. */
static CK_OBJECT_HANDLE fast(struct hp_server *srv, bool root, CK_OBJECT_HANDLE *key)
{
	CK_OBJECT_HANDLE h;

	pthread_mutex_lock(&copies_lock);
	if (!srv->copies_tried) {
		srv->copies_tried = true;
		srv->record_copy = copy_of(srv, srv->record);
		srv->root_copy = copy_of(srv, srv->root);
	}
	h = root ? srv->root_copy : srv->record_copy;
	*key = root ? srv->root : srv->record;
	pthread_mutex_unlock(&copies_lock);
	return h != CK_INVALID_HANDLE ? h : *key;
}

/*
 * A key copied in by a join (shared.c): the token lacked it, so there is
 * no session copy of it (copy_of() of no key is none), and the token
 * object serves.  No copy is made now: after a logout (copy_lost()) a
 * thread may still hold a lost copy's number, which the new copy could
 * get, and it would then MAC with the wrong key.  The next helper copies it.
 */
void hp_secret_set(struct hp_server *srv, bool root, CK_OBJECT_HANDLE h)
{
	pthread_mutex_lock(&copies_lock);
	if (root) {
		srv->root = h;
		srv->root_copy = CK_INVALID_HANDLE;
	} else {
		srv->record = h;
		srv->record_copy = CK_INVALID_HANDLE;
	}
	pthread_mutex_unlock(&copies_lock);
}

int hp_lacks_shared(struct hp_session *s, const char *label)
{
	if (s->srv->instance == CK_INVALID_HANDLE)
		return hp_failf(s, -ENOENT, "has not joined a key store yet (no %s)", label);
	return hp_failf(s, -ENOENT, "holds no %s", label);
}

int hp_hmac_with(struct hp_session *s, CK_OBJECT_HANDLE key, const void *msg, size_t len,
		 uint8_t out[HSM_MAC_LEN])
{
	return sign(s, CKM_SHA256_HMAC, key, msg, len, out, HSM_MAC_LEN);
}

/*
 * @copy failed as a handle: a logout took both copies.  They are only
 * forgotten, not destroyed (a module may have given their numbers to
 * other objects already) nor made again (a thread may still hold an old
 * number, which a new copy could get): the token objects serve from then
 * on, until the module is opened again.
 */
static void copy_lost(struct hp_server *srv, CK_OBJECT_HANDLE copy)
{
	pthread_mutex_lock(&copies_lock);
	if (copy == srv->root_copy || copy == srv->record_copy)
		srv->root_copy = srv->record_copy = CK_INVALID_HANDLE;
	pthread_mutex_unlock(&copies_lock);
}

void hp_copies_forget(struct hp_server *srv)
{
	pthread_mutex_lock(&copies_lock);
	srv->root_copy = srv->record_copy = CK_INVALID_HANDLE;
	srv->copies_tried = false;
	pthread_mutex_unlock(&copies_lock);
}

/* HMAC-SHA256 under hsmkey:root (@root) or hsmkey:record, by the copy if there is one. */
static int hmac(struct hp_session *s, bool root, const void *msg, size_t len, uint8_t *out)
{
	struct hp_server *srv = s->srv;
	CK_OBJECT_HANDLE key, h = fast(srv, root, &key);
	int r;

	if (key == CK_INVALID_HANDLE)	/* never a call with handle 0 */
		return hp_lacks_shared(s, root ? "hsmkey:root" : "hsmkey:record");
	r = sign(s, CKM_SHA256_HMAC, h, msg, len, out, HSM_MAC_LEN);

	if (r && h != key && (s->rv == CKR_KEY_HANDLE_INVALID ||
			      s->rv == CKR_OBJECT_HANDLE_INVALID)) {
		copy_lost(srv, h);
		r = sign(s, CKM_SHA256_HMAC, key, msg, len, out, HSM_MAC_LEN);
	}
	return r;
}

int hp_mac(struct hp_session *s, const struct hp_data *in, struct hp_data *out)
{
	int r = hp_need(s, 1UL << HM_HMAC | 1UL << HM_SECRET_GEN);

	if (r)
		return r;
	out->len = HSM_MAC_LEN;
	return hmac(s, false, in->buf, in->len, out->buf);
}

/* HMAC-SHA256_root(label || be32(counter)), counter from 1, cut to n bytes. */
int hp_derive_bytes(struct hp_session *s, const void *label, size_t len, uint8_t *out, size_t n)
{
	uint8_t msg[HP_DATA_MAX + 4], block[HSM_MAC_LEN];
	uint32_t i;
	size_t done;
	int r = 0;

	if (len > HP_DATA_MAX)
		return hp_failf(s, -EMSGSIZE, "a label of %zu bytes", len);
	memcpy(msg, label, len);
	for (i = 1, done = 0; done < n; i++) {
		msg[len] = i >> 24;
		msg[len + 1] = i >> 16;
		msg[len + 2] = i >> 8;
		msg[len + 3] = i;
		r = hmac(s, true, msg, len + 4, block);
		if (r)
			break;
		memcpy(out + done, block, n - done < 32 ? n - done : 32);
		done += n - done < 32 ? n - done : 32;
	}
	wipe(block, sizeof(block));
	if (r)
		wipe(out, n);	/* the blocks made before the failure */
	return r;
}

int hp_derive(struct hp_session *s, const struct hp_data *in, struct hp_data *out)
{
	int r = hp_need(s, 1UL << HM_HMAC | 1UL << HM_SECRET_GEN);

	if (!r)
		r = hp_derive_bytes(s, in->buf, in->len, out->buf, in->n);
	out->len = r ? 0 : in->n;
	return r;
}

int hp_random(struct hp_session *s, const struct hp_data *in, struct hp_data *out)
{
	CK_RV rv = s->srv->p->C_GenerateRandom(s->h, out->buf, (CK_ULONG)in->n);

	if (rv != CKR_OK) {
		wipe(out->buf, in->n);
		out->len = 0;
	}
	if (rv == CKR_RANDOM_NO_RNG || rv == CKR_FUNCTION_NOT_SUPPORTED)
		return hp_failf(s, -EOPNOTSUPP, "the token has no random number generator");
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_GenerateRandom");
	out->len = (uint32_t)in->n;
	return 0;
}

int hp_sign(struct hp_session *s, const struct hp_data *in, struct hp_reply *rep)
{
	int r = hp_need(s, 1UL << HM_ED_GEN | 1UL << HM_EDDSA);

	if (r)
		return r;
	if (s->srv->audit == CK_INVALID_HANDLE)
		return hp_lacks_shared(s, "hsmkey:audit");
	memcpy(rep->sign.pub, s->srv->audit_pub, HSM_PUB_LEN);
	return sign(s, CKM_EDDSA, s->srv->audit, in->buf, in->len, rep->sign.sig, HSM_SIG_LEN);
}

static int read_instance(struct hp_session *s, CK_OBJECT_HANDLE h, uint8_t *out)
{
	CK_ATTRIBUTE a = ATTR(CKA_VALUE, out, HSMKEY_OWNER_LEN);
	CK_RV rv;

	rv = s->srv->p->C_GetAttributeValue(s->h, h, &a, 1);
	if (rv != CKR_OK)
		return hp_fail(s, rv, "C_GetAttributeValue(hsmkey:instance)");
	if (a.ulValueLen != HSMKEY_OWNER_LEN)
		return hp_failf(s, -EIO, "hsmkey:instance is %lu bytes", (unsigned long)a.ulValueLen);
	return 0;
}

int hp_instance(struct hp_session *s, struct hp_data *out)
{
	int r;

	if (s->srv->instance == CK_INVALID_HANDLE)
		return hp_lacks_shared(s, "hsmkey:instance");
	r = read_instance(s, s->srv->instance, out->buf);
	if (!r)
		out->len = HSMKEY_OWNER_LEN;
	return r;
}

/*
 * hsmkey:instance with @in's value, where the token lacks it; it is made
 * last in a join, and only once record and root are in: a token holding
 * it is taken as a whole member from then on (hp_token_objects() makes
 * its own hsmkey:audit, as this does now).
 */
int hp_instance_set(struct hp_session *s, const struct hp_data *in)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct hp_server *srv = s->srv;
	uint8_t have[HSMKEY_OWNER_LEN];
	CK_OBJECT_HANDLE h;
	int r;

	if (srv->record == CK_INVALID_HANDLE || srv->root == CK_INVALID_HANDLE)
		return hp_failf(s, -ENOENT, "lacks hsmkey:%s: it is copied in before the instance",
				srv->record == CK_INVALID_HANDLE ? "record" : "root");
	pthread_mutex_lock(&lock);
	r = hp_find_one(s, CKO_DATA, "hsmkey:instance", &h);
	if (!r) {
		r = read_instance(s, h, have);
		if (!r && memcmp(have, in->buf, HSMKEY_OWNER_LEN))
			r = hp_failf(s, -EEXIST, "holds another hsmkey:instance: it is a member of "
				     "another key store");
	} else if (r == -ENOENT) {
		log_info("token '%s': joining a key store: making hsmkey:instance", srv->label);
		r = hp_make_data(s, "hsmkey:instance", in->buf, HSMKEY_OWNER_LEN, &h);
	}
	if (!r)
		srv->instance = h;
	pthread_mutex_unlock(&lock);
	return r ?: hp_audit_ensure(s, true);
}

/*
 * Every hsmkey:anchor:N object, with its N (*@h and *@num: free() them).
 * All of them, however many crashes left: the newest must not be missed.
 */
static int anchors(struct hp_session *s, CK_OBJECT_HANDLE **hp, uint64_t **nump, CK_ULONG *n)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)),
		ATTR(CKA_APPLICATION, ANCHOR_APP, strlen(ANCHOR_APP)),
	};
	char label[64];
	CK_ATTRIBUTE a = ATTR(CKA_LABEL, label, sizeof(label) - 1);
	CK_OBJECT_HANDLE *h;
	uint64_t *num = NULL;
	CK_ULONG i, kept = 0;
	CK_RV rv = CKR_OK;
	int r;

	r = hp_find_all(s, t, ARRAY_SIZE(t), &h, n);
	if (r)
		return r;
	num = calloc(*n + 1, sizeof(*num));
	if (!num) {
		free(h);
		return hp_failf(s, -ENOMEM, "out of memory");
	}
	for (i = 0; rv == CKR_OK && i < *n; i++) {
		a.ulValueLen = sizeof(label) - 1;
		rv = s->srv->p->C_GetAttributeValue(s->h, h[i], &a, 1);
		if (rv != CKR_OK)
			break;
		label[a.ulValueLen] = 0;
		if (strncmp(label, ANCHOR_PREFIX, strlen(ANCHOR_PREFIX)))
			continue;
		h[kept] = h[i];
		num[kept++] = strtoull(label + strlen(ANCHOR_PREFIX), NULL, 10);
	}
	if (rv != CKR_OK) {
		free(h);
		free(num);
		return hp_fail(s, rv, "C_GetAttributeValue(CKA_LABEL)");
	}
	*hp = h;
	*nump = num;
	*n = kept;
	return 0;
}

static CK_ULONG newest(const uint64_t *num, CK_ULONG n)
{
	CK_ULONG i, best = 0;

	for (i = 1; i < n; i++)
		if (num[i] > num[best])
			best = i;
	return best;
}

int hp_anchor_load(struct hp_session *s, struct hp_data *out)
{
	CK_OBJECT_HANDLE *h;
	uint64_t *num;
	CK_ATTRIBUTE a = ATTR(CKA_VALUE, out->buf, HSM_ANCHOR_MAX);
	CK_ULONG n, i;
	CK_RV rv;
	int r;

	r = anchors(s, &h, &num, &n);
	if (r)
		return r;
	if (!n) {
		r = hp_failf(s, -ENOENT, "no rollback anchor in the token");
	} else {
		i = newest(num, n);
		rv = s->srv->p->C_GetAttributeValue(s->h, h[i], &a, 1);
		if (rv != CKR_OK)
			r = hp_fail(s, rv, "C_GetAttributeValue(anchor)");
		out->n = num[i];
		out->len = a.ulValueLen;
	}
	free(h);
	free(num);
	return r;
}

int hp_anchor_store(struct hp_session *s, const struct hp_data *in)
{
	CK_OBJECT_HANDLE *h, made;
	uint64_t *num;
	CK_OBJECT_CLASS cls = CKO_DATA;
	char label[64];
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)), ATTR_T(CKA_TOKEN), ATTR_T(CKA_PRIVATE),
		ATTR(CKA_APPLICATION, ANCHOR_APP, strlen(ANCHOR_APP)),
		ATTR(CKA_LABEL, label, 0), ATTR(CKA_VALUE, in->buf, in->len),
	};
	CK_ULONG n, i;
	CK_RV rv;
	int r;

	r = anchors(s, &h, &num, &n);
	if (r)
		return r;
	if (n && num[newest(num, n)] >= in->n) {
		r = hp_failf(s, -EEXIST, "anchor %" PRIu64 " is not above the stored %" PRIu64,
			     in->n, num[newest(num, n)]);
		goto out;
	}
	t[4].ulValueLen = snprintf(label, sizeof(label), ANCHOR_PREFIX "%" PRIu64, in->n);
	rv = s->srv->p->C_CreateObject(s->h, t, ARRAY_SIZE(t), &made);
	if (rv != CKR_OK) {
		r = hp_fail(s, rv, "C_CreateObject(anchor)");
		goto out;
	}
	for (i = 0; i < n && !r; i++) {
		rv = s->srv->p->C_DestroyObject(s->h, h[i]);
		if (rv != CKR_OK)
			r = hp_fail(s, rv, "C_DestroyObject(anchor)");
	}
out:
	free(h);
	free(num);
	return r;
}
