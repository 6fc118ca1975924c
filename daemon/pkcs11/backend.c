// SPDX-License-Identifier: GPL-2.0
/*
 * The PKCS#11 backend (backend.h) over one token (hsm.h): key versions are
 * objects in the token, generated there; metadata is in the record store
 * (records.c).  The daemon holds no data key: get() gives the verifier,
 * derived in the token, and the kernel gets the material wrapped end to
 * end (->wrap_for_kernel).
 *
 * The token may be unreachable when the daemon starts or at any time
 * after: every operation then fails -EHOSTDOWN (never -ENOENT, so nothing
 * is taken as gone), and the first operation after the token is back
 * verifies the store against the token's anchor and goes on.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/rand.h>
#include "adapter.h"
#include "config.h"
#include "util.h"


/* The store verified against the token; called under the lock. */
int p11_ready(struct p11be *p)
{
	int r = 0;

	if (p->st.loaded) {
		p11_members_sync(p);
		/* A member's catch-up that could not anchor unloads the store. */
		if (p->st.loaded)
			return 0;
	}
	r = p11_members_load(p);
	if (!r)
		p11_adopt_recover(p);
	if (!r && p->st.loaded)
		p11_orphans(p);
	/* Its write unconfirmed, the store is not known now: as if unreachable. */
	if (!r && !p->st.loaded)
		r = -EHOSTDOWN;
	if (!r)
		p11_members_sync(p);
	if (!r && !p->st.loaded)
		r = -EHOSTDOWN;
	if (p11_unreachable(r))
		snprintf(p->down_why, sizeof(p->down_why), "%s", hsm_error());
	if (r != p->last) {
		if (!r)
			log_info("pkcs11: token %s is up; %zu record(s) verified against its anchor",
				 hsm_label(p->st.hsm), p->st.n);
		else if (p11_unreachable(r))
			log_error("pkcs11: the HSM is unreachable (%s): degraded; keys already in the kernel keep working",
				  hsm_error());
		p->last = r;
	}
	return r;
}

/*
 * @call under the lock, once more on the next member in step if the one
 * in use failed.  Safe to repeat: an operation meets an unreachable token
 * before its change is anchored, and the anchor's own failover is inside
 * p11_anchor_all().
 */
#define P11_LOCKED(p, call) ({					\
	int __r;						\
	pthread_mutex_lock(&(p)->lock);				\
	do							\
		__r = p11_ready(p) ?: (call);			\
	while (p11_unreachable(__r) && p11_failover(&(p)->st));	\
	pthread_mutex_unlock(&(p)->lock);			\
	__r;							\
})

/* @h failed unreachable: the next member in step takes over unless one has already. */
bool p11_failover_from(struct p11be *p, struct hsm *h)
{
	bool r = true;

	pthread_mutex_lock(&p->lock);
	if (p->st.hsm == h)
		r = p11_failover(&p->st);
	pthread_mutex_unlock(&p->lock);
	return r;
}

/* The version's verifier: derived in the token (deliveries keep theirs: verifiers.c). */
static int p11_verifier(struct p11be *p, const uint8_t *id, uint32_t version, uint8_t *out)
{
	char label[HSM_VERIFIER_LABEL_MAX];

	int r;

	hsm_verifier_label(id, version, label);
	/* After a change is made: not the whole operation again (P11_LOCKED). */
	do
		r = hsm_derive(p->st.hsm, label, out, HSMKEY_VERIFIER_LEN);
	while (p11_unreachable(r) && p11_failover(&p->st));
	return r;
}

static void p11_fill(const struct p11_rec *rec, uint32_t idx, struct ks_key *out)
{
	*out = rec->meta;
	out->version = rec->v[idx].version;
	out->version_created = rec->v[idx].created;
	out->used_bytes = rec->v[idx].used_bytes;
	out->used_requests = rec->v[idx].used_requests;
}

static int p11_get_locked(struct p11be *p, const char *name, uint32_t version, bool unseal,
			  struct ks_key *out)
{
	struct p11_rec rec;
	uint32_t idx;
	int r = p11_rec_read(&p->st, name, &rec);

	if (r)
		return r;
	idx = version ? p11_rec_find(&rec, version) : rec.nver - 1;
	if (idx == rec.nver)
		return -ENOENT;
	p11_fill(&rec, idx, out);
	if (unseal)
		r = p11_verifier(p, out->id, out->version, out->verifier);
	return r;
}

