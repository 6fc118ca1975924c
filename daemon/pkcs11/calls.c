// SPDX-License-Identifier: GPL-2.0
/*
 * The operations of hsm.h, each one request to the token's helper (or to
 * the module in this process, in_process mode): the request filled and
 * bounded here, the reply's fields copied out.  Raw material passes here
 * only for hsm_key_import(), and its request is wiped; a wrapped import
 * (hsm_key_unwrap()) passes only the RSA-OAEP blob.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pkcs11/helper.h"
#include "util.h"

static struct hp_request *new_request(uint32_t op)
{
	struct hp_request *req = malloc(sizeof(*req));

	if (req)
		memset(req, 0, offsetof(struct hp_request, data.buf));
	if (req)
		req->op = op;
	return req;
}

static int data_call(struct hsm *h, uint32_t op, uint64_t num, const void *in, size_t len,
		     struct hp_reply **out);

static int key_call(struct hsm *h, uint32_t op, const uint8_t *id, uint32_t version, int type,
		    const char *name, const char *label, const uint8_t *material,
		    bool *was_readable)
{
	struct hp_request *req = new_request(op);
	struct hp_reply *rep = malloc(sizeof(*rep));
	int r = -ENOMEM;

	if (!req || !rep)
		goto out;
	memset(&req->key, 0, sizeof(req->key));	/* new_request() zeroes the header only */
	r = hsm_fail(h, -EMEDIUMTYPE, "no key of this type goes to the token");
	if (material && key_type_len(type) > sizeof(req->key.material))
		goto out;
	r = hsm_fail(h, -EINVAL, "name or label too long");
	memcpy(req->key.id, id, HSMKEY_ID_LEN);
	req->key.version = version;
	req->key.type = type;
	if (snprintf(req->key.name, HP_NAME_MAX, "%s", name ?: "") >= HP_NAME_MAX ||
	    snprintf(req->key.label, HP_LABEL_MAX, "%s", label ?: "") >= HP_LABEL_MAX)
		goto out;
	if (material)
		memcpy(req->key.material, material, key_type_len(type));
	r = hsm_call(h, req, rep);
	if (!r && was_readable)
		*was_readable = rep->was_readable;
out:
	if (req)
		wipe(&req->key, sizeof(req->key));	/* an import's material */
	free(req);
	free(rep);
	return r;
}

int hsm_key_generate(struct hsm *h, const uint8_t id[HSMKEY_ID_LEN], uint32_t version,
		     int type, const char *name)
{
	return key_call(h, HP_GENERATE, id, version, type, name, NULL, NULL, NULL);
}

int hsm_key_import(struct hsm *h, const uint8_t id[HSMKEY_ID_LEN], uint32_t version,
		   int type, const char *name, const uint8_t *material)
{
	if (!key_type_len(type))
		return hsm_fail(h, -EINVAL, "no key type %d", type);
	return key_call(h, HP_IMPORT, id, version, type, name, NULL, material, NULL);
}

int hsm_key_unwrap(struct hsm *h, const uint8_t id[HSMKEY_ID_LEN], uint32_t version,
		   int type, const char *name, const uint8_t *blob, size_t len)
{
	struct hp_request *req;
	struct hp_reply *rep;
	int r = -ENOMEM;

	if (!key_type_len(type))
		return hsm_fail(h, -EINVAL, "no key type %d", type);
	if (len > HP_BLOB_MAX)
		return hsm_fail(h, -EKEYREJECTED, "a wrapped key of %zu bytes (at most %d)", len,
				HP_BLOB_MAX);
	if (strlen(name) >= HP_NAME_MAX)
		return hsm_fail(h, -EINVAL, "name too long");
	req = new_request(HP_UNWRAP);
	rep = malloc(sizeof(*rep));
	if (req && rep) {
		memset(&req->unwrap, 0, sizeof(req->unwrap));
		memcpy(req->unwrap.key.id, id, HSMKEY_ID_LEN);
		req->unwrap.key.version = version;
		req->unwrap.key.type = type;
		snprintf(req->unwrap.key.name, HP_NAME_MAX, "%s", name);
		req->unwrap.len = len;
		memcpy(req->unwrap.blob, blob, len);
		r = hsm_call(h, req, rep);
	}
	free(req);
	free(rep);
	return r;
}

