// SPDX-License-Identifier: GPL-2.0
/*
 * The embedded keystore's operations on one key: get, create, rotate,
 * state (with the rules of backend.h), policy, usage and destruction, each
 * a read of the key's authenticated file and a rewrite under a new
 * generation (store.c).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/rand.h>
#include "internal.h"
#include "util.h"

/*
 * Write key @meta->name: @old's versions (NULL for a new key) sealed again
 * with @meta's metadata, then @add if given, under a new generation.
 */
static int ks_store(struct keystore *ks, const struct ks_record *old,
		    const struct ks_key *meta, const struct ks_key *add)
{
	struct ks_record *rec = ks_record_new();
	int r;

	if (!rec)
		return -ENOMEM;
	r = ks_reseal(ks, old, meta, add, rec);
	if (!r)
		r = ks_commit(ks, rec, old ? old->gen : 0);
	free(rec);
	return r;
}

/*
 * Key @name, version @version (0: the current one).  Metadata of the
 * current version comes from the index; secrets and older versions from
 * the file, authenticated when it was last read (kept.c).
 */
int ks_get_version(struct keystore *ks, const char *name, uint32_t version,
		   bool unseal, struct ks_key *out)
{
	const struct ks_record *rec;
	struct ks_entry *e;
	uint32_t idx;
	int r;

	if (!valid_name(name))
		return -EINVAL;
	e = ks_index_find(&ks->index, name);
	if (!e)
		return ks_absent(ks, name);
	if (!unseal && !e->damaged && (!version || version == e->meta.current)) {
		*out = e->meta;
		return 0;
	}
	r = ks_read_kept(ks, name, &rec);
	idx = r ? 0 : ks_find_version(rec, version);
	if (!r && idx == UINT32_MAX)
		r = -ENOENT;
	if (!r && unseal) {
		r = ks_unseal(ks, rec, idx, out);
		if (r) {
			ks_key_wipe(out);
			log_error("key file keys/%s.json: version %u does not unseal (%s); the key is unusable until the file is restored",
				  name, rec->v[idx].version, strerror(-r));
		}
	} else if (!r) {
		*out = rec->meta;
		out->version = rec->v[idx].version;
		out->version_created = rec->v[idx].created;
		out->used_bytes = rec->v[idx].used_bytes;
		out->used_requests = rec->v[idx].used_requests;
		strcpy(out->ref, rec->v[idx].ref);
	}
	return r;
}

int ks_get(struct keystore *ks, const char *name, bool unseal, struct ks_key *out)
{
	return ks_get_version(ks, name, 0, unseal, out);
}

/* A new key: @material, or the material @ref names elsewhere, or random. */
static int ks_create_common(struct keystore *ks, const char *name, int type,
			    const uint8_t *material, const char *ref, struct ks_key *out)
{
	struct ks_key key;
	int r;

	if (!valid_name(name) || !key_type_len(type) || (ref && !ks_valid_ref(ref)))
		return -EINVAL;
	if (ks_index_find(&ks->index, name))
		return -EEXIST;
	/* Room for every key's tombstone, so that no revocation lacks one. */
	if (ks->index.n + ks->tombs.n >= KS_TOMBS_MAX)
		return log_errno(ENOSPC, "cannot create key %s: the keystore holds %zu keys and %zu tombstones, and every key must be able to get a tombstone (%u at most: a key revoked or destroyed keeps one for ever, so that no copy of its file makes it usable again): no new key can be created in this keystore",
				 name, ks->index.n, ks->tombs.n, KS_TOMBS_MAX);
	r = ks_absent(ks, name);
	if (r != -ENOENT)
		return r;

	memset(&key, 0, sizeof(key));
	strcpy(key.name, name);
	key.type = type;
	key.version = key.current = 1;
	key.state = KS_ACTIVE;
	key.created = key.version_created = (int64_t)time(NULL);
	if (RAND_bytes(key.id, sizeof(key.id)) != 1 ||
	    RAND_priv_bytes(key.verifier, sizeof(key.verifier)) != 1)
		return -EIO;
	if (ref)
		strcpy(key.ref, ref);
	else if (material)
		memcpy(key.material, material, key_type_len(type));
	else if (ks_type_identity(type))
		return -EINVAL;		/* a key pair is made, not drawn */
	else if (RAND_priv_bytes(key.material, (int)key_type_len(type)) != 1)
		return -EIO;
	r = ks_store(ks, NULL, &key, &key);
	if (!r && out)
		*out = key;
	ks_key_wipe(&key);
	return r;
}

