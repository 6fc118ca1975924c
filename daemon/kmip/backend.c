// SPDX-License-Identifier: GPL-2.0
/*
 * The KMIP backend's table of operations (backend.h; store.h says how the
 * key server and this host's keystore share the work).
 *
 * A change the server must make is made there first and recorded here
 * after: a key is created (or registered) and activated on the server,
 * then added to the keystore; a revocation or destruction reaches the
 * server before the keystore.  When the server cannot be reached, such
 * changes fail with -EHOSTDOWN and nothing here changes; what needs only
 * this host (disable, enable, policy, usage, a deletion scheduled or
 * cancelled) goes on.  A key created on the server that cannot then be
 * recorded here is destroyed there again.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/rand.h>
#include "config.h"
#include "identity.h"
#include "kmip/store.h"
#include "util.h"

#define LOCKED(st, call) ({				\
	int __r;					\
	pthread_mutex_lock(&(st)->lock);		\
	__r = (call);					\
	pthread_mutex_unlock(&(st)->lock);		\
	__r;						\
})

/*
 * The server back after being away wakes the daemon: what could not be
 * loaded meanwhile is loaded by the reconciliation that follows.
 */
int kmip_note(struct kmip_store *st, int r, const char *why)
{
	bool down = r == -EHOSTDOWN, back = false;

	/* An answer unreadable after the request went out: neither up nor down. */
	if (r == -ECONNABORTED)
		return r;
	pthread_mutex_lock(&st->health_lock);
	if (down && !st->down)
		log_error("the KMIP server cannot be reached: %s", why);
	else if (!down && st->down && r != -ENOMEM)
		log_info("the KMIP server answers again");
	if (down)
		snprintf(st->why, sizeof(st->why), "%s", why);
	if (down || r != -ENOMEM) {
		back = st->down && !down;
		st->down = down;
	}
	pthread_mutex_unlock(&st->health_lock);
	if (back)
		kmip_wake(st);
	return r;
}

static unsigned int km_comebacks(struct backend *b)
{
	return __atomic_load_n(&kmip_store_of(b)->changes, __ATOMIC_SEQ_CST);
}

static int km_comebacks_fd(struct backend *b)
{
	return kmip_store_of(b)->wake_fd;
}

static int km_storage_events(struct backend *b,
			     void (*fn)(void *arg, const char *name, uint32_t version,
					const char *why),
			     void *arg)
{
	return kmip_storage_events(kmip_store_of(b), fn, arg);
}

static int km_health(struct backend *b, char *why, size_t len)
{
	struct kmip_store *st = kmip_store_of(b);
	int r;

	pthread_mutex_lock(&st->health_lock);
	r = st->down ? -EHOSTDOWN : 0;
	if (r)
		snprintf(why, len, "%s", st->why);
	pthread_mutex_unlock(&st->health_lock);
	return r;
}

/* An identity key type's Cryptographic Algorithm and Length. */
static void identity_kind(int type, uint32_t *algorithm, uint32_t *bits)
{
	*algorithm = ks_type_rsa(type) ? KMIP_ALG_RSA :
		     type == KS_TYPE_ED25519 ? KMIP_ALG_ED25519 : KMIP_ALG_ECDSA;
	*bits = type == KS_TYPE_RSA_2048 ? 2048 : type == KS_TYPE_RSA_3072 ? 3072 :
		type == KS_TYPE_ECDSA_P384 ? 384 : 256;
}

/*
 * What the server's object for a key of @type is: an AES key (the
 * kernel's keys, KMS keys), an HMAC-SHA256 key (MAC keys) or a private key
 * (identity keys), usable for that and exportable (hsmkeyd fetches it
 * with Get).
 */
static void object_attrs(int type, const char *name, struct kmip_key_attrs *a)
{
	bool mac = ks_type_mac(type);

	*a = (struct kmip_key_attrs){
		.name = name, .bits = 8 * key_type_len(type), .group = KMIP_GROUP,
		.object_type = KMIP_OBJECT_SYMMETRIC_KEY,
		.algorithm = mac ? KMIP_ALG_HMAC_SHA256 : KMIP_ALG_AES,
		.usage = (mac ? KMIP_USAGE_MAC_GENERATE | KMIP_USAGE_MAC_VERIFY :
			  KMIP_USAGE_ENCRYPT | KMIP_USAGE_DECRYPT) | KMIP_USAGE_EXPORT,
		.spent = true,
	};
	if (ks_type_identity(type)) {
		a->spent = false;
		a->object_type = KMIP_OBJECT_PRIVATE_KEY;
		a->usage = KMIP_USAGE_SIGN | KMIP_USAGE_EXPORT;
		identity_kind(type, &a->algorithm, &a->bits);
	}
}