int hsm_import_key(struct hsm *h, bool renew, struct hsm_import_key *out)
{
	struct hp_reply *rep;
	int r = data_call(h, HP_IMPORT_KEY, renew, NULL, 0, &rep);

	if (!r)
		*out = rep->import_key;
	free(rep);
	return r;
}

int hsm_key_adopt(struct hsm *h, const char *label, const uint8_t id[HSMKEY_ID_LEN],
		  uint32_t version, int type, const char *name, bool *was_readable)
{
	return key_call(h, HP_ADOPT, id, version, type, name, label, NULL, was_readable);
}

int hsm_key_destroy(struct hsm *h, const uint8_t id[HSMKEY_ID_LEN], uint32_t version)
{
	return key_call(h, HP_DESTROY, id, version, 0, NULL, NULL, NULL, NULL);
}

int hsm_key_find(struct hsm *h, const uint8_t id[HSMKEY_ID_LEN], uint32_t version)
{
	return key_call(h, HP_FIND, id, version, 0, NULL, NULL, NULL, NULL);
}

int hsm_wrap_for_kernel(struct hsm *h, const uint8_t kpoint[HSM_POINT_LEN],
			const struct hsm_wrap_req *req, size_t n,
			uint8_t hpoint[HSM_POINT_LEN], struct hsm_wrapped *out,
			unsigned int flags)
{
	struct hp_request *q;
	struct hp_reply *rep;
	int r = -ENOMEM;

	if (n < 1 || n > HSMKEY_BATCH_MAX)
		return hsm_fail(h, -EINVAL, "a batch of %zu keys", n);
	q = new_request(HP_WRAP);
	rep = malloc(sizeof(*rep));
	if (q && rep) {
		memcpy(q->wrap.kpoint, kpoint, HSM_POINT_LEN);
		q->wrap.flags = flags & HSM_WRAP_IN_TURN;
		q->wrap.n = n;
		memcpy(q->wrap.req, req, n * sizeof(*req));
		r = hsm_call(h, q, rep);
		if (!r && rep->wrap.n != n)
			r = hsm_fail(h, -EIO, "the helper wrapped %u keys of %zu", rep->wrap.n, n);
	}
	if (!r) {
		memcpy(hpoint, rep->wrap.hpoint, HSM_POINT_LEN);
		memcpy(out, rep->wrap.out, n * sizeof(*out));
	}
	if (rep)
		wipe(rep->wrap.out, sizeof(rep->wrap.out));	/* the verifiers */
	free(q);
	free(rep);
	return r;
}

/* MAC, DERIVE, SIGN, INSTANCE, the anchor, IMPORT_KEY: @in out, the reply back. */
static int data_call(struct hsm *h, uint32_t op, uint64_t num, const void *in, size_t len,
		     struct hp_reply **out)
{
	struct hp_request *req;
	int r;