int ks_create(struct keystore *ks, const char *name, int type,
	      const uint8_t *material, struct ks_key *out)
{
	return ks_create_common(ks, name, type, material, NULL, out);
}

int ks_create_ref(struct keystore *ks, const char *name, int type, const char *ref,
		  struct ks_key *out)
{
	return ks_create_common(ks, name, type, NULL, ref, out);
}

/*
 * Change @name's record with @fn (an error from it, or a positive return
 * meaning "nothing to change", leaves the file alone), re-sealing every
 * version.  @out: the key afterwards, without secrets.
 */
static int ks_update(struct keystore *ks, const char *name,
		     int (*fn)(struct ks_record *rec, struct ks_key *meta, const void *arg),
		     const void *arg, struct ks_key *out)
{
	struct ks_record *rec = ks_record_new();
	struct ks_key meta;
	int r;

	if (!rec)
		return -ENOMEM;
	r = ks_read(ks, name, rec);
	if (!r) {
		meta = rec->meta;
		r = fn(rec, &meta, arg);
		if (!r)
			r = ks_store(ks, rec, &meta, NULL);
		if (r > 0)
			r = 0;
		if (!r && out)
			*out = meta;
	}
	free(rec);
	return r;
}

struct ks_state_arg {
	int state;
	int64_t delete_at;
};

/*
 * The state rules (backend.h): revoked is terminal, also behind a pending
 * deletion; scheduling remembers the state before it.
 */
static int ks_put_state(struct ks_record *rec, struct ks_key *meta, const void *arg)
{
	const struct ks_state_arg *a = arg;
	bool revoked = ks_key_revoked(meta);

	(void)rec;
	if (revoked && a->state != KS_PENDING_DELETION)
		return -EPERM;
	if (a->state == KS_PENDING_DELETION) {
		if (meta->state != KS_PENDING_DELETION)
			meta->prior_state = meta->state;
		meta->delete_at = a->delete_at;
	} else {
		meta->prior_state = 0;
		meta->delete_at = 0;
	}
	meta->state = a->state;
	return 0;
}

int ks_set_state_at(struct keystore *ks, const char *name, int state, int64_t delete_at)
{
	struct ks_state_arg a = { state, delete_at };

	if (state < KS_ACTIVE || state > KS_PENDING_DELETION ||
	    (state == KS_PENDING_DELETION && delete_at < 0))
		return -EINVAL;
	return ks_update(ks, name, ks_put_state, &a, NULL);
}

int ks_set_state(struct keystore *ks, const char *name, int state)
{
	return ks_set_state_at(ks, name, state, 0);
}

static int ks_put_cancel(struct ks_record *rec, struct ks_key *meta, const void *arg)
{
	(void)rec;
	(void)arg;
	if (meta->state != KS_PENDING_DELETION)
		return -EINVAL;
	meta->state = meta->prior_state ? meta->prior_state : KS_DISABLED;
	meta->prior_state = 0;
	meta->delete_at = 0;
	return 0;
}

int ks_cancel_deletion(struct keystore *ks, const char *name, struct ks_key *out)
{
	return ks_update(ks, name, ks_put_cancel, NULL, out);
}

