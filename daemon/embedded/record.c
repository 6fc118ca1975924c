// SPDX-License-Identifier: GPL-2.0
/*
 * One key file of the embedded keystore, STATE/keys/NAME.json: its JSON
 * form (parse, serialise); each version's verifier and material sealed
 * with AES-256-GCM under the master key with the key's name, version,
 * type, id and policy (but its grants) as associated data; and the MAC
 * over the whole file with its generation (format 3), which authenticates
 * everything else, the grants included (before, they were outside it:
 * ks_record_verify()).
 *
 * A version whose material another backend keeps (a KMIP server) has a
 * "ref" naming it there, bound into the seal's associated data and the
 * MAC, and only its verifier sealed.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include "internal.h"
#include "util.h"

/*
 * The policy's text ends before byte 768 of the AAD, or is left out (as
 * it always was: keys sealed so must still unseal); a version's ref
 * follows it.
 */
#define KS_AAD_POLICY_END	768
#define KS_AAD_MAX	(KS_AAD_POLICY_END + 5 + KS_REF_MAX)
/* Format 2: metadata outside the seal; 3: the whole file under a MAC. */
#define KS_FORMAT_OLD	2
#define KS_FORMAT	3

/* The policy as text in a fixed form: what the seal authenticates. */
static int ks_policy_text(const struct ks_policy *p, char *out, size_t size)
{
	size_t n;
	uint32_t i;

	n = (size_t)snprintf(out, size, "policy algs=%u bindings=%u nb=%lld na=%lld bytes=%llu reqs=%llu noload=%d uids=",
			     p->algs, p->max_bindings, (long long)p->not_before,
			     (long long)p->not_after, (unsigned long long)p->max_bytes,
			     (unsigned long long)p->max_requests, p->no_load_at_start);
	for (i = 0; i < p->nuids && n < size; i++)
		n += (size_t)snprintf(out + n, size - n, "%u,", p->uids[i]);
	if (n < size)
		n += (size_t)snprintf(out + n, size - n, " gids=");
	for (i = 0; i < p->ngids && n < size; i++)
		n += (size_t)snprintf(out + n, size - n, "%u,", p->gids[i]);
	return n < size ? (int)n : -1;
}

/*
 * What the seal binds the ciphertext to: a file cannot be renamed or
 * edited, its policy included.
 */
static size_t ks_aad(const struct ks_key *key, uint8_t *aad)
{
	static const char label[] = "hsmkey keystore v1";
	size_t n = 0, len = strlen(key->name);
	uint32_t be = htonl(key->version);

	memcpy(aad + n, label, sizeof(label));
	n += sizeof(label);
	memcpy(aad + n, key->name, len + 1);
	n += len + 1;
	memcpy(aad + n, &be, 4);
	n += 4;
	aad[n++] = (uint8_t)key->type;
	memcpy(aad + n, key->id, HSMKEY_ID_LEN);
	n += HSMKEY_ID_LEN;
	if (key->has_policy) {
		int len = ks_policy_text(&key->policy, (char *)aad + n, KS_AAD_POLICY_END - n);

		n += len > 0 ? (size_t)len : 0;
	}
	if (key->ref[0]) {
		len = strlen(key->ref);
		memcpy(aad + n, "\0ref=", 5);
		memcpy(aad + n + 5, key->ref, len);
		n += 5 + len;
	}
	return n;
}

/* What a version seals: its verifier, and its material unless kept elsewhere. */
static int ks_sealed_len(int type, const char *ref)
{
	return HSMKEY_VERIFIER_LEN + (ref[0] ? 0 : (int)key_type_len(type));
}

