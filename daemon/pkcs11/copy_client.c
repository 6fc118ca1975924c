// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's side of copies between tokens (hsm.h: hsm_member() to
 * hsm_import_copy()), apart from calls.c because it is the multi-token
 * store's: each call one request to a token's helper.  What passes here is
 * a member id, a public key or an RSA-OAEP blob under a token's
 * hsmkey:pair (with a record's or root's check tag), never a key.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pkcs11/helper.h"
#include "util.h"

/* A request of @op and room for its reply; the caller frees both. */
static int copy_call(struct hsm *h, struct hp_request *req, struct hp_reply **rep)
{
	int r;

	*rep = malloc(sizeof(**rep));
	if (!*rep)
		return -ENOMEM;
	r = hsm_call(h, req, *rep);
	if (r) {
		free(*rep);
		*rep = NULL;
	}
	return r;
}

static struct hp_request *new_request(uint32_t op)
{
	struct hp_request *req = calloc(1, sizeof(*req));

	if (req)
		req->op = op;
	return req;
}

int hsm_member(struct hsm *h, uint8_t out[HSM_MEMBER_LEN])
{
	struct hp_request *req = new_request(HP_MEMBER);
	struct hp_reply *rep = NULL;
	int r = req ? copy_call(h, req, &rep) : -ENOMEM;

	if (!r)
		memcpy(out, rep->member, HSM_MEMBER_LEN);
	free(req);
	free(rep);
	return r;
}

int hsm_pair_pub(struct hsm *h, struct hsm_import_key *out)
{
	struct hp_request *req = new_request(HP_PAIR_PUB);
	struct hp_reply *rep = NULL;
	int r = req ? copy_call(h, req, &rep) : -ENOMEM;

	if (!r)
		*out = rep->import_key;
	free(req);
	free(rep);
	return r;
}

int hsm_peer_add(struct hsm *h, const uint8_t member[HSM_MEMBER_LEN],
		 const struct hsm_import_key *pub)
{
	struct hp_request *req;
	struct hp_reply *rep = NULL;
	int r;

	if (pub->nlen < 1 || pub->nlen > sizeof(pub->n) || pub->elen < 1 ||
	    pub->elen > sizeof(pub->e) || pub->hash < HSM_OAEP_SHA1 || pub->hash > HSM_OAEP_SHA256)
		return hsm_fail(h, -EINVAL, "not an RSA public key and OAEP hash");
	req = new_request(HP_PEER_ADD);
	if (!req)
		return -ENOMEM;
	memcpy(req->peer.member, member, HSM_MEMBER_LEN);
	req->peer.pub = *pub;
	r = copy_call(h, req, &rep);
	free(req);
	free(rep);
	return r;
}

/*
 * EXPORT and IMPORT_COPY: the object named, by @member's key or with @type
 * and @name; for the one-of-a-kind objects (HSM_OBJ_RECORD ...) those are
 * ignored.
 */
static int copy_request(struct hsm *h, uint32_t op, enum hsm_obj o, const uint8_t *id,
			uint32_t version, int type, const char *name, struct hp_request **out)
{
	struct hp_request *req;

	if (o < HSM_OBJ_VERSION || o > HSM_OBJ_AUDIT)
		return hsm_fail(h, -EINVAL, "no object kind %d to copy", o);
	if (o != HSM_OBJ_VERSION) {	/* the one of its kind: nothing names it */
		id = NULL;
		version = 0;
		type = 0;
		name = NULL;
	}
	if (name && strlen(name) >= HP_NAME_MAX)
		return hsm_fail(h, -EINVAL, "name too long");
	*out = req = new_request(op);
	if (!req)
		return hsm_fail(h, -ENOMEM, "out of memory");
	req->copy.obj = o;
	if (id)
		memcpy(req->copy.key.id, id, HSMKEY_ID_LEN);
	req->copy.key.version = version;
	req->copy.key.type = type;
	snprintf(req->copy.key.name, HP_NAME_MAX, "%s", name ?: "");
	return 0;
}

/* Whether copies of @o carry the exporter's check tag after the OAEP blob (HSM_COPY_MAX). */
static bool tagged(enum hsm_obj o)
{
	return o == HSM_OBJ_RECORD || o == HSM_OBJ_ROOT;
}

int hsm_export(struct hsm *h, const uint8_t member[HSM_MEMBER_LEN], enum hsm_obj o,
	       const uint8_t id[HSMKEY_ID_LEN], uint32_t version, uint8_t *blob, size_t *len)
{
	struct hp_request *req;
	struct hp_reply *rep = NULL;
	int r = copy_request(h, HP_EXPORT, o, id, version, 0, NULL, &req);

	if (r)
		return r;
	memcpy(req->copy.member, member, HSM_MEMBER_LEN);
	r = copy_call(h, req, &rep);
	if (!r) {
		memcpy(blob, rep->copy.blob, rep->copy.len);
		*len = rep->copy.len;
		if (tagged(o)) {
			memcpy(blob + *len, rep->copy.tag, HSM_MAC_LEN);
			*len += HSM_MAC_LEN;
		}
	}
	free(req);
	free(rep);
	return r;
}

/* @blob as the helper takes it: the OAEP blob, and the tag apart. */
static int split_blob(struct hsm *h, enum hsm_obj o, const uint8_t *blob, size_t len,
		      struct hp_copy *c)
{
	size_t tag = tagged(o) ? HSM_MAC_LEN : 0;

	if (len < tag + 1 || len > tag + HP_BLOB_MAX)
		return hsm_fail(h, -EKEYREJECTED, "a copy of %zu bytes (%zu to %zu)", len,
				tag + 1, tag + HP_BLOB_MAX);
	c->len = len - tag;
	memcpy(c->blob, blob, c->len);
	memcpy(c->tag, blob + c->len, tag);
	return 0;
}

int hsm_import_copy(struct hsm *h, enum hsm_obj o, const uint8_t id[HSMKEY_ID_LEN],
		    uint32_t version, int type, const char *name, const uint8_t *blob,
		    size_t len)
{
	struct hp_request *req;
	struct hp_reply *rep = NULL;
	int r;

	if (o == HSM_OBJ_VERSION && !key_type_len(type))
		return hsm_fail(h, -EINVAL, "no key type %d", type);
	r = copy_request(h, HP_IMPORT_COPY, o, id, version, type, name, &req);
	if (r)
		return r;
	r = split_blob(h, o, blob, len, &req->copy) ?: copy_call(h, req, &rep);
	free(req);
	free(rep);
	return r;
}