static int ks_put_policy(struct ks_record *rec, struct ks_key *meta, const void *arg)
{
	(void)rec;
	meta->policy = *(const struct ks_policy *)arg;
	meta->has_policy = true;
	return 0;
}

int ks_set_policy(struct keystore *ks, const char *name, const struct ks_policy *p)
{
	return ks_update(ks, name, ks_put_policy, p, NULL);
}

struct ks_usage_arg {
	uint32_t version;
	uint64_t bytes, requests;
};

/* Spent usage only grows: a smaller figure (a stale report) changes nothing. */
static int ks_put_usage(struct ks_record *rec, struct ks_key *meta, const void *arg)
{
	const struct ks_usage_arg *a = arg;
	uint32_t idx = ks_find_version(rec, a->version);
	struct ks_ver *v;

	(void)meta;
	if (idx == UINT32_MAX)
		return -ENOENT;
	v = &rec->v[idx];
	if (a->bytes <= v->used_bytes && a->requests <= v->used_requests)
		return 1;
	v->used_bytes = a->bytes > v->used_bytes ? a->bytes : v->used_bytes;
	v->used_requests = a->requests > v->used_requests ? a->requests : v->used_requests;
	return 0;
}

int ks_set_usage(struct keystore *ks, const char *name, uint32_t version,
		 uint64_t used_bytes, uint64_t used_requests)
{
	struct ks_usage_arg a = { version, used_bytes, used_requests };

	if (!version)
		return -EINVAL;
	return ks_update(ks, name, ks_put_usage, &a, NULL);
}

static int ks_rotate_common(struct keystore *ks, const char *name, const uint8_t *material,
			    const char *ref, struct ks_key *out)
{
	struct ks_record *rec;
	struct ks_key key;
	int r;

	if (ref && !ks_valid_ref(ref))
		return -EINVAL;
	rec = ks_record_new();
	if (!rec)
		return -ENOMEM;
	r = ks_read(ks, name, rec);
	if (!r && ks_type_identity(rec->meta.type))
		r = -EMEDIUMTYPE;	/* one version each (record.c) */
	if (!r && rec->nver >= KS_VERSIONS_MAX)
		r = -E2BIG;
	if (!r && rec->meta.current == UINT32_MAX)
		r = -EOVERFLOW;
	if (r) {
		free(rec);
		return r;
	}
	key = rec->meta;
	key.version = key.current = rec->meta.current + 1;
	key.version_created = (int64_t)time(NULL);
	key.used_bytes = key.used_requests = 0;
	memset(key.ref, 0, sizeof(key.ref));
	if (RAND_priv_bytes(key.verifier, sizeof(key.verifier)) != 1)
		r = -EIO;
	else if (ref)
		strcpy(key.ref, ref);
	else if (material)
		memcpy(key.material, material, key_type_len(key.type));
	else if (RAND_priv_bytes(key.material, (int)key_type_len(key.type)) != 1)
		r = -EIO;
	if (!r)
		r = ks_store(ks, rec, &rec->meta, &key);
	if (!r && out)
		*out = key;
	ks_key_wipe(&key);
	free(rec);
	return r;
}


int ks_rotate(struct keystore *ks, const char *name, const uint8_t *material,
	      struct ks_key *out)
{
	return ks_rotate_common(ks, name, material, NULL, out);
}

int ks_rotate_ref(struct keystore *ks, const char *name, const char *ref, struct ks_key *out)
{
	return ks_rotate_common(ks, name, NULL, ref, out);
}

int ks_rotate_master(struct keystore *ks)
{
	return ks_replace_master(ks, NULL);
}

/*
 * Destroy @name: its file is removed and every other key is re-sealed under
 * a new master key, so that neither the removed file nor a copy of it can
 * be opened with the master key that remains; the generation record
 * refuses a copy put back as well.
 */
int ks_destroy(struct keystore *ks, const char *name)
{
	if (!valid_name(name))
		return -EINVAL;
	return ks_replace_master(ks, name);
}