static int p11_get(struct backend *b, const char *name, uint32_t version, bool unseal,
		   struct ks_key *out)
{
	struct p11be *p = be_p11(b);

	memset(out, 0, sizeof(*out));
	return P11_LOCKED(p, p11_get_locked(p, name, version, unseal, out));
}

static int p11_make_here(struct p11be *p, const struct p11_rec *rec, uint32_t version,
			 struct p11_source *src)
{
	const struct ks_key *m = &rec->meta;

	if (src->label)
		return hsm_key_adopt(p->st.hsm, src->label, m->id, version, m->type, m->name,
				     &src->was_readable);
	if (src->blob)
		return hsm_key_unwrap(p->st.hsm, m->id, version, m->type, m->name, src->blob,
				      src->blob_len);
	if (src->material)
		return hsm_key_import(p->st.hsm, m->id, version, m->type, m->name,
				      src->material);
	return hsm_key_generate(p->st.hsm, m->id, version, m->type, m->name);
}

/*
 * The version made in the member in use and copied to the others in
 * step.  A copy the one in use cannot give fails the operation (it fails
 * over and starts again); what it made then is not ours, unless adopted
 * (the operator's object: p11_adopt_end() settles it).
 */
static int p11_make(struct p11be *p, const struct p11_rec *rec, uint32_t version,
		    struct p11_source *src)
{
	int r = p11_make_here(p, rec, version, src);

	/*
	 * A call that timed out may yet be carried out: the version, made
	 * again in the next member, may then be another key in this one.
	 */
	if (p11_unreachable(r) && !src->label)
		p11_suspect(&p->st, p->st.active, rec->meta.id, version);
	if (r)
		return r;
	r = p11_mirror_version(p, rec, version);
	if (r && !src->label)
		hsm_key_destroy(p->st.hsm, rec->meta.id, version);
	return r;
}

static int p11_create_locked(struct p11be *p, const char *name, int type,
			     struct p11_source *src, struct ks_key *out)
{
	uint8_t id[HSMKEY_ID_LEN];
	struct p11_rec rec, old;
	int r = p11_rec_read(&p->st, name, &old);

	if (!r)
		return -EEXIST;
	if (r != -ENOENT)
		return r;
	if (RAND_bytes(id, HSMKEY_ID_LEN) != 1)
		return -EIO;
	p11_rec_new(&rec, name, type, id);
	r = src->label ? p11_adopt_begin(p, &rec, src) : 0;
	if (r)
		return r;
	if (!src->relabelled)
		r = p11_make(p, &rec, 1, src);
	if (r) {
		if (src->label)
			p11_adopt_end(p, src->label, r);
		return r;
	}
	if (src->label)
		crash_point("p11-adopted");
	rec.was_readable = src->was_readable;
	r = p11_rec_write(&p->st, &rec);
	if (src->label)
		p11_adopt_end(p, src->label, r);
	if (r) {
		/*
		 * Not recorded: the object must not outlive the failure (an
		 * adopted one is the operator's: p11_adopt_end()).  Unconfirmed,
		 * the record may yet stand: an object left over is harmless, a
		 * record naming none is not.
		 */
		if (!src->label && r != P11_UNCONFIRMED)
			p11_destroy_version(p, rec.meta.id, 1);
		return r;
	}
	p11_fill(&rec, 0, out);
	out->current = 1;
	return p11_verifier(p, out->id, 1, out->verifier);
}

/*
 * A private key never leaves its token: an identity key, which could not
 * be copied to another, is refused in a key store of several tokens or
 * with a backup token (logged).
 */
static bool p11_pair_stays(struct p11be *p, const char *name, int type)
{
	if (!ks_type_identity(type) || (p->st.nm <= 1 && !*p->cfg.pkcs11_backup_token))
		return false;
	log_warn("pkcs11: identity key %s not made: an identity key's private key never leaves its token, and this key store has %s",
		 name, p->st.nm > 1 ? "several tokens" : "a backup token");
	return true;
}