/* Register: a symmetric key's bytes, or a private key's PKCS #8. */
static int server_register(struct kmip_store *st, const struct kmip_key_attrs *a, int type,
			   const uint8_t *material, char uid[KMIP_UID_MAX], char *why,
			   size_t whylen)
{
	size_t n = KMIP_PRIVATE_MAX;
	uint8_t *der;
	int r;

	if (!ks_type_identity(type))
		return kmip_register(st->client, a, material, key_type_len(type), uid, why, whylen);
	der = secret_pages(n, "a private key to register");
	if (!der)
		return -ENOMEM;
	r = identity_pkcs8(type, material, der, &n);
	if (r)
		snprintf(why, whylen, "cannot encode the private key: %s", strerror(-r));
	else
		r = kmip_register(st->client, a, der, n, uid, why, whylen);
	wipe(der, KMIP_PRIVATE_MAX);
	secret_pages_free(der, KMIP_PRIVATE_MAX);
	return r;
}

/*
 * The server's object for a new key or version; activated.  It says which
 * version of @name it is (message.h): the first, or the one after @cur.
 */
static int server_key(struct kmip_store *st, const char *name, int type,
		      const uint8_t *material, const struct ks_key *cur,
		      char uid[KMIP_UID_MAX])
{
	struct kmip_key_attrs a;
	char why[512], why2[512];
	int r;

	object_attrs(type, name, &a);
	a.version = cur ? cur->current + 1 : 1;
	a.replaces = cur && cur->ref[0] ? cur->ref : NULL;
	if (material)
		r = server_register(st, &a, type, material, uid, why, sizeof(why));
	else if (a.object_type != KMIP_OBJECT_SYMMETRIC_KEY)
		return -EINVAL;	/* a key pair is made by the caller (make_key_pair()) */
	else
		r = kmip_create(st->client, &a, uid, why, sizeof(why));
	if (!r) {
		r = kmip_activate(st->client, uid, why, sizeof(why));
		if (r && kmip_destroy(st->client, uid, why2, sizeof(why2)))
			log_error("key %s: the KMIP server's object %s is left behind, not in use: %s",
				  name, uid, why2);
		else if (r == -ECONNABORTED)
			r = -EHOSTDOWN;	/* undone: nothing is left that may have been made */
	}
	kmip_note(st, r, why);
	if (r)
		log_error("key %s: %s", name, why);
	return r;
}

/* A server object that is not to be kept after all: gone, as far as may be. */
static void server_drop(struct kmip_store *st, const char *name, const char *uid)
{
	char why[512];
	int r;

	r = kmip_revoke(st->client, uid, KMIP_REVOKE_CESSATION, "not recorded by hsmkey", why,
			sizeof(why));
	if (!r || r == -EPERM)
		r = kmip_destroy(st->client, uid, why, sizeof(why));
	if (r && r != -ENOENT)
		log_error("key %s: the KMIP server's object %s is left behind, not in use: %s",
			  name, uid, why);
}

/* @out's material: the caller's, or the server's own. */
static int fill_material(struct kmip_store *st, const uint8_t *material, struct ks_key *out)
{
	if (!material)
		return kmip_fetch(st, out);
	memcpy(out->material, material, key_type_len(out->type));
	return 0;
}

/*
 * The server's new object @uid, which the caller recorded here in @out (a
 * new key or a version) with result @r: @out's material filled, or the
 * object dropped again if it could not be recorded.
 */
static int record_new(struct kmip_store *st, const char *name, const char *uid,
		      const uint8_t *material, int r, struct ks_key *out)
{
	if (r) {
		server_drop(st, name, uid);
		return r;
	}
	log_info("key %s version %u is the KMIP server's object %s", name, out->version, uid);
	r = fill_material(st, material, out);
	if (r) {
		log_error("key %s version %u is made (on the KMIP server and here), but its material could not be fetched to load it (%s): 'hsmkeyctl load %s' loads it",
			  name, out->version, strerror(-r), name);
		ks_key_wipe(out);
		r = -ENOLINK;	/* made, not loaded: store_failed() says so */
	}
	return r;
}