	if (len > HP_DATA_MAX)
		return hsm_fail(h, -EMSGSIZE, "a message of %zu bytes (at most %d)", len, HP_DATA_MAX);
	req = new_request(op);
	*out = malloc(sizeof(**out));
	if (!req || !*out) {
		free(req);
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	req->data.n = num;
	req->data.len = len;
	if (len)
		memcpy(req->data.buf, in, len);
	r = hsm_call(h, req, *out);
	free(req);
	if (r) {
		/*
		 * A derivation that failed part way, or a reply refused as
		 * malformed, may have left secret bytes.
		 */
		if (op == HP_DERIVE)
			wipe((*out)->data.buf, 64);
		if (op == HP_RANDOM)
			wipe((*out)->data.buf, HSM_RANDOM_MAX);
		free(*out);
		*out = NULL;
	}
	return r;
}

int hsm_mac(struct hsm *h, const void *msg, size_t len, uint8_t mac[HSM_MAC_LEN])
{
	struct hp_reply *rep;
	int r = data_call(h, HP_MAC, 0, msg, len, &rep);

	if (!r && rep->data.len != HSM_MAC_LEN)
		r = hsm_fail(h, -EIO, "a MAC of %u bytes", rep->data.len);
	if (!r)
		memcpy(mac, rep->data.buf, HSM_MAC_LEN);
	free(rep);
	return r;
}

_Static_assert(HSM_RANDOM_MAX <= HP_DATA_MAX, "random bytes exceed a reply's data");

int hsm_random(struct hsm *h, uint8_t *out, size_t len)
{
	struct hp_reply *rep;
	int r;

	if (len < 1 || len > HSM_RANDOM_MAX)
		return hsm_fail(h, -EINVAL, "cannot ask for %zu random bytes", len);
	r = data_call(h, HP_RANDOM, len, NULL, 0, &rep);
	if (!r && rep->data.len != len)
		r = hsm_fail(h, -EIO, "C_GenerateRandom gave %u bytes of %zu", rep->data.len, len);
	if (!r)
		memcpy(out, rep->data.buf, len);
	if (rep)	/* a reply longer than asked (checked: HP_DATA_MAX at most) too */
		wipe(rep->data.buf, rep->data.len > len ? rep->data.len : len);
	free(rep);
	return r;
}

int hsm_derive(struct hsm *h, const char *label, uint8_t *out, size_t len)
{
	struct hp_reply *rep;
	int r;

	if (len < 1 || len > 64)
		return hsm_fail(h, -EINVAL, "cannot derive %zu bytes", len);
	r = data_call(h, HP_DERIVE, len, label, strlen(label), &rep);
	if (!r && rep->data.len != len)
		r = hsm_fail(h, -EIO, "derived %u bytes of %zu", rep->data.len, len);
	if (!r)
		memcpy(out, rep->data.buf, len);
	if (rep)
		wipe(rep->data.buf, sizeof(rep->data.buf) < 64 ? sizeof(rep->data.buf) : 64);
	free(rep);
	return r;
}

int hsm_sign(struct hsm *h, const void *msg, size_t len, uint8_t sig[HSM_SIG_LEN],
	     uint8_t pub[HSM_PUB_LEN])
{
	struct hp_reply *rep;
	int r = data_call(h, HP_SIGN, 0, msg, len, &rep);

	if (!r) {
		memcpy(sig, rep->sign.sig, HSM_SIG_LEN);
		memcpy(pub, rep->sign.pub, HSM_PUB_LEN);
	}
	free(rep);
	return r;
}

int hsm_instance(struct hsm *h, uint8_t out[HSMKEY_OWNER_LEN])
{
	struct hp_reply *rep;
	int r = data_call(h, HP_INSTANCE, 0, NULL, 0, &rep);

	if (!r && rep->data.len != HSMKEY_OWNER_LEN)
		r = hsm_fail(h, -EIO, "an instance id of %u bytes", rep->data.len);
	if (!r)
		memcpy(out, rep->data.buf, HSMKEY_OWNER_LEN);
	free(rep);
	return r;
}

int hsm_instance_set(struct hsm *h, const uint8_t instance[HSMKEY_OWNER_LEN])
{
	struct hp_reply *rep;
	int r = data_call(h, HP_INSTANCE_SET, 0, instance, HSMKEY_OWNER_LEN, &rep);

	free(rep);
	return r;
}

int hsm_anchor_load(struct hsm *h, uint64_t *n, void *buf, size_t *len)
{
	struct hp_reply *rep;
	int r = data_call(h, HP_ANCHOR_LOAD, 0, NULL, 0, &rep);

	if (!r && rep->data.len > *len)
		r = hsm_fail(h, -EMSGSIZE, "an anchor of %u bytes", rep->data.len);
	if (!r) {
		*n = rep->data.n;
		*len = rep->data.len;
		memcpy(buf, rep->data.buf, rep->data.len);
	}
	free(rep);
	return r;
}

int hsm_anchor_store(struct hsm *h, uint64_t n, const void *buf, size_t len)
{
	struct hp_reply *rep;
	int r;

	if (len > HSM_ANCHOR_MAX)
		return hsm_fail(h, -EMSGSIZE, "an anchor of %zu bytes (at most %d)", len,
			    HSM_ANCHOR_MAX);
	r = data_call(h, HP_ANCHOR_STORE, n, buf, len, &rep);
	free(rep);
	return r;
}

/* Page by page: each reply holds the ids after the last one of the one before. */
int hsm_key_list(struct hsm *h, struct hsm_version **out, size_t *n)
{
	const size_t vl = HSMKEY_ID_LEN + 4;
	struct hp_request *req = new_request(HP_KEY_LIST);
	struct hp_reply *rep = malloc(sizeof(*rep));
	struct hsm_version *v = NULL, *tmp;
	size_t k = 0, got;
	int r = req && rep ? 0 : -ENOMEM;

	do {
		r = r ?: hsm_call(h, req, rep);
		got = r ? 0 : rep->data.len / vl;
		tmp = got ? realloc(v, (k + got) * sizeof(*v)) : v;
		if (got && !tmp)
			r = -ENOMEM;
		else
			v = tmp;
		for (size_t i = 0; !r && i < got; i++) {
			const uint8_t *p = rep->data.buf + i * vl;

			memcpy(v[k].id, p, HSMKEY_ID_LEN);
			v[k++].version = (uint32_t)p[16] << 24 | (uint32_t)p[17] << 16 |
					 (uint32_t)p[18] << 8 | p[19];
		}
		if (k) {
			memcpy(req->key.id, v[k - 1].id, HSMKEY_ID_LEN);
			req->key.version = v[k - 1].version;
		}
	} while (!r && got == HP_DATA_MAX / vl);
	free(req);
	free(rep);
	if (r) {
		free(v);
		return r;
	}
	*out = v;
	*n = k;
	return 0;
}

static bool use_fits(const struct hsm_use *u)
{
	if (u->op == HSM_USE_MAC || u->op == HSM_USE_SIGN || u->op == HSM_USE_PUBLIC)
		return !u->aad_len && u->len <= HSM_USE_MAX;
	if (u->op != HSM_USE_SEAL && u->op != HSM_USE_OPEN)
		return false;
	return u->aad_len <= HSM_USE_MAX && u->len <= HSM_USE_MAX - u->aad_len &&
	       (u->op == HSM_USE_SEAL || u->len >= HSM_GCM_TAG_LEN);
}

int hsm_key_use(struct hsm *h, const struct hsm_use *u, uint8_t *out, size_t *outlen)
{
	size_t len = u->aad_len + u->len, got = 0;
	struct hp_request *req;
	struct hp_reply *rep;
	int r = -ENOMEM;

	if ((u->op == HSM_USE_SEAL || u->op == HSM_USE_OPEN) && !u->iv)
		return hsm_fail(h, -EINVAL, "AES-GCM without a nonce");
	if (!use_fits(u))
		return hsm_fail(h, -EINVAL, "an input of %zu bytes with %zu of associated data",
				u->len, u->aad_len);
	req = new_request(HP_USE);
	rep = malloc(sizeof(*rep));
	if (req && rep) {
		memcpy(req->use.id, u->id, HSMKEY_ID_LEN);
		req->use.version = u->version;
		req->use.type = u->type;
		req->use.op = u->op;
		req->use.flags = u->flags;
		req->use.aad_len = u->aad_len;
		req->use.len = len;
		memset(req->use.iv, 0, HSM_GCM_IV_LEN);
		if (u->iv)
			memcpy(req->use.iv, u->iv, HSM_GCM_IV_LEN);	/* SEAL, OPEN: always */
		if (u->aad_len)
			memcpy(req->use.buf, u->aad, u->aad_len);
		if (u->len)
			memcpy(req->use.buf + u->aad_len, u->in, u->len);
		rep->data.len = 0;
		r = hsm_call(h, req, rep);
		/* What came back, checked or not (data.len was zeroed before). */
		got = rep->data.len < HP_DATA_MAX ? rep->data.len : HP_DATA_MAX;
	}
	if (!r && rep->data.len > *outlen)
		r = hsm_fail(h, -EIO, "an output of %u bytes (room for %zu)", rep->data.len,
			     *outlen);
	if (!r) {
		memcpy(out, rep->data.buf, rep->data.len);
		*outlen = rep->data.len;
	}
	/* The plaintext, either way. */
	if (req)
		wipe(req->use.buf, len);
	if (rep)
		wipe(rep->data.buf, got);
	free(req);
	free(rep);
	return r;
}