static int p11_create(struct backend *b, const char *name, int type,
		      const uint8_t *material, struct ks_key *out)
{
	struct p11be *p = be_p11(b);
	struct p11_source src = { .material = material };

	memset(out, 0, sizeof(*out));
	if (!p11_keeps(type) || p11_pair_stays(p, name, type))
		return -EOPNOTSUPP;
	return P11_LOCKED(p, p11_create_locked(p, name, type, &src, out));
}

/* The token's hsmkey:import; no store lock: no record changes. */
static int p11_import_key(struct backend *b, bool renew, struct ks_import_key *out)
{
	struct hsm_import_key k;
	/* The member in use's: a blob made for it does not import into another. */
	int r = hsm_import_key(p11_hsm(be_p11(b)), renew, &k);

	if (r) {
		log_error("pkcs11: the import wrapping key: %s", hsm_error());
		return r;
	}
	if (k.nlen > sizeof(out->n) || k.elen > sizeof(out->e))
		return -EIO;
	memcpy(out->n, k.n, k.nlen);
	memcpy(out->e, k.e, k.elen);
	out->nlen = k.nlen;
	out->elen = k.elen;
	out->algorithm = k.hash == HSM_OAEP_SHA256 ? "RSAES_OAEP_SHA_256" : "RSAES_OAEP_SHA_1";
	return 0;
}

static int p11_import_wrapped(struct backend *b, const char *name, int type,
			      const uint8_t *blob, size_t len, struct ks_key *out)
{
	struct p11be *p = be_p11(b);
	struct p11_source src = { .blob = blob, .blob_len = len };

	memset(out, 0, sizeof(*out));
	return P11_LOCKED(p, p11_create_locked(p, name, type, &src, out));
}

static int p11_adopt(struct backend *b, const char *name, int type, const char *from,
		     struct ks_key *out)
{
	struct p11be *p = be_p11(b);
	char label[256];
	struct p11_source src = { .label = label };

	memset(out, 0, sizeof(*out));
	if (p11_label(from, label, sizeof(label)))
		return -EINVAL;
	if (p11_pair_stays(p, name, type))
		return -EXDEV;
	return P11_LOCKED(p, p11_create_locked(p, name, type, &src, out));
}

static int p11_rotate_locked(struct p11be *p, const char *name, const uint8_t *material,
			     struct ks_key *out)
{
	struct p11_source src = { .material = material };
	struct p11_rec rec;
	uint32_t v;
	int r = p11_rec_read(&p->st, name, &rec);

	if (r)
		return r;
	if (ks_key_revoked(&rec.meta))
		return -EKEYREVOKED;
	if (rec.nver == KS_VERSIONS_MAX)
		return -E2BIG;
	v = rec.meta.current + 1;
	/* A version left by a rotation that failed after making it: not ours any more. */
	if (!hsm_key_find(p->st.hsm, rec.meta.id, v))
		p11_destroy_version(p, rec.meta.id, v);
	r = p11_make(p, &rec, v, &src);
	if (r)
		return r;
	rec.v[rec.nver++] = (struct p11_ver){ .version = v, .created = time(NULL) };
	rec.meta.current = v;
	r = p11_rec_write(&p->st, &rec);
	if (r) {
		if (r != P11_UNCONFIRMED)	/* as in p11_create_locked() */
			p11_destroy_version(p, rec.meta.id, v);
		return r;
	}
	p11_fill(&rec, rec.nver - 1, out);
	return p11_verifier(p, out->id, v, out->verifier);
}

static int p11_rotate(struct backend *b, const char *name, const uint8_t *material,
		      struct ks_key *out)
{
	struct p11be *p = be_p11(b);

	memset(out, 0, sizeof(*out));
	return P11_LOCKED(p, p11_rotate_locked(p, name, material, out));
}

static int p11_set_state_locked(struct p11be *p, const char *name, int state,
				int64_t delete_at)
{
	struct p11_rec rec;
	int r = p11_rec_read(&p->st, name, &rec);

	if (r)
		return r;
	if (rec.meta.state == KS_REVOKED && state != KS_REVOKED &&
	    state != KS_PENDING_DELETION)
		return -EPERM;
	if (rec.meta.state == KS_PENDING_DELETION && rec.meta.prior_state == KS_REVOKED &&
	    state != KS_PENDING_DELETION && state != KS_REVOKED)
		return -EPERM;
	if (state == KS_PENDING_DELETION) {
		if (rec.meta.state != KS_PENDING_DELETION)
			rec.meta.prior_state = rec.meta.state;
		rec.meta.delete_at = delete_at;
	} else {
		rec.meta.prior_state = 0;
		rec.meta.delete_at = 0;
	}
	rec.meta.state = state;
	return p11_rec_write(&p->st, &rec);
}