/*
 * A new MAC key's material, made here into @made (secret pages of the
 * caller's, who frees them with made_free()) when the caller gave none:
 * KMIP 1.x leaves Create of HMAC keys to each server's choice (PyKMIP's
 * makes only cipher keys), and hsmkeyd holds a MAC key at each use
 * anyway.  Other keys' material the server makes (Create), as before.
 */
static int mac_material(int type, const uint8_t **material, uint8_t **made)
{
	unsigned int n = key_type_len(type);

	*made = NULL;
	if (*material || !ks_type_mac(type))
		return 0;
	*made = secret_pages(n, "a new MAC key");
	if (!*made)
		return -ENOMEM;
	if (RAND_priv_bytes(*made, (int)n) != 1) {
		secret_pages_free(*made, n);
		*made = NULL;
		return -EIO;
	}
	*material = *made;
	return 0;
}

static void made_free(int type, uint8_t *made)
{
	if (made) {
		wipe(made, key_type_len(type));
		secret_pages_free(made, key_type_len(type));
	}
}

/*
 * A new server object for key @name of @type (a new key, or the version
 * after @cur, its current one), recorded here into @out: create() and
 * rotate().  Changes are serialised (worker.c), so the version recorded
 * is the one the object says it is.
 */
static int server_new(struct kmip_store *st, const char *name, int type,
		      const uint8_t *material, const struct ks_key *cur, struct ks_key *out)
{
	char uid[KMIP_UID_MAX];
	uint8_t *made = NULL;
	int r = mac_material(type, &material, &made);

	if (!r)
		r = server_key(st, name, type, material, cur, uid);
	if (!r) {
		r = cur ? LOCKED(st, ks_rotate_ref(st->ks, name, uid, out)) :
			     LOCKED(st, ks_create_ref(st->ks, name, type, uid, out));
		r = record_new(st, name, uid, material, r, out);
	}
	made_free(type, made);
	return r;
}

static int km_create(struct backend *b, const char *name, int type, const uint8_t *material,
		     struct ks_key *out)
{
	struct kmip_store *st = kmip_store_of(b);
	struct ks_key probe;
	int r;

	r = LOCKED(st, ks_get(st->ks, name, false, &probe));
	if (r != -ENOENT)
		return r ? r : -EEXIST;
	return server_new(st, name, type, material, NULL, out);
}

static int km_rotate(struct backend *b, const char *name, const uint8_t *material,
		     struct ks_key *out)
{
	struct kmip_store *st = kmip_store_of(b);
	struct ks_key cur;
	int r;

	r = LOCKED(st, ks_get(st->ks, name, false, &cur));
	return r ? r : server_new(st, name, cur.type, material, &cur, out);
}

static int km_get(struct backend *b, const char *name, uint32_t version, bool unseal,
		  struct ks_key *out)
{
	struct kmip_store *st = kmip_store_of(b);
	int r;

	r = LOCKED(st, ks_get_version(st->ks, name, version, unseal, out));
	if (r || !unseal)
		return r;
	if (!out->ref[0]) {
		ks_key_wipe(out);
		return log_errno(EBADMSG, "key %s version %u names no object on the KMIP server: its record is damaged",
				 name, version ? version : out->version);
	}
	r = kmip_fetch(st, out);
	if (r == -ENOENT)
		r = -EKEYREVOKED;	/* the server no longer has it (poll.c revokes it) */
	if (r)
		ks_key_wipe(out);
	return r;
}

#define LIST_CHUNK	64

struct chunk {
	struct ks_key *keys;
	size_t n;
};

static int take_key(const struct ks_key *key, void *arg)
{
	struct chunk *c = arg;

	c->keys[c->n++] = *key;
	return c->n == LIST_CHUNK;	/* full: stop the walk */
}

/*
 * The keystore's walk, LIST_CHUNK keys at a time, @fn called without
 * st->lock: it may load a key, which fetches from the server and may
 * register the KEK (kek_lock, then st->lock), so st->lock stays a leaf.
 */
