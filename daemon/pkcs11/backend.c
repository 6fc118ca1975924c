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

struct p11be {
	struct backend be;
	struct p11_store st;
	pthread_mutex_t lock;		/* one operation at a time; recursive */
	int lockfd;
	bool have_instance;
	uint8_t instance[HSMKEY_OWNER_LEN];
	int last;			/* the last load's result: log changes only */
	size_t orphans;			/* key objects no record names (p11_orphans()) */
};

static struct p11be *be_p11(struct backend *b)
{
	return (struct p11be *)((char *)b - offsetof(struct p11be, be));
}

static bool unreachable(int r)
{
	return r == -EHOSTDOWN || r == -ETIMEDOUT || r == -EACCES;
}

static void adopt_recover(struct p11be *p);
static void p11_orphans(struct p11be *p);
struct p11_source;
static int adopt_begin(struct p11be *p, struct p11_rec *rec, struct p11_source *src);
static void adopt_end(struct p11be *p, const char *label, int r);

/* The store verified against the token; called under the lock. */
static int p11_ready(struct p11be *p)
{
	int r = 0;

	if (p->st.loaded)
		return 0;
	if (!p->have_instance) {
		r = hsm_instance(p->st.hsm, p->instance);
		p->have_instance = !r;
	}
	if (!r)
		r = p11_store_load(&p->st);
	if (!r)
		adopt_recover(p);
	if (!r && p->st.loaded)
		p11_orphans(p);
	/* Its write unconfirmed, the store is not known now: as if unreachable. */
	if (!r && !p->st.loaded)
		r = -EHOSTDOWN;
	if (r != p->last) {
		if (!r)
			log_info("pkcs11: token %s is up; %zu record(s) verified against its anchor",
				 hsm_label(p->st.hsm), p->st.n);
		else if (unreachable(r))
			log_error("pkcs11: the HSM is unreachable (%s): degraded; keys already in the kernel keep working",
				  hsm_error());
		p->last = r;
	}
	return r;
}

#define P11_LOCKED(p, call) ({				\
	int __r;					\
	pthread_mutex_lock(&(p)->lock);			\
	__r = p11_ready(p) ?: (call);			\
	pthread_mutex_unlock(&(p)->lock);		\
	__r;						\
})