static int p11_set_state(struct backend *b, const char *name, int state, int64_t delete_at)
{
	struct p11be *p = be_p11(b);

	if (state < KS_ACTIVE || state > KS_PENDING_DELETION)
		return -EINVAL;
	return P11_LOCKED(p, p11_set_state_locked(p, name, state, delete_at));
}

static int p11_cancel_locked(struct p11be *p, const char *name, struct ks_key *out)
{
	struct p11_rec rec;
	int r = p11_rec_read(&p->st, name, &rec);

	if (r)
		return r;
	if (rec.meta.state != KS_PENDING_DELETION)
		return -EINVAL;
	rec.meta.state = rec.meta.prior_state ?: KS_DISABLED;
	rec.meta.prior_state = 0;
	rec.meta.delete_at = 0;
	r = p11_rec_write(&p->st, &rec);
	if (!r)
		p11_fill(&rec, rec.nver - 1, out);
	return r;
}

static int p11_cancel_deletion(struct backend *b, const char *name, struct ks_key *out)
{
	struct p11be *p = be_p11(b);

	memset(out, 0, sizeof(*out));
	return P11_LOCKED(p, p11_cancel_locked(p, name, out));
}

static int p11_policy_locked(struct p11be *p, const char *name, const struct ks_policy *pol)
{
	struct p11_rec rec;
	int r = p11_rec_read(&p->st, name, &rec);

	if (r)
		return r;
	rec.meta.has_policy = pol != NULL;
	if (pol)
		rec.meta.policy = *pol;
	else
		memset(&rec.meta.policy, 0, sizeof(rec.meta.policy));
	return p11_rec_write(&p->st, &rec);
}

static int p11_set_policy(struct backend *b, const char *name, const struct ks_policy *pol)
{
	struct p11be *p = be_p11(b);

	return P11_LOCKED(p, p11_policy_locked(p, name, pol));
}

static int p11_usage_locked(struct p11be *p, const char *name, uint32_t version,
			    uint64_t bytes, uint64_t requests)
{
	struct p11_rec rec;
	struct p11_ver *v;
	uint32_t idx;
	int r = p11_rec_read(&p->st, name, &rec);

	if (r)
		return r;
	idx = p11_rec_find(&rec, version);
	if (idx == rec.nver)
		return -ENOENT;
	v = &rec.v[idx];
	if (bytes <= v->used_bytes && requests <= v->used_requests)
		return 0;	/* never decreases: nothing to write */
	v->used_bytes = bytes > v->used_bytes ? bytes : v->used_bytes;
	v->used_requests = requests > v->used_requests ? requests : v->used_requests;
	return p11_rec_write(&p->st, &rec);
}

static int p11_set_usage(struct backend *b, const char *name, uint32_t version,
			 uint64_t used_bytes, uint64_t used_requests)
{
	struct p11be *p = be_p11(b);

	return P11_LOCKED(p, p11_usage_locked(p, name, version, used_bytes, used_requests));
}

/*
 * Every version's object first (C_DestroyObject), then the record: a
 * destruction the token could not finish leaves the record, so it can be
 * run again.
 */
static int p11_destroy_locked(struct p11be *p, const char *name)
{
	char file[HSMKEY_NAME_MAX + sizeof(P11_SUFFIX)];
	struct p11_rec rec;
	int r = p11_rec_read(&p->st, name, &rec);

	for (uint32_t i = 0; !r && i < rec.nver; i++) {
		r = p11_destroy_version(p, rec.meta.id, rec.v[i].version);
		if (r == -ENOENT)
			r = 0;
	}
	if (r)
		return r;
	snprintf(file, sizeof(file), "%s%s", name, P11_SUFFIX);
	r = p11_file_remove(&p->st, file);
	if (!r)
		p11_verifiers_drop(&p->vc, rec.meta.id);
	return r;
}

static int p11_destroy(struct backend *b, const char *name)
{
	struct p11be *p = be_p11(b);

	return P11_LOCKED(p, p11_destroy_locked(p, name));
}