static int km_list(struct backend *b, const char *after,
		   int (*fn)(const struct ks_key *key, void *arg), void *arg)
{
	struct kmip_store *st = kmip_store_of(b);
	struct chunk c = { .keys = calloc(LIST_CHUNK, sizeof(*c.keys)) };
	char last[HSMKEY_NAME_MAX];
	const char *from = after;
	size_t i;
	int r = c.keys ? 0 : -ENOMEM;

	while (!r) {
		c.n = 0;
		r = LOCKED(st, ks_list(st->ks, from, take_key, &c));
		if (r < 0)
			break;
		for (i = 0, r = 0; !r && i < c.n; i++)
			r = fn(&c.keys[i], arg);
		if (r || c.n < LIST_CHUNK)
			break;
		snprintf(last, sizeof(last), "%s", c.keys[c.n - 1].name);
		from = last;
	}
	free(c.keys);
	return r;
}

/*
 * Version @i of @name, which must name its object on the server (v->ref
 * "": no such version, nothing to do); -EBADMSG for a damaged record.
 */
static int version_object(struct kmip_store *st, const char *name, uint32_t i, struct ks_key *v)
{
	int r = LOCKED(st, ks_get_version(st->ks, name, i, false, v));

	if (r == -ENOENT) {
		v->ref[0] = '\0';
		return 0;
	}
	if (!r && !v->ref[0])
		r = log_errno(EBADMSG, "key %s version %u names no object on the KMIP server: its record is damaged",
			      name, i);
	return r;
}

/* Every version's object on the server revoked: the key's revocation there. */
static int server_revoke(struct kmip_store *st, const char *name, uint32_t current)
{
	struct ks_key v;
	char why[512];
	uint32_t i;
	int r = 0;

	for (i = 1; i <= current && !r; i++) {
		r = version_object(st, name, i, &v);
		if (r)
			break;
		if (!v.ref[0])
			continue;
		r = kmip_revoke(st->client, v.ref, KMIP_REVOKE_CESSATION, "revoked with hsmkeyctl",
				why, sizeof(why));
		kmip_note(st, r, why);
		if (r == -EPERM || r == -ENOENT)
			r = 0;	/* revoked or gone there already */
		if (r)
			log_error("key %s version %u: cannot revoke it on the KMIP server: %s",
				  name, i, why);
	}
	return r;
}

int kmip_revoke_on_server(struct kmip_store *st, const char *name)
{
	struct ks_key cur;
	int r = LOCKED(st, ks_get(st->ks, name, false, &cur));

	return r ? r : server_revoke(st, name, cur.current);
}

/*
 * A revocation is final, so it is kept here first; the server is told
 * then, or, if it cannot be reached, by the poller when it answers
 * (kmip_pending_add()).
 */
static int km_set_state(struct backend *b, const char *name, int state, int64_t delete_at)
{
	struct kmip_store *st = kmip_store_of(b);
	struct ks_key cur;
	int r;

	/* One hold of the lock: the poller may revoke it in between otherwise. */
	r = LOCKED(st, ks_get(st->ks, name, false, &cur) ?:
		   ks_set_state_at(st->ks, name, state, delete_at));
	if (r || state != KS_REVOKED || ks_key_revoked(&cur))
		return r;
	r = kmip_revoke_on_server(st, name);
	if (r)
		kmip_pending_add(st, name, cur.id, r);
	return 0;
}

static int km_cancel_deletion(struct backend *b, const char *name, struct ks_key *out)
{
	struct kmip_store *st = kmip_store_of(b);

	return LOCKED(st, ks_cancel_deletion(st->ks, name, out));
}

static int km_set_policy(struct backend *b, const char *name, const struct ks_policy *p)
{
	struct kmip_store *st = kmip_store_of(b);

	return LOCKED(st, ks_set_policy(st->ks, name, p));
}

static int km_set_usage(struct backend *b, const char *name, uint32_t version,
			uint64_t used_bytes, uint64_t used_requests)
{
	struct kmip_store *st = kmip_store_of(b);

	return LOCKED(st, ks_set_usage(st->ks, name, version, used_bytes, used_requests));
}