/* The version's verifier: derived in the token, so none is on disk. */
static int p11_verifier(struct p11be *p, const uint8_t *id, uint32_t version, uint8_t *out)
{
	char label[64], hex[2 * HSMKEY_ID_LEN + 1];

	hex_encode(id, HSMKEY_ID_LEN, hex);
	snprintf(label, sizeof(label), "hsmkey verifier v1 %s %u", hex, version);
	return hsm_derive(p->st.hsm, label, out, HSMKEY_VERIFIER_LEN);
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

/* The token object for a new version: generated, imported, unwrapped or adopted. */
struct p11_source {
	const uint8_t *material;
	const uint8_t *blob;		/* wrapped import: unwrapped by the token */
	size_t blob_len;
	const char *label;		/* adopt */
	bool was_readable;
	bool relabelled;		/* adopt: done before (adopt_begin()) */
};

static int p11_make(struct p11be *p, const struct p11_rec *rec, uint32_t version,
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

/* A new key's record, version 1 (its object not made yet). */
static void rec_new(struct p11_rec *rec, const char *name, int type, const uint8_t *id)
{
	memset(rec, 0, sizeof(*rec));
	memcpy(rec->meta.id, id, HSMKEY_ID_LEN);
	snprintf(rec->meta.name, sizeof(rec->meta.name), "%s", name);
	rec->meta.type = type;
	rec->meta.state = KS_ACTIVE;
	rec->meta.created = time(NULL);
	rec->meta.current = 1;
	rec->nver = 1;
	rec->v[0] = (struct p11_ver){ .version = 1, .created = rec->meta.created };
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
	rec_new(&rec, name, type, id);
	r = src->label ? adopt_begin(p, &rec, src) : 0;
	if (r)
		return r;
	if (!src->relabelled)
		r = p11_make(p, &rec, 1, src);
	if (r) {
		if (src->label)
			adopt_end(p, src->label, r);
		return r;
	}
	if (src->label)
		crash_point("p11-adopted");
	rec.was_readable = src->was_readable;
	r = p11_rec_write(&p->st, &rec);
	if (src->label)
		adopt_end(p, src->label, r);
	if (r) {
		/*
		 * Not recorded: the object must not outlive the failure (an
		 * adopted one is the operator's: adopt_end()).  Unconfirmed,
		 * the record may yet stand: an object left over is harmless, a
		 * record naming none is not.
		 */
		if (!src->label && r != P11_UNCONFIRMED)
			hsm_key_destroy(p->st.hsm, rec.meta.id, 1);
		return r;
	}
	p11_fill(&rec, 0, out);
	out->current = 1;
	return p11_verifier(p, out->id, 1, out->verifier);
}

static int p11_create(struct backend *b, const char *name, int type,
		      const uint8_t *material, struct ks_key *out)
{
	struct p11be *p = be_p11(b);
	struct p11_source src = { .material = material };

	memset(out, 0, sizeof(*out));
	return P11_LOCKED(p, p11_create_locked(p, name, type, &src, out));
}

/* The token's hsmkey:import; no store lock: no record changes. */
static int p11_import_key(struct backend *b, bool renew, struct ks_import_key *out)
{
	struct hsm_import_key k;
	int r = hsm_import_key(be_p11(b)->st.hsm, renew, &k);

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

/* "pkcs11:object=LABEL" (the one attribute taken; %XX escapes decoded). */
static int p11_label(const char *uri, char *label, size_t size)
{
	const char *s = strstr(uri, "object=");
	size_t n = 0;

	if (strncmp(uri, "pkcs11:", 7) || !s || (s != uri + 7 && s[-1] != ';'))
		return -EINVAL;
	for (s += 7; *s && *s != ';' && *s != '?' && n + 1 < size; s++) {
		unsigned int c;

		if (*s == '%' && sscanf(s + 1, "%2x", &c) == 1) {
			label[n++] = (char)c;
			s += 2;
		} else {
			label[n++] = *s;
		}
	}
	label[n] = '\0';
	return n && (!*s || *s == ';' || *s == '?') ? 0 : -EINVAL;
}

/*
 * Adopting is two steps the token and the disk cannot take at once: the
 * object is relabelled ours (CKA_LABEL hsmkey:NAME:v1, CKA_ID the key's
 * id), then its record is written.  Cut in between (a crash, a record that
 * cannot be written), the operator's label finds nothing any more and no
 * record names the object.  So the intent is noted first in the daemon's
 * records (authenticated and anchored with the keys): the label, and the
 * name, type and id it becomes.  A note whose object carries that id and
 * has no record is finished, at the next load or by the same import again;
 * one whose object never got the id is dropped.  Nothing is relabelled
 * back: CKA_SENSITIVE, once raised, cannot be lowered, so the object is no
 * longer the operator's key as it was either way.
 */
#define P11_ADOPTING	"pkcs11 adopting"	/* in the records file: LABEL -> note */

/* The records file (*@o, new if none) and its notes (*@notes, NULL if none). */
static int adopt_notes(struct p11be *p, struct json_object **o, struct json_object **notes)
{
	int r = p11_file_read(&p->st, P11_RECORDS, o);

	if (r == -ENOENT) {
		*o = json_object_new_object();
		r = *o ? 0 : -ENOMEM;
	}
	if (!r && !json_object_object_get_ex(*o, P11_ADOPTING, notes))
		*notes = NULL;
	return r;
}

/* Note @label's adoption as @rec, or (@rec NULL) drop its note. */
static int adopt_note(struct p11be *p, const char *label, const struct p11_rec *rec)
{
	char id[2 * HSMKEY_ID_LEN + 1];
	struct json_object *o = NULL, *notes, *n;
	int r = adopt_notes(p, &o, &notes);

	if (!r && !rec && (!notes || !json_object_object_get_ex(notes, label, NULL))) {
		json_object_put(o);
		return 0;	/* none: nothing to write */
	}
	if (!r && !notes) {
		notes = json_object_new_object();
		json_object_object_add(o, P11_ADOPTING, notes);
	}
	if (!r && rec) {
		n = json_object_new_object();
		hex_encode(rec->meta.id, HSMKEY_ID_LEN, id);
		json_object_object_add(n, "name", json_object_new_string(rec->meta.name));
		json_object_object_add(n, "type",
				       json_object_new_string(key_type_name(rec->meta.type)));
		json_object_object_add(n, "id", json_object_new_string(id));
		json_object_object_add(notes, label, n);
	} else if (!r) {
		json_object_object_del(notes, label);
		if (!json_object_object_length(notes))
			json_object_object_del(o, P11_ADOPTING);
	}
	r = r ?: p11_file_write(&p->st, P11_RECORDS, o);
	json_object_put(o);
	return r;
}

/* A note's fields: 0, or -EBADMSG for one that does not parse. */
static int adopt_parse(struct json_object *n, char *name, int *type, uint8_t *id)
{
	struct json_object *v;
	const char *s;

	if (!json_object_object_get_ex(n, "name", &v) || !(s = json_object_get_string(v)) ||
	    !valid_name(s))
		return -EBADMSG;
	snprintf(name, HSMKEY_NAME_MAX, "%s", s);
	if (!json_object_object_get_ex(n, "type", &v) ||
	    (*type = key_type_from_name(json_object_get_string(v) ?: "")) < 0 ||
	    !json_object_object_get_ex(n, "id", &v) || !(s = json_object_get_string(v)))
		return -EBADMSG;
	return hex_decode(s, id, HSMKEY_ID_LEN) ? -EBADMSG : 0;
}

/*
 * Before relabelling @src->label's object as @rec: a note of an adoption
 * of the same label cut short whose object carries its id is resumed
 * (@rec takes that id, @src->relabelled); otherwise the intent is noted.
 */
static int adopt_begin(struct p11be *p, struct p11_rec *rec, struct p11_source *src)
{
	char name[HSMKEY_NAME_MAX];
	uint8_t id[HSMKEY_ID_LEN];
	struct json_object *o = NULL, *notes, *n;
	int type, r = adopt_notes(p, &o, &notes);

	if (!r && notes && json_object_object_get_ex(notes, src->label, &n) &&
	    !adopt_parse(n, name, &type, id) && !hsm_key_find(p->st.hsm, id, 1)) {
		if (strcmp(name, rec->meta.name) || type != rec->meta.type) {
			log_error("pkcs11: '%s' was being adopted as key %s (%s) when that was cut short: import it so to finish it",
				  src->label, name, key_type_name(type));
			r = -EBUSY;
		} else {
			log_warn("pkcs11: finishing the adoption of '%s' as key %s cut short before",
				 src->label, name);
			memcpy(rec->meta.id, id, HSMKEY_ID_LEN);
			src->relabelled = true;
			src->was_readable = true;	/* not known any more: taken as it was */
		}
	}
	json_object_put(o);
	if (!r && !src->relabelled)
		r = adopt_note(p, src->label, rec);
	/* An unconfirmed note: nothing relabelled yet, so nothing to say it stands for. */
	return r == P11_UNCONFIRMED ? -EIO : r;
}

/*
 * After the object's relabelling or the record's write (@r): the note goes
 * once the record is written or the token refused the object; otherwise
 * (perhaps relabelled, not recorded) it stays to be finished.
 */
static void adopt_end(struct p11be *p, const char *label, int r)
{
	if (r && r != -ENOENT && r != -EMEDIUMTYPE && r != -EEXIST) {
		log_warn("pkcs11: the adoption of '%s' is cut short (%s): the same import again, or the next start, finishes it",
			 label, strerror(-r));
		return;
	}
	if (adopt_note(p, label, NULL))
		log_warn("pkcs11: cannot drop the note of the adoption of '%s': the next start does",
			 label);
}

/*
 * At load: each adoption cut short is finished (its object carries the
 * id: the record is written) or dropped (it does not, or a key of another
 * id took the name: that object is then an orphan, see the log).
 */
static void adopt_recover(struct p11be *p)
{
	struct json_object *o = NULL, *notes;
	char name[HSMKEY_NAME_MAX];
	uint8_t id[HSMKEY_ID_LEN];
	struct p11_rec rec;
	int type, r;

	if (adopt_notes(p, &o, &notes) || !notes) {
		json_object_put(o);
		return;
	}
	json_object_object_foreach(notes, label, n) {
		if (adopt_parse(n, name, &type, id)) {
			log_error("pkcs11: the note of the adoption of '%s' does not parse: dropped",
				  label);
			if (adopt_note(p, label, NULL))
				break;
			continue;
		}
		r = p11_rec_read(&p->st, name, &rec);
		if (!r && memcmp(rec.meta.id, id, HSMKEY_ID_LEN))
			log_error("pkcs11: '%s' was being adopted as key %s, but a key of that name with another id exists: its object is left as it is, labelled hsmkey:%s:v1",
				  label, name, name);
		if (r == -ENOENT && !(r = hsm_key_find(p->st.hsm, id, 1))) {
			rec_new(&rec, name, type, id);
			rec.was_readable = true;	/* not known any more */
			r = p11_rec_write(&p->st, &rec);
			if (!r)
				log_warn("pkcs11: finished the adoption of '%s' as key %s, cut short before",
					 label, name);
		}
		/* Recorded, or never relabelled: done.  Else the next load tries again. */
		if ((!r || r == -ENOENT) && adopt_note(p, label, NULL))
			break;
	}
	json_object_put(o);
}

/*
 * Key version objects that no record names (orphans): left by a create or
 * rotation whose record the token refused (unconfirmed, then undone), by a
 * crash between the object and its record, or by keys whose records a
 * state directory restored from an older copy lacks.  Listed after each
 * load that verified the store (the log, and hsmkeyctl status through
 * ->health()), never destroyed here: after --accept-keystore on an older
 * copy such an object may be the only copy of a key data is still
 * encrypted under, and no grace period tells it from a leftover, while a
 * destruction cannot be undone.  The operator destroys them with the
 * HSM's tools once sure.  An object whose id a record or a pending
 * adoption names is no orphan (a rotation's leftover version is destroyed
 * by the next rotation).
 */
static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, HSMKEY_ID_LEN);
}

/* The ids records and adoption notes name, sorted: *@out (free()), their count. */
static int known_ids(struct p11be *p, uint8_t (**out)[HSMKEY_ID_LEN], size_t *n)
{
	struct json_object *o = NULL, *notes;
	char name[HSMKEY_NAME_MAX];
	uint8_t (*ids)[HSMKEY_ID_LEN];
	size_t k = 0;
	int type, r = adopt_notes(p, &o, &notes);

	ids = r ? NULL : calloc(p->st.n + (notes ? json_object_object_length(notes) : 0) + 1,
				sizeof(*ids));
	if (!r && !ids)
		r = -ENOMEM;
	for (size_t i = 0; !r && i < p->st.n; i++)
		if (p->st.f[i].has_id)
			memcpy(ids[k++], p->st.f[i].id, HSMKEY_ID_LEN);
	if (!r && notes) {
		json_object_object_foreach(notes, label, note) {
			(void)label;
			k += !adopt_parse(note, name, &type, ids[k]);
		}
	}
	json_object_put(o);
	if (r)
		return r;
	qsort(ids, k, sizeof(*ids), cmp_id);
	*out = ids;
	*n = k;
	return 0;
}

static void p11_orphans(struct p11be *p)
{
	char hex[2 * HSMKEY_ID_LEN + 1];
	uint8_t (*ids)[HSMKEY_ID_LEN] = NULL;
	struct hsm_version *v = NULL;
	size_t n = 0, nids = 0, k = 0;
	bool tell;

	if (hsm_key_list(p->st.hsm, &v, &n) || known_ids(p, &ids, &nids)) {
		free(v);
		return;		/* not known now: as before */
	}
	for (size_t i = 0; i < n; i++)
		k += !bsearch(v[i].id, ids, nids, sizeof(*ids), cmp_id);
	tell = k != p->orphans;
	for (size_t i = 0, shown = 0; tell && i < n && shown < 10; i++) {
		if (bsearch(v[i].id, ids, nids, sizeof(*ids), cmp_id))
			continue;
		hex_encode(v[i].id, HSMKEY_ID_LEN, hex);
		log_warn("pkcs11: key object version %u of id %s (CKA_ID %s%08x) belongs to no key in the records",
			 v[i].version, hex, hex, v[i].version);
		shown++;
	}
	if (tell && k)
		log_warn("pkcs11: %zu key object(s) in token %s belong to no key in the records: left in place, as they may be the only copy of keys an older state directory lacks; once sure they are not, destroy them with the HSM's tools (e.g. pkcs11-tool --delete-object --type secrkey --id CKA_ID)",
			 k, hsm_label(p->st.hsm));
	p->orphans = k;
	free(v);
	free(ids);
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
		hsm_key_destroy(p->st.hsm, rec.meta.id, v);
	r = p11_make(p, &rec, v, &src);
	if (r)
		return r;
	rec.v[rec.nver++] = (struct p11_ver){ .version = v, .created = time(NULL) };
	rec.meta.current = v;
	r = p11_rec_write(&p->st, &rec);
	if (r) {
		if (r != P11_UNCONFIRMED)	/* as in p11_create_locked() */
			hsm_key_destroy(p->st.hsm, rec.meta.id, v);
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
		r = hsm_key_destroy(p->st.hsm, rec.meta.id, rec.v[i].version);
		if (r == -ENOENT)
			r = 0;
	}
	if (r)
		return r;
	snprintf(file, sizeof(file), "%s%s", name, P11_SUFFIX);
	return p11_file_remove(&p->st, file);
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
		struct ks_key key;

		/* One that does not authenticate is logged and left out, as embedded does. */
		r = p11_get_locked(p, names[i], 0, false, &key);
		if (r == -EBADMSG || r == -ENOENT) {
			r = 0;
			continue;
		}
		if (!r)
			r = fn(&key, arg);
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

/*
 * Audit checkpoints signed by hsmkey:audit, so the daemon holds no signing
 * key.  Neither the store nor its lock is needed (the event loop signs):
 * the helper serves the call on a session of its own, as for p11_wrap().
 */
static int p11_sign_audit(struct backend *b, const void *msg, size_t len, uint8_t *sig,
			  uint8_t *pub)
{
	return hsm_sign(be_p11(b)->st.hsm, msg, len, sig, pub);
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

static int p11_wrap(struct backend *b, const uint8_t *kpoint, const struct ks_wrap_req *req,
		    size_t n, uint8_t *hpoint, struct ks_wrapped *out)
{
	struct p11be *p = be_p11(b);
	struct hsm_wrap_req *hr;
	struct hsm_wrapped *hw;
	int r;

	if (!n || n > HSMKEY_BATCH_MAX)
		return -EINVAL;
	hr = calloc(n, sizeof(*hr));
	hw = calloc(n, sizeof(*hw));
	if (!hr || !hw) {
		free(hr);
		free(hw);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(hr[i].id, req[i].id, HSMKEY_ID_LEN);
		hr[i].version = req[i].version;
		hr[i].type = req[i].type;
	}
	/* No store lock: the helper serves each worker on a session of its own. */
	r = hsm_wrap_for_kernel(p->st.hsm, kpoint, hr, n, hpoint, hw);
	for (size_t i = 0; !r && i < n; i++) {
		memcpy(out[i].blob, hw[i].blob, sizeof(out[i].blob));
		out[i].len = hw[i].len;
	}
	free(hr);
	free(hw);
	return r;
}

static int p11_health(struct backend *b, char *why, size_t len)
{
	struct p11be *p = be_p11(b);
	enum hsm_state s = hsm_state(p->st.hsm, why, len);

	if (s == HSM_BAD_PIN)
		return -EACCES;
	if (s != HSM_UP)
		return -EHOSTDOWN;
	if (!p->st.loaded && p->last && !unreachable(p->last)) {
		snprintf(why, len, "the records in the state directory do not match the token: %s",
			 strerror(-p->last));
		return p->last;
	}
	if (p->orphans)
		snprintf(why, len, "token %s; %zu key object(s) in it belong to no key (hsmkeyd's log lists them)",
			 hsm_label(p->st.hsm), p->orphans);
	else
		snprintf(why, len, "token %s", hsm_label(p->st.hsm));
	return 0;
}

static bool p11_undeliverable(struct backend *b, char *why, size_t len)
{
	struct p11be *p = be_p11(b);
	char names[256];

	if (!hsm_lacks(p->st.hsm, names, sizeof(names)))
		return false;
	snprintf(why, len, "keys cannot be delivered to the kernel from token %s: it lacks %s",
		 hsm_label(p->st.hsm), names);
	return true;
}

static unsigned int p11_comebacks(struct backend *b)
{
	return hsm_ups(be_p11(b)->st.hsm);
}

static int p11_comebacks_fd(struct backend *b)
{
	return hsm_ups_fd(be_p11(b)->st.hsm);
}

static void p11_retry(struct backend *b)
{
	hsm_retry(be_p11(b)->st.hsm);
}

static void p11_close(struct backend *b)
{
	struct p11be *p = be_p11(b);

	hsm_close(p->st.hsm);
	p11_store_free(&p->st);
	if (p->st.dirfd >= 0)
		close(p->st.dirfd);
	if (p->lockfd >= 0)
		close(p->lockfd);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static const struct backend_ops p11_ops = {
	.name = "pkcs11",
	.destruction = "every version's key object is destroyed in the token (C_DestroyObject) and the key's record removed; whether the HSM erases the material beyond recovery, and what its own backups keep, is the HSM's property",
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
	.adopt = p11_adopt,
	.import_key = p11_import_key,
	.import_wrapped = p11_import_wrapped,
	.health = p11_health,
	.undeliverable = p11_undeliverable,
	.comebacks = p11_comebacks,
	.comebacks_fd = p11_comebacks_fd,
	.retry = p11_retry,
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
	p->st.dirfd = dfd;
	p->lockfd = openat(dfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (p->lockfd < 0 || flock(p->lockfd, LOCK_EX | LOCK_NB) < 0)
		return log_errno(errno == EWOULDBLOCK ? EBUSY : errno,
				 "state directory %s is in use by another hsmkeyd", dir);
	return 0;
}

int pkcs11_open(const char *dir, const struct config *cfg, unsigned int flags,
		struct backend **out)
{
	struct hsm_config hc = {
		.module = cfg->pkcs11_module,
		.token = cfg->pkcs11_token,
		.pin_file = *cfg->pin_file ? cfg->pin_file : NULL,
		.timeout_ms = (unsigned int)cfg->pkcs11_timeout * 1000,
		.in_process = cfg->pkcs11_in_process,
	};
	pthread_mutexattr_t attr;
	struct p11be *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	p->be.ops = &p11_ops;
	p->st.dirfd = p->lockfd = -1;
	p->last = 1;	/* none yet: the first result is logged */
	p->st.accept = flags & BACKEND_ACCEPT;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&p->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	r = p11_open_dir(p, dir);
	if (!r) {
		r = hsm_open(&hc, &p->st.hsm);
		/* hsm_error() names the token; never the URI: a PIN may be in it. */
		if (r)
			log_error("pkcs11: cannot use %s", hsm_error());
	}
	if (!r) {
		pthread_mutex_lock(&p->lock);
		r = p11_ready(p);
		pthread_mutex_unlock(&p->lock);
		/* Down or refusing the PIN: start degraded; a rollback: refuse. */
		if (unreachable(r))
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