static int p11_list_locked(struct p11be *p, const char *after,
			   int (*fn)(const struct ks_key *key, void *arg), void *arg)
{
	char (*names)[HSMKEY_NAME_MAX];
	size_t n;
	int r = p11_key_names(&p->st, after, &names, &n);

	for (size_t i = 0; !r && i < n; i++) {
		struct p11_rec rec;
		struct ks_key key;

		/* One that does not authenticate is logged and left out, as embedded does. */
		r = p11_rec_read(&p->st, names[i], &rec);
		if (r == -EBADMSG || r == -ENOENT) {
			r = 0;
			continue;
		}
		if (r)
			break;
		p11_fill(&rec, rec.nver - 1, &key);
		/* @fn's get() of this key's versions reads no file (start-up: 1,000s). */
		p->st.listing = &rec;
		r = fn(&key, arg);
		p->st.listing = NULL;
	}
	free(names);
	return r;
}

static int p11_list(struct backend *b, const char *after,
		    int (*fn)(const struct ks_key *key, void *arg), void *arg)
{
	struct p11be *p = be_p11(b);

	return P11_LOCKED(p, p11_list_locked(p, after, fn, arg));
}

static int p11_derive(struct backend *b, const char *label, uint8_t *out, size_t len)
{
	struct p11be *p = be_p11(b);

	return P11_LOCKED(p, hsm_derive(p->st.hsm, label, out, len));
}

/* The daemon's records, hex in STATE/pkcs11/records. */
static int p11_record_load_locked(struct p11be *p, const char *name, void *buf, size_t len)
{
	struct json_object *o = NULL, *v;
	const char *hex;
	size_t n;
	int r = p11_file_read(&p->st, P11_RECORDS, &o);

	if (!r && (!json_object_object_get_ex(o, name, &v) || !(hex = json_object_get_string(v))))
		r = -ENOENT;
	if (!r) {
		n = strlen(hex) / 2;
		r = n > len ? -ENOBUFS : hex_decode(hex, buf, n) ? -EBADMSG : (int)n;
	}
	json_object_put(o);
	return r;
}

static int p11_record_load(struct backend *b, const char *name, void *buf, size_t len)
{
	struct p11be *p = be_p11(b);

	return P11_LOCKED(p, p11_record_load_locked(p, name, buf, len));
}

static int p11_record_store_locked(struct p11be *p, const char *name, const void *buf,
				   size_t len)
{
	struct json_object *o = NULL;
	char *hex;
	int r = p11_file_read(&p->st, P11_RECORDS, &o);

	if (r == -ENOENT) {
		o = json_object_new_object();
		r = o ? 0 : -ENOMEM;
	}
	hex = r ? NULL : malloc(2 * len + 1);
	if (!r && !hex)
		r = -ENOMEM;
	if (!r) {
		hex_encode(buf, len, hex);
		json_object_object_add(o, name, json_object_new_string(hex));
		r = p11_file_write(&p->st, P11_RECORDS, o);
	}
	free(hex);
	json_object_put(o);
	return r;
}

static int p11_record_store(struct backend *b, const char *name, const void *buf, size_t len)
{
	struct p11be *p = be_p11(b);

	return P11_LOCKED(p, p11_record_store_locked(p, name, buf, len));
}

static const uint8_t *p11_instance(struct backend *b)
{
	struct p11be *p = be_p11(b);

	/* Zero until the token has been reached: then no kernel key counts as ours. */
	return p->instance;
}

static void p11_close(struct backend *b)
{
	struct p11be *p = be_p11(b);

	p11_members_close(p);
	p11_verifiers_close(&p->vc);
	p11_store_free(&p->st);
	if (p->st.dirfd >= 0)
		close(p->st.dirfd);
	if (p->lockfd >= 0)
		close(p->lockfd);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static int p11_backup_op(struct backend *b, struct ks_copy_report *out)
{
	struct p11be *p = be_p11(b);

	int r;

	/*
	 * Not P11_LOCKED: the backup token being away must not fail over
	 * the token in use (nor may an admin make it flip at will).
	 */
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&p->lock);
	r = p11_ready(p);
	if (!r)
		r = p11_backup(p, out);
	else
		snprintf(out->why, sizeof(out->why), "the key store is not available: %s",
			 hsm_error());
	pthread_mutex_unlock(&p->lock);
	return r;
}