/* Revoked (KMIP lets only a key that is not active be destroyed), then destroyed. */
static int server_destroy(struct kmip_store *st, const char *name, const struct ks_key *v)
{
	char why[512];
	int r;

	r = kmip_revoke(st->client, v->ref, KMIP_REVOKE_CESSATION, "destroyed with hsmkeyctl", why,
			sizeof(why));
	if (!r || r == -EPERM)
		r = kmip_destroy(st->client, v->ref, why, sizeof(why));
	kmip_note(st, r, why);
	if (r == -ENOENT)
		return 0;	/* gone there already */
	if (r)
		log_error("key %s version %u: cannot destroy it on the KMIP server: %s", name,
			  v->version, why);
	return r;
}

static int km_destroy(struct backend *b, const char *name)
{
	struct kmip_store *st = kmip_store_of(b);
	struct ks_key cur, v;
	uint32_t i;
	int r;

	r = LOCKED(st, ks_get(st->ks, name, false, &cur));
	for (i = 1; !r && i <= cur.current; i++) {
		r = version_object(st, name, i, &v);
		if (!r && v.ref[0])
			r = server_destroy(st, name, &v);
	}
	if (r)
		return r;
	r = LOCKED(st, ks_destroy(st->ks, name));
	if (!r)
		kmip_pending_drop(st, name);	/* its objects are destroyed there */
	return r;
}

static int km_derive(struct backend *b, const char *label, uint8_t *out, size_t len)
{
	struct kmip_store *st = kmip_store_of(b);

	return LOCKED(st, ks_derive(st->ks, label, out, len));
}

static int km_record_load(struct backend *b, const char *name, void *buf, size_t len)
{
	struct kmip_store *st = kmip_store_of(b);

	return LOCKED(st, ks_record_load(st->ks, name, buf, len));
}

static int km_record_store(struct backend *b, const char *name, const void *buf, size_t len)
{
	struct kmip_store *st = kmip_store_of(b);

	return LOCKED(st, ks_record_store(st->ks, name, buf, len));
}

static const uint8_t *km_instance(struct backend *b)
{
	return ks_instance(kmip_store_of(b)->ks);
}

/* What the server's object must be to be adopted as @type, for a message. */
static const char *kind_name(int type)
{
	switch (type) {
	case KS_TYPE_RSA_2048:
	case KS_TYPE_RSA_3072:
		return "RSA private key";
	case KS_TYPE_ECDSA_P256:
	case KS_TYPE_ECDSA_P384:
		return "ECDSA private key";
	case KS_TYPE_ED25519:
		return "Ed25519 private key";
	}
	return ks_type_mac(type) ? "HMAC-SHA256 key" : "AES key";
}

/*
 * "kmip:UID": a key the server holds of @type's object type, algorithm
 * (for ECDSA, ECDSA or EC: tools register either) and length (an Ed25519
 * key's length is not looked at: servers differ),
 * active or pre-active (*@pre); never a host's key-encryption key (named
 * hsmkey-kek-..., kek.c), which would be destroyed with the key.
 */
static int adopt_check(struct kmip_store *st, const char *uid, int type, bool *pre,
		       struct kmip_spent *spent)
{
	struct kmip_key_attrs want;
	struct kmip_attrs a;
	char why[512];
	int r;

	r = kmip_note(st, kmip_get_attrs(st->client, uid, &a, why, sizeof(why)), why);
	if (r)
		return log_errno(r, "cannot adopt %s: %s", uid, why);
	pthread_mutex_lock(&st->kek_lock);
	r = !strcmp(uid, st->kek_uid) || !strncmp(a.name, KMIP_KEK_NAME, strlen(KMIP_KEK_NAME));
	pthread_mutex_unlock(&st->kek_lock);
	if (r)
		return log_errno(EPERM, "cannot adopt %s: it is a host's key-encryption key", uid);
	object_attrs(type, NULL, &want);
	if (want.algorithm == KMIP_ALG_ECDSA && a.algorithm == KMIP_ALG_EC)
		a.algorithm = KMIP_ALG_ECDSA;
	if (a.object_type != want.object_type || a.algorithm != want.algorithm ||
	    (a.bits != want.bits && type != KS_TYPE_ED25519))
		return log_errno(EMEDIUMTYPE, "cannot adopt %s: it is not a %u-bit %s, as %s needs",
				 uid, want.bits, kind_name(type), key_type_name(type));
	if (a.state != KMIP_STATE_PRE_ACTIVE && a.state != KMIP_STATE_ACTIVE)
		return log_errno(EKEYREVOKED, "cannot adopt %s: it is not active on the KMIP server (state %u)",
				 uid, a.state);
	if (a.spent_unreadable)
		return log_errno(EUCLEAN, "cannot adopt %s: its spent count on the KMIP server (Application Specific Information %s) does not read; mend it there",
				 uid, KMIP_SPENT_NAMESPACE);
	*pre = a.state == KMIP_STATE_PRE_ACTIVE;
	*spent = a.spent;
	if (a.version)
		log_info("%s says it is version %u of hsmkey's key %s%s%s", uid, a.version,
			 a.name[0] ? a.name : "(no name)", a.replaces[0] ? ", after " : "",
			 a.replaces);
	return 0;
}