bool ks_valid_ref(const char *ref)
{
	size_t n = strlen(ref);

	if (!n || n >= KS_REF_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (ref[i] < 0x21 || ref[i] > 0x7E)
			return false;
	return true;
}

/* AES-256-GCM over verifier || material, @key's metadata as AAD. */
static int ks_crypt(const uint8_t *master, const struct ks_key *key, bool seal,
		    const uint8_t *nonce, uint8_t *tag, const uint8_t *in,
		    uint8_t *out, int len)
{
	uint8_t aad[KS_AAD_MAX];

	return ks_gcm(master, seal, aad, (int)ks_aad(key, aad), nonce, tag, in, out, len);
}

const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int64_t jint(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
		return -1;
	return json_object_get_int64(v);
}

/* Version @idx of @rec, its secrets unsealed into @key. */
int ks_unseal(const struct keystore *ks, const struct ks_record *rec, uint32_t idx,
	      struct ks_key *key)
{
	const struct ks_ver *v = &rec->v[idx];
	int len = ks_sealed_len(rec->meta.type, v->ref);
	uint8_t plain[KS_SEALED_MAX];
	const uint8_t *master = ks_master_for(ks, rec->mkid);
	int r;

	*key = rec->meta;
	strcpy(key->ref, v->ref);
	key->version = v->version;
	key->version_created = v->created;
	key->used_bytes = v->used_bytes;
	key->used_requests = v->used_requests;
	if (!master)
		return -EBADMSG;	/* sealed under a master key we do not have */
	r = ks_crypt(master, key, false, v->nonce, (uint8_t *)v->tag, v->sealed, plain, len);
	if (!r) {
		memcpy(key->verifier, plain, HSMKEY_VERIFIER_LEN);
		memcpy(key->material, plain + HSMKEY_VERIFIER_LEN,
		       (size_t)len - HSMKEY_VERIFIER_LEN);
	}
	wipe(plain, sizeof(plain));
	return r;
}

/* Version @v: @key's secrets sealed with @key's metadata as AAD. */
static int ks_seal_version(const struct keystore *ks, const struct ks_key *key,
			   struct ks_ver *v)
{
	uint8_t plain[KS_SEALED_MAX];
	int len = ks_sealed_len(key->type, key->ref), r;
	const uint8_t *mkid, *master = ks_seal_master(ks, &mkid);

	memcpy(plain, key->verifier, HSMKEY_VERIFIER_LEN);
	memcpy(plain + HSMKEY_VERIFIER_LEN, key->material, len - HSMKEY_VERIFIER_LEN);
	strcpy(v->ref, key->ref);
	if (RAND_bytes(v->nonce, sizeof(v->nonce)) != 1)
		r = -EIO;
	else
		r = ks_crypt(master, key, true, v->nonce, v->tag, plain, v->sealed, len);
	wipe(plain, sizeof(plain));
	v->version = key->version;
	v->created = key->version_created;
	v->used_bytes = key->used_bytes;
	v->used_requests = key->used_requests;
	return r;
}

/*
 * @out: every version of @old (NULL for a new key) unsealed and sealed
 * again with @meta's metadata under the sealing master key, then @add (a
 * new version with its secrets) if given.
 */
int ks_reseal(const struct keystore *ks, const struct ks_record *old,
	      const struct ks_key *meta, const struct ks_key *add, struct ks_record *out)
{
	struct ks_key key;
	uint32_t n = 0;
	int r = 0;

	for (uint32_t i = 0; old && !r && i < old->nver; i++) {
		r = ks_unseal(ks, old, i, &key);
		if (!r) {
			memcpy(key.name, meta->name, sizeof(key.name));
			key.has_policy = meta->has_policy;
			key.policy = meta->policy;
			r = ks_seal_version(ks, &key, &out->v[n++]);
		}
		ks_key_wipe(&key);
	}
	if (!r && add) {
		key = *add;
		key.used_bytes = key.used_requests = 0;
		key.has_policy = meta->has_policy;
		key.policy = meta->policy;
		r = ks_seal_version(ks, &key, &out->v[n++]);
		ks_key_wipe(&key);
	}
	if (r)
		return r;
	out->meta = *meta;
	ks_key_wipe(&out->meta);
	out->nver = n;
	out->meta.version = out->meta.current = out->v[n - 1].version;
	out->meta.version_created = out->v[n - 1].created;
	strcpy(out->meta.ref, out->v[n - 1].ref);
	out->meta.used_bytes = out->v[n - 1].used_bytes;
	out->meta.used_requests = out->v[n - 1].used_requests;
	memcpy(out->mkid, ks->has_next ? ks->next_mkid : ks->mkid, KS_MKID_LEN);
	return 0;
}

static struct json_object *ks_version_json(const struct ks_record *rec, const struct ks_ver *v)
{
	struct json_object *o = json_object_new_object();
	char hex[2 * KS_SEALED_MAX + 1];

	json_object_object_add(o, "version", json_object_new_int64(v->version));
	json_object_object_add(o, "created", json_object_new_int64(v->created));
	json_object_object_add(o, "used_bytes", json_object_new_int64((int64_t)v->used_bytes));
	json_object_object_add(o, "used_requests", json_object_new_int64((int64_t)v->used_requests));
	hex_encode(v->nonce, sizeof(v->nonce), hex);
	json_object_object_add(o, "nonce", json_object_new_string(hex));
	hex_encode(v->tag, sizeof(v->tag), hex);
	json_object_object_add(o, "tag", json_object_new_string(hex));
	hex_encode(v->sealed, (size_t)ks_sealed_len(rec->meta.type, v->ref), hex);
	json_object_object_add(o, "sealed", json_object_new_string(hex));
	if (v->ref[0])
		json_object_object_add(o, "ref", json_object_new_string(v->ref));
	return o;
}

/* @rec (its generation and MAC set) as the text of its key file (free it); -EFBIG if too large. */
int ks_record_text(const struct ks_record *rec, char **text)
{
	const struct ks_key *meta = &rec->meta;
	struct json_object *o = json_object_new_object(), *versions = json_object_new_array();
	char hex[2 * HSMKEY_ID_LEN + 1], mac[2 * KS_MAC_LEN + 1];
	const char *s;

	json_object_object_add(o, "format", json_object_new_int(KS_FORMAT));
	json_object_object_add(o, "generation", json_object_new_int64((int64_t)rec->gen));
	json_object_object_add(o, "name", json_object_new_string(meta->name));
	json_object_object_add(o, "type", json_object_new_string(key_type_name(meta->type)));
	hex_encode(meta->id, HSMKEY_ID_LEN, hex);
	json_object_object_add(o, "id", json_object_new_string(hex));
	json_object_object_add(o, "state", json_object_new_string(ks_state_name(meta->state)));
	json_object_object_add(o, "created", json_object_new_int64(meta->created));
	if (meta->state == KS_PENDING_DELETION) {
		json_object_object_add(o, "delete_at", json_object_new_int64(meta->delete_at));
		json_object_object_add(o, "prior_state",
				       json_object_new_string(ks_state_name(meta->prior_state)));
	}
	if (meta->has_policy)
		json_object_object_add(o, "policy", ks_policy_to_json(&meta->policy));
	hex_encode(rec->mkid, KS_MKID_LEN, hex);
	json_object_object_add(o, "master", json_object_new_string(hex));
	for (uint32_t i = 0; i < rec->nver; i++)
		json_object_array_add(versions, ks_version_json(rec, &rec->v[i]));
	json_object_object_add(o, "versions", versions);
	hex_encode(rec->mac, sizeof(rec->mac), mac);
	json_object_object_add(o, "mac", json_object_new_string(mac));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
	*text = strlen(s) > KS_FILE_MAX ? NULL : strdup(s);
	json_object_put(o);
	if (!*text)
		return strlen(s) > KS_FILE_MAX ? -EFBIG : -ENOMEM;
	return 0;
}

/*
 * delete_at and prior_state: present exactly when a deletion is pending
 * (prior_state only since it is kept: a cancel then leaves the key
 * disabled), and of their type.
 */
static int ks_parse_deletion(struct json_object *o, struct ks_key *meta)
{
	bool pending = meta->state == KS_PENDING_DELETION;
	struct json_object *v;

	if (json_object_object_get_ex(o, "delete_at", &v) != pending)
		return -EINVAL;
	if (!pending)
		return json_object_object_get_ex(o, "prior_state", &v) ? -EINVAL : 0;
	meta->delete_at = jint(o, "delete_at");
	if (meta->delete_at < 0)
		return -EINVAL;
	meta->prior_state = KS_DISABLED;
	if (!json_object_object_get_ex(o, "prior_state", &v))
		return 0;
	meta->prior_state = ks_state_from_name(jstr(o, "prior_state"));
	return meta->prior_state < 0 || meta->prior_state == KS_PENDING_DELETION ? -EINVAL : 0;
}

/* A version's spent usage: absent in files from before it was kept. */
static int ks_parse_usage(struct json_object *e, struct ks_ver *v)
{
	struct json_object *b, *q;
	bool hb = json_object_object_get_ex(e, "used_bytes", &b);
	bool hq = json_object_object_get_ex(e, "used_requests", &q);

	if (hb != hq)
		return -EINVAL;
	if (!hb)
		return 0;
	if (!json_object_is_type(b, json_type_int) || !json_object_is_type(q, json_type_int) ||
	    json_object_get_int64(b) < 0 || json_object_get_int64(q) < 0)
		return -EINVAL;
	v->used_bytes = (uint64_t)json_object_get_int64(b);
	v->used_requests = (uint64_t)json_object_get_int64(q);
	return 0;
}

/* The "versions" array @va into @rec (its type already parsed). */
/* A version's "ref", if it has one: its material is kept elsewhere. */
static int ks_parse_ref(struct json_object *e, struct ks_ver *v)
{
	struct json_object *o;
	const char *ref;

	if (!json_object_object_get_ex(e, "ref", &o))
		return 0;
	ref = jstr(e, "ref");
	if (!ref || !ks_valid_ref(ref))
		return -EINVAL;
	strcpy(v->ref, ref);
	return 0;
}

static int ks_parse_versions(struct json_object *va, struct ks_record *rec)
{
	size_t nv = json_object_array_length(va);

	/* An identity key has one version: a new key pair is a new key. */
	if (nv < 1 || nv > KS_VERSIONS_MAX || (ks_type_identity(rec->meta.type) && nv > 1))
		return -EINVAL;
	for (size_t i = 0; i < nv; i++) {
		struct json_object *e = json_object_array_get_idx(va, i);
		struct ks_ver *v = &rec->v[i];
		int64_t version = e ? jint(e, "version") : -1;

		/* Versions ascend: no two entries answer for one version. */
		if (!json_object_is_type(e, json_type_object) || version < 1 ||
		    version > UINT32_MAX || (i && version <= rec->v[i - 1].version) ||
		    ks_parse_ref(e, v) ||
		    hex_decode(jstr(e, "nonce"), v->nonce, sizeof(v->nonce)) ||
		    hex_decode(jstr(e, "tag"), v->tag, sizeof(v->tag)) ||
		    hex_decode(jstr(e, "sealed"), v->sealed,
			       (size_t)ks_sealed_len(rec->meta.type, v->ref)))
			return -EINVAL;
		v->version = (uint32_t)version;
		v->created = jint(e, "created");
		if (v->created < 0 || ks_parse_usage(e, v))
			return -EINVAL;
	}
	rec->nver = (uint32_t)nv;
	return 0;
}

/*
 * The MAC of a format-3 key file: HMAC-SHA256 under a key derived from
 * the root secret over every field in a fixed binary form, generation
 * included, so no field can be edited and no older copy passes for a
 * newer one (root.c keeps the generations).
 */
struct ks_macbuf {
	/* The fixed fields, the policy and grants, then each version's. */
	uint8_t b[4096 + KS_VERSIONS_MAX * (64 + KS_SEALED_MAX + KS_REF_MAX)];
	size_t n;
};

static void mb_put(struct ks_macbuf *m, const void *p, size_t len)
{
	if (m->n + len <= sizeof(m->b))
		memcpy(m->b + m->n, p, len);
	m->n += len;	/* past the end: caught by the caller */
}

static void mb_u64(struct ks_macbuf *m, uint64_t v)
{
	uint8_t be[8];

	for (int i = 7; i >= 0; i--, v >>= 8)
		be[i] = (uint8_t)v;
	mb_put(m, be, sizeof(be));
}

static void mb_policy(struct ks_macbuf *m, const struct ks_policy *p)
{
	mb_u64(m, p->nuids);
	for (uint32_t i = 0; i < p->nuids; i++)
		mb_u64(m, p->uids[i]);
	mb_u64(m, p->ngids);
	for (uint32_t i = 0; i < p->ngids; i++)
		mb_u64(m, p->gids[i]);
	mb_u64(m, p->algs);
	mb_u64(m, p->max_bindings);
	mb_u64(m, (uint64_t)p->not_before);
	mb_u64(m, (uint64_t)p->not_after);
	mb_u64(m, p->max_bytes);
	mb_u64(m, p->max_requests);
	mb_u64(m, p->no_load_at_start);
}

/*
 * The grants, last, always (a count of 0 for none): no file's MAC is the
 * one it had before the MAC covered them (ks_record_verify()).
 */
static void mb_grants(struct ks_macbuf *m, const struct ks_key *k)
{
	uint32_t n = k->has_policy ? k->policy.ngrants : 0;

	mb_put(m, "grants", 7);
	mb_u64(m, n);
	for (uint32_t i = 0; i < n; i++) {
		mb_u64(m, k->policy.grants[i].ops);
		mb_u64(m, k->policy.grants[i].id);
		mb_u64(m, k->policy.grants[i].group);
	}
}

/* The MAC; @grants: over the grants too, as every file is written now. */
static int ks_record_mac_as(const struct keystore *ks, const struct ks_record *rec, bool grants,
			    uint8_t *out)
{
	static const char label[] = "hsmkey key file v3";
	const struct ks_key *k = &rec->meta;
	struct ks_macbuf *m = malloc(sizeof(*m));
	unsigned int len = KS_MAC_LEN;
	int r = 0;

	if (!m)
		return -ENOMEM;
	m->n = 0;
	mb_put(m, label, sizeof(label));
	mb_put(m, k->name, strlen(k->name) + 1);
	mb_u64(m, rec->gen);
	mb_u64(m, (uint64_t)k->type);
	mb_put(m, k->id, HSMKEY_ID_LEN);
	mb_u64(m, (uint64_t)k->state);
	mb_u64(m, (uint64_t)k->created);
	mb_u64(m, (uint64_t)k->delete_at);
	mb_u64(m, (uint64_t)k->prior_state);
	mb_u64(m, k->has_policy);
	if (k->has_policy)
		mb_policy(m, &k->policy);
	mb_put(m, rec->mkid, KS_MKID_LEN);
	mb_u64(m, rec->nver);
	for (uint32_t i = 0; i < rec->nver; i++) {
		const struct ks_ver *v = &rec->v[i];

		/*
		 * A version with a ref says so in its first field (versions are
		 * 32-bit): its bytes can never read as one without, whose sealed
		 * field is longer by as much as the ref takes.
		 */
		mb_u64(m, v->version | (v->ref[0] ? 1ULL << 63 : 0));
		mb_u64(m, (uint64_t)v->created);
		mb_u64(m, v->used_bytes);
		mb_u64(m, v->used_requests);
		mb_put(m, v->nonce, KS_NONCE_LEN);
		mb_put(m, v->tag, KS_TAG_LEN);
		mb_put(m, v->sealed, (size_t)ks_sealed_len(k->type, v->ref));
		if (v->ref[0]) {
			mb_put(m, "ref", 4);
			mb_put(m, v->ref, strlen(v->ref) + 1);
		}
	}
	if (grants)
		mb_grants(m, k);
	if (m->n > sizeof(m->b) ||
	    !HMAC(EVP_sha256(), ks->filekey, KS_MASTER_LEN, m->b, m->n, out, &len))
		r = -EIO;
	free(m);
	return r;
}

int ks_record_mac(const struct keystore *ks, const struct ks_record *rec, uint8_t *out)
{
	return ks_record_mac_as(ks, rec, true, out);
}

/*
 * Does format-3 @rec carry its own MAC?  -EBADMSG if not.  A file written
 * by a build whose MAC left the grants out carries the MAC of the rest:
 * taken, with *@legacy set (written again by the open: ks_cover_grants()),
 * but with no grants.  Its grants cannot be told from ones an attacker with
 * the disk put there, so none is ever taken from such a file, wherever it
 * comes from (an old root record, a backup, --accept-keystore).
 */
int ks_record_verify(const struct keystore *ks, struct ks_record *rec, bool *legacy)
{
	struct ks_policy *p = &rec->meta.policy;
	uint8_t mac[KS_MAC_LEN];
	int r = ks_record_mac(ks, rec, mac);

	if (legacy)
		*legacy = false;
	if (r || !CRYPTO_memcmp(mac, rec->mac, KS_MAC_LEN))
		return r;
	r = ks_record_mac_as(ks, rec, false, mac);
	if (!r && CRYPTO_memcmp(mac, rec->mac, KS_MAC_LEN))
		r = -EBADMSG;
	if (r)
		return r;
	if (rec->meta.has_policy && p->ngrants)
		log_warn("key %s: its %u grants were written by an earlier build, outside its file's MAC, and cannot be told from forged ones: dropped (hsmkeyctl policy %s --grant OPS:WHO gives them again)",
			 rec->meta.name, p->ngrants, rec->meta.name);
	p->ngrants = 0;
	memset(p->grants, 0, sizeof(p->grants));
	if (legacy)
		*legacy = true;
	return 0;
}

/*
 * The contents of key file @file (@n bytes at @data) into @rec, secrets
 * still sealed: -EINVAL unless it is a well-formed key file of that name,
 * -EFBIG if too large.
 */
int ks_parse_record(const char *file, const char *data, size_t n, struct ks_record *rec)
{
	struct json_object *o = NULL, *pol, *va;
	struct json_tokener *tok;
	const char *name;
	char *buf;
	size_t nv;
	int r = -EINVAL;

	if (n > KS_FILE_MAX)
		return -EFBIG;
	if (memchr(data, '\0', n))
		return -EINVAL;
	buf = malloc(n + 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, data, n);
	buf[n] = '\0';
	tok = json_tokener_new_ex(8);
	if (tok) {
		o = json_tokener_parse_ex(tok, buf, (int)n);
		if (o && json_tokener_get_error(tok) != json_tokener_success) {
			json_object_put(o);
			o = NULL;
		}
		json_tokener_free(tok);
	}
	free(buf);
	if (!o || !json_object_is_type(o, json_type_object))
		goto out;

	memset(rec, 0, sizeof(*rec));
	name = jstr(o, "name");
	rec->format = (int)jint(o, "format");
	rec->meta.type = key_type_from_name(jstr(o, "type"));
	rec->meta.state = ks_state_from_name(jstr(o, "state"));
	rec->meta.created = jint(o, "created");
	if ((rec->format != KS_FORMAT && rec->format != KS_FORMAT_OLD) || !valid_name(name) ||
	    rec->meta.type < 0 || rec->meta.state < 0 || rec->meta.created < 0 ||
	    hex_decode(jstr(o, "id"), rec->meta.id, HSMKEY_ID_LEN) ||
	    hex_decode(jstr(o, "master"), rec->mkid, KS_MKID_LEN) ||
	    !json_object_object_get_ex(o, "versions", &va) ||
	    !json_object_is_type(va, json_type_array))
		goto out;
	if (rec->format == KS_FORMAT &&
	    (jint(o, "generation") < 1 || hex_decode(jstr(o, "mac"), rec->mac, KS_MAC_LEN)))
		goto out;
	rec->gen = rec->format == KS_FORMAT ? (uint64_t)jint(o, "generation") : 0;
	if (ks_parse_deletion(o, &rec->meta))
		goto out;
	if (json_object_object_get_ex(o, "policy", &pol)) {
		if (ks_policy_from_json(pol, &rec->meta.policy))
			goto out;
		rec->meta.has_policy = true;
	}
	if (ks_parse_versions(va, rec))
		goto out;
	nv = rec->nver;
	strcpy(rec->meta.name, name);
	rec->meta.current = rec->v[nv - 1].version;
	rec->meta.version = rec->meta.current;
	rec->meta.version_created = rec->v[nv - 1].created;
	strcpy(rec->meta.ref, rec->v[nv - 1].ref);
	rec->meta.used_bytes = rec->v[nv - 1].used_bytes;
	rec->meta.used_requests = rec->v[nv - 1].used_requests;
	/* The file name must be the key's name: no key answers for another. */
	if (strlen(file) != strlen(name) + 5 || strncmp(file, name, strlen(name)) ||
	    strcmp(file + strlen(name), ".json"))
		goto out;
	r = 0;
out:
	json_object_put(o);
	return r;
}

uint32_t ks_find_version(const struct ks_record *rec, uint32_t version)
{
	if (!version)
		return rec->nver - 1;
	for (uint32_t i = 0; i < rec->nver; i++)
		if (rec->v[i].version == version)
			return i;
	return UINT32_MAX;
}

/* Parse key file @file and unseal its current version (the fuzzed path). */
int ks_parse(struct keystore *ks, const char *file, const char *data, size_t n,
	     bool unseal, struct ks_key *key)
{
	struct ks_record *rec = calloc(1, sizeof(*rec));
	int r;

	if (!rec)
		return -ENOMEM;
	r = ks_parse_record(file, data, n, rec);
	if (!r && rec->format == 3)
		r = ks_record_verify(ks, rec, NULL);
	if (!r && unseal)
		r = ks_unseal(ks, rec, rec->nver - 1, key);
	else if (!r)
		*key = rec->meta;
	free(rec);
	return r;
}