/* Not P11_LOCKED: the store cannot be loaded (no token holds it) when it is needed. */
static int p11_restore_op(struct backend *b, struct ks_copy_report *out)
{
	struct p11be *p = be_p11(b);
	int r;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&p->lock);
	r = p->st.loaded ? 0 : p11_ready(p);
	if (p11_unreachable(r) || r == -EBADMSG || !r)
		r = p11_restore(p, out);
	else
		snprintf(out->why, sizeof(out->why), "the key store cannot be read: %s",
			 strerror(-r));
	if (!r)
		r = p11_ready(p);
	if (!r) {
		p->last = 0;
		p11_orphans(p);
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

static const struct backend_ops p11_ops = {
	.name = "pkcs11",
	.adopt_form = "pkcs11:object=LABEL",
	.storage = "the HSM",
	.keeps = p11_keeps,
	.use = p11_use,
	.random = p11_random,
	.destruction = "every version's key object is destroyed in the token (C_DestroyObject), in every token of the key store (one that is away when it happens: when it is next brought up to date), and the key's record removed; whether the HSM erases the material beyond recovery, and what its own backups keep, is the HSM's property",
	.create = p11_create,
	.get = p11_get,
	.list = p11_list,
	.set_state = p11_set_state,
	.cancel_deletion = p11_cancel_deletion,
	.set_policy = p11_set_policy,
	.set_usage = p11_set_usage,
	.rotate = p11_rotate,
	.destroy = p11_destroy,
	.derive = p11_derive,
	.sign_audit = p11_sign_audit,
	.record_load = p11_record_load,
	.record_store = p11_record_store,
	.instance = p11_instance,
	.wrap_for_kernel = p11_wrap,
	.wrap_prepare = p11_wrap_prepare,
	.adopt = p11_adopt,
	.import_key = p11_import_key,
	.import_wrapped = p11_import_wrapped,
	.health = p11_health,
	.undeliverable = p11_undeliverable,
	.comebacks = p11_comebacks,
	.comebacks_fd = p11_comebacks_fd,
	.retry = p11_retry,
	.backup = p11_backup_op,
	.restore = p11_restore_op,
	.close = p11_close,
};

/* STATE/pkcs11, made if new, and the lock that keeps a second daemon out. */
static int p11_open_dir(struct p11be *p, const char *dir)
{
	char path[4096];
	int dfd;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return log_errno(errno, "cannot create state directory %s: %m", dir);
	if ((size_t)snprintf(path, sizeof(path), "%s/pkcs11", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return log_errno(errno, "cannot create %s: %m", path);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return log_errno(errno, "cannot open %s: %m", path);
	p->st.dirfd = p->vc.dirfd = dfd;
	p->lockfd = openat(dfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (p->lockfd < 0 || flock(p->lockfd, LOCK_EX | LOCK_NB) < 0)
		return log_errno(errno == EWOULDBLOCK ? EBUSY : errno,
				 "state directory %s is in use by another hsmkeyd", dir);
	return 0;
}

int pkcs11_open(const char *dir, const struct config *cfg, unsigned int flags,
		struct backend **out)
{
	pthread_mutexattr_t attr;
	struct p11be *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	p->be.ops = &p11_ops;
	p->st.dirfd = p->lockfd = p->upfd = -1;
	p11_verifiers_init(&p->vc, -1);
	p->st.opener = pthread_self();
	p->last = 1;	/* none yet: the first result is logged */
	p->st.accept = flags & BACKEND_ACCEPT;
	p->st.leave_out = flags & BACKEND_LEAVE_OUT;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&p->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	r = p11_open_dir(p, dir);
	if (!r)
		r = p11_members_open(p, cfg);
	if (!r) {
		pthread_mutex_lock(&p->lock);
		r = p11_ready(p);
		pthread_mutex_unlock(&p->lock);
		/* Down or refusing the PIN: start degraded; a rollback: refuse. */
		if (p11_unreachable(r))
			r = 0;
		else if (r)
			log_error("pkcs11: the records in %s/pkcs11 cannot be used with token %s: %s",
				  dir, hsm_label(p->st.hsm), r == -EBADMSG ? "see above" :
				  hsm_error());
	}
	if (r) {
		p11_close(&p->be);
		return r;
	}
	*out = &p->be;
	return 0;
}