/*
 * The object's material fetched into @probe, which shows that this host
 * can fetch it and that it is what @type needs (a private key read whole),
 * before anything is changed: then activated if it was pre-active.
 */
static int adopt_fetch(struct kmip_store *st, const char *name, int type, const char *uid,
		       bool pre, struct ks_key *probe)
{
	char why[512];
	int r;

	memset(probe, 0, sizeof(*probe));
	snprintf(probe->name, sizeof(probe->name), "%s", name);
	snprintf(probe->ref, sizeof(probe->ref), "%s", uid);
	probe->type = type;
	probe->version = 1;
	r = kmip_fetch(st, probe);
	if (r == -EMEDIUMTYPE)
		return log_errno(EMEDIUMTYPE, "cannot adopt %s: its material does not read as the %s %s needs",
				 uid, kind_name(type), key_type_name(type));
	if (r || !pre)
		return r;
	r = kmip_note(st, kmip_activate(st->client, uid, why, sizeof(why)), why);
	return r ? log_errno(r, "cannot adopt %s: cannot activate it: %s", uid, why) : 0;
}

struct ref_owner {
	struct kmip_store *st;
	const char *uid;
	char name[HSMKEY_NAME_MAX];
	uint32_t version;
};

/* Whether one of @key's versions is the object sought (ks_list()'s callback). */
static int ref_owned(const struct ks_key *key, void *arg)
{
	struct ref_owner *o = arg;
	struct ks_key v;

	for (uint32_t i = 1; i <= key->current; i++) {
		if (ks_get_version(o->st->ks, key->name, i, false, &v) || strcmp(v.ref, o->uid))
			continue;
		snprintf(o->name, sizeof(o->name), "%s", key->name);
		o->version = i;
		return 1;
	}
	return 0;
}

/*
 * An object this host holds already, as a version of any key (revoked
 * ones too), is not adopted again: two keys on one object would each
 * count its GCM invocations from their own start, and revoking one would
 * leave the other in use.
 */
static int adopt_unowned(struct kmip_store *st, const char *uid)
{
	struct ref_owner o = { .st = st, .uid = uid };
	int r = LOCKED(st, ks_list(st->ks, NULL, ref_owned, &o));

	if (r < 0)
		return r;
	if (r)
		return log_errno(EBUSY, "cannot adopt %s: it is key %s's version %u already", uid,
				 o.name, o.version);
	return 0;
}

static int km_adopt(struct backend *b, const char *name, int type, const char *from,
		    struct ks_key *out)
{
	struct kmip_store *st = kmip_store_of(b);
	const char *uid = from + 5;
	struct kmip_spent spent;
	struct ks_key probe;
	bool pre = false;
	int r;

	if (strncmp(from, "kmip:", 5) || !ks_valid_ref(uid))
		return -EINVAL;
	r = LOCKED(st, ks_get(st->ks, name, false, &probe));
	if (r != -ENOENT)
		return r ? r : -EEXIST;
	r = adopt_check(st, uid, type, &pre, &spent);
	if (!r)
		r = adopt_unowned(st, uid);
	if (!r)
		r = adopt_fetch(st, name, type, uid, pre, &probe);
	if (!r)
		r = LOCKED(st, ks_create_ref(st->ks, name, type, uid, out));
	/* What the server says was spent of it (by a host before this one): kept. */
	if (!r && (spent.requests || spent.bytes) &&
	    LOCKED(st, ks_set_usage(st->ks, name, out->version, spent.bytes, spent.requests)))
		log_warn("key %s: what the KMIP server says was spent of it (%llu requests) is not kept here; the next poll tries again",
			 name, (unsigned long long)spent.requests);
	if (!r) {
		memcpy(out->material, probe.material, sizeof(out->material));
		out->used_bytes = spent.bytes;
		out->used_requests = spent.requests;
	}
	ks_key_wipe(&probe);
	if (r)
		ks_key_wipe(out);
	else
		log_info("key %s is the KMIP server's object %s, adopted", name, uid);
	return r;
}

static void km_close(struct backend *b)
{
	struct kmip_store *st = kmip_store_of(b);

	kmip_poll_stop(st);
	kmip_client_free(st->client);
	kmip_kek_free(st);
	ks_close(st->ks);
	pthread_mutex_destroy(&st->lock);
	pthread_mutex_destroy(&st->kek_lock);
	pthread_mutex_destroy(&st->health_lock);
	pthread_mutex_destroy(&st->events_lock);
	pthread_mutex_destroy(&st->pending_lock);
	free(st);
}

static const struct backend_ops kmip_ops = {
	.name = "kmip",
	.destruction = "every version is revoked and then destroyed on the KMIP server (Destroy: what the server then keeps is the server's to say), and the key's record on this host is removed",
	.adopt_form = "kmip:UID",
	.storage = "the KMIP server",
	.create = km_create,
	.get = km_get,
	.list = km_list,
	.set_state = km_set_state,
	.cancel_deletion = km_cancel_deletion,
	.set_policy = km_set_policy,
	.set_usage = km_set_usage,
	.rotate = km_rotate,
	.destroy = km_destroy,
	.derive = km_derive,
	.record_load = km_record_load,
	.record_store = km_record_store,
	.instance = km_instance,
	.adopt = km_adopt,
	.health = km_health,
	.comebacks = km_comebacks,
	.comebacks_fd = km_comebacks_fd,
	.storage_events = km_storage_events,
	.close = km_close,
};

static int client_config(const struct config *cfg, struct kmip_client **out)
{
	struct kmip_client_config cc = {
		.ca = cfg->kmip_ca, .cert = cfg->kmip_cert, .key = cfg->kmip_key,
		.timeout_ms = (int)(cfg->kmip_timeout * 1000),
		.nservers = cfg->kmip_nservers,
	};
	char why[512];
	unsigned int i;
	int r;

	for (i = 0; i < cfg->kmip_nservers; i++)
		cc.servers[i] = cfg->kmip_server[i];
	r = kmip_client_new(&cc, out, why, sizeof(why));
	return r ? log_errno(r, "backend = kmip: %s", why) : 0;
}

int kmip_open(const char *dir, const struct config *cfg, unsigned int flags, struct backend **out)
{
	struct kmip_store *st = calloc(1, sizeof(*st));
	pthread_mutexattr_t attr;
	char path[PATH_MAX];
	int r;

	if (!st)
		return -ENOMEM;
	st->wake_fd = st->stop_fd = -1;
	if (snprintf(path, sizeof(path), "%s/kmip", dir) >= (int)sizeof(path)) {
		free(st);
		return -ENAMETOOLONG;
	}
	if ((mkdir(dir, 0700) && errno != EEXIST) || (mkdir(path, 0700) && errno != EEXIST)) {
		r = -errno;
		free(st);
		return log_errno(r, "cannot make %s: %s", path, strerror(-r));
	}
	r = client_config(cfg, &st->client);
	if (!r)
		r = ks_open_flags(path, NULL, (flags & BACKEND_ACCEPT ? KS_OPEN_ACCEPT : 0) |
				  (flags & BACKEND_UPGRADE ? KS_OPEN_UPGRADE : 0), &st->ks);
	if (r) {
		kmip_client_free(st->client);
		free(st);
		return r;
	}
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&st->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	pthread_mutex_init(&st->kek_lock, NULL);
	pthread_mutex_init(&st->health_lock, NULL);
	pthread_mutex_init(&st->events_lock, NULL);
	pthread_mutex_init(&st->pending_lock, NULL);
	st->poll_interval = cfg->kmip_poll_interval;
	st->offline_grace = cfg->offline_grace;
	st->be.ops = &kmip_ops;
	r = kmip_poll_start(st);
	if (r) {
		km_close(&st->be);
		return log_errno(r, "cannot start following the KMIP server: %s", strerror(-r));
	}
	*out = &st->be;
	return 0;
}
