// SPDX-License-Identifier: GPL-2.0
/*
 * Lengths and validity of the daemon↔helper messages (proto.h).  Both the
 * helper (on every request) and the daemon (on every reply) check a record
 * here before reading it: a record of the wrong length, a count beyond its
 * array or a string without its NUL is refused whole.
 */
#include <errno.h>
#include <string.h>
#include "key.h"
#include "pkcs11/proto.h"

#define HEAD_REQ	offsetof(struct hp_request, init)
#define HEAD_REP	offsetof(struct hp_reply, init)

static bool terminated(const char *s, size_t size)
{
	return memchr(s, 0, size) != NULL;
}

size_t hp_request_len(const struct hp_request *req)
{
	switch (req->op) {
	case HP_INIT:
		return HEAD_REQ + sizeof(req->init);
	case HP_GENERATE: case HP_IMPORT: case HP_ADOPT: case HP_DESTROY: case HP_FIND:
	case HP_KEY_LIST:
		return HEAD_REQ + sizeof(req->key);
	case HP_WRAP:
		if (req->wrap.n < 1 || req->wrap.n > HSMKEY_BATCH_MAX)
			return 0;
		return HEAD_REQ + offsetof(struct hp_wrap, req) +
		       req->wrap.n * sizeof(req->wrap.req[0]);
	case HP_UNWRAP:
		return HEAD_REQ + sizeof(req->unwrap);
	case HP_MAC: case HP_DERIVE: case HP_SIGN: case HP_ANCHOR_STORE: case HP_IMPORT_KEY:
	case HP_INSTANCE_SET: case HP_RANDOM:
		if (req->data.len > HP_DATA_MAX)
			return 0;
		return HEAD_REQ + offsetof(struct hp_data, buf) + req->data.len;
	case HP_PEER_ADD:
		return HEAD_REQ + sizeof(req->peer);
	case HP_EXPORT: case HP_IMPORT_COPY:
		return HEAD_REQ + sizeof(req->copy);
	case HP_INSTANCE: case HP_ANCHOR_LOAD: case HP_MEMBER: case HP_PAIR_PUB:
		return HEAD_REQ;
	case HP_USE:
		if (req->use.len > HSM_USE_MAX)
			return 0;
		return HEAD_REQ + offsetof(struct hp_use, buf) + req->use.len;
	}
	return 0;
}

/* An RSA public key and OAEP hash (IMPORT_KEY, PAIR_PUB replies; PEER_ADD). */
static bool rsa_pub_ok(const struct hsm_import_key *k)
{
	return k->nlen >= 1 && k->nlen <= sizeof(k->n) && k->elen >= 1 &&
	       k->elen <= sizeof(k->e) && k->hash >= HSM_OAEP_SHA1 && k->hash <= HSM_OAEP_SHA256;
}

/* A type a key version in a token may have: the kernel's, or one of hsmkeyd's own. */
static bool token_type(int32_t type)
{
	return (type >= 1 && type <= HSMKEY_TYPE_MAX) || ks_type_daemon(type);
}

/* @typed: the key's type must be one (a new version's; a copy's of anything else has none). */
static int key_check(bool typed, const struct hp_key *k)
{
	if (!terminated(k->name, sizeof(k->name)) || !terminated(k->label, sizeof(k->label)))
		return -EBADMSG;
	if (typed && !token_type(k->type))
		return -EBADMSG;
	return 0;
}

/* A use fits its key type, and a GCM input holds at least its tag. */
static int use_check(const struct hp_use *u)
{
	bool gcm = u->op == HSM_USE_SEAL || u->op == HSM_USE_OPEN;
	bool sign = u->op == HSM_USE_SIGN || u->op == HSM_USE_PUBLIC;

	if (u->op < HSM_USE_SEAL || u->op > HSM_USE_PUBLIC || u->aad_len > u->len ||
	    (!gcm && u->aad_len) || (u->flags & ~HSM_SIGN_PSS) ||
	    (u->flags && !(u->op == HSM_USE_SIGN && ks_type_rsa(u->type))))
		return -EBADMSG;
	if (gcm ? !ks_type_kms(u->type) : sign ? !ks_type_identity(u->type) : !ks_type_mac(u->type))
		return -EBADMSG;
	if ((u->op == HSM_USE_OPEN && u->len - u->aad_len < HSM_GCM_TAG_LEN) ||
	    (u->op == HSM_USE_PUBLIC && u->len) || (u->op == HSM_USE_SIGN && !u->len))
		return -EBADMSG;
	return 0;
}

int hp_request_check(const struct hp_request *req, size_t len)
{
	size_t want;
	uint32_t i;

	/*
	 * The buffer is a whole struct hp_request, so the counts read by
	 * hp_request_len() are in it; a count not among the @len bytes
	 * received gives a length above @len.
	 */
	if (len < HEAD_REQ)
		return -EBADMSG;
	want = hp_request_len(req);
	if (!want || want != len)
		return -EBADMSG;
	switch (req->op) {
	case HP_INIT:
		if (!terminated(req->init.module, sizeof(req->init.module)) ||
		    !terminated(req->init.uri, sizeof(req->init.uri)) ||
		    !terminated(req->init.pin_file, sizeof(req->init.pin_file)) ||
		    req->init.join > 1)
			return -EBADMSG;
		return 0;
	case HP_GENERATE: case HP_IMPORT: case HP_ADOPT: case HP_DESTROY: case HP_FIND:
		return key_check(req->op != HP_DESTROY && req->op != HP_FIND, &req->key);
	case HP_UNWRAP:
		if (req->unwrap.len > HP_BLOB_MAX)
			return -EBADMSG;
		return key_check(true, &req->unwrap.key);
	case HP_IMPORT_KEY:
		if (req->data.n > 1 || req->data.len)
			return -EBADMSG;
		return 0;
	case HP_PEER_ADD:
		return rsa_pub_ok(&req->peer.pub) ? 0 : -EBADMSG;
	case HP_EXPORT: case HP_IMPORT_COPY:
		/* An export carries no blob; an import one of at most HP_BLOB_MAX. */
		if (req->copy.obj < HSM_OBJ_VERSION || req->copy.obj > HSM_OBJ_AUDIT ||
		    req->copy.len > HP_BLOB_MAX || (req->op == HP_EXPORT && req->copy.len))
			return -EBADMSG;
		return key_check(req->op == HP_IMPORT_COPY && req->copy.obj == HSM_OBJ_VERSION,
				 &req->copy.key);
	case HP_WRAP:
		if (req->wrap.flags & ~HSM_WRAP_IN_TURN)
			return -EBADMSG;
		for (i = 0; i < req->wrap.n; i++)
			if (req->wrap.req[i].type < 1 || req->wrap.req[i].type > HSMKEY_TYPE_MAX ||
			    req->wrap.req[i].flags & ~HSM_WRAP_NO_VERIFIER)
				return -EBADMSG;
		return 0;
	case HP_DERIVE:
		if (req->data.n < 1 || req->data.n > 64)
			return -EBADMSG;
		return 0;
	case HP_RANDOM:
		if (req->data.n < 1 || req->data.n > HSM_RANDOM_MAX || req->data.len)
			return -EBADMSG;
		return 0;
	case HP_ANCHOR_STORE:
		if (req->data.len > HSM_ANCHOR_MAX)
			return -EBADMSG;
		return 0;
	case HP_INSTANCE_SET:
		return req->data.len == HSMKEY_OWNER_LEN ? 0 : -EBADMSG;
	case HP_USE:
		return use_check(&req->use);
	}
	return 0;
}

size_t hp_reply_len(uint32_t op, const struct hp_reply *rep)
{
	if (rep->err)
		return HEAD_REP;
	switch (op) {
	case HP_INIT:
		return HEAD_REP + sizeof(rep->init);
	case HP_ADOPT:
		return HEAD_REP + sizeof(rep->was_readable);
	case HP_SIGN:
		return HEAD_REP + sizeof(rep->sign);
	case HP_IMPORT_KEY: case HP_PAIR_PUB:
		return HEAD_REP + sizeof(rep->import_key);
	case HP_MEMBER:
		return HEAD_REP + sizeof(rep->member);
	case HP_EXPORT:
		return HEAD_REP + sizeof(rep->copy);
	case HP_WRAP:
		if (rep->wrap.n > HSMKEY_BATCH_MAX)
			return 0;
		return HEAD_REP + offsetof(typeof(rep->wrap), out) +
		       rep->wrap.n * sizeof(rep->wrap.out[0]);
	case HP_MAC: case HP_DERIVE: case HP_INSTANCE: case HP_ANCHOR_LOAD: case HP_USE:
	case HP_RANDOM:
		if (rep->data.len > HP_DATA_MAX)
			return 0;
		return HEAD_REP + offsetof(struct hp_data, buf) + rep->data.len;
	case HP_KEY_LIST:	/* whole version ids only */
		if (rep->data.len > HP_DATA_MAX || rep->data.len % (HSMKEY_ID_LEN + 4))
			return 0;
		return HEAD_REP + offsetof(struct hp_data, buf) + rep->data.len;
	}
	return HEAD_REP;
}

int hp_reply_check(uint32_t op, const struct hp_reply *rep, size_t len)
{
	size_t want;
	uint32_t i;

	if (len < HEAD_REP || rep->fatal > HP_FATAL_PIN || rep->err > 0 ||
	    !terminated(rep->why, sizeof(rep->why)))
		return -EBADMSG;
	want = hp_reply_len(op, rep);
	if (!want || want != len)
		return -EBADMSG;
	if (rep->err)
		return 0;
	if (op == HP_INIT && !terminated(rep->init.label, sizeof(rep->init.label)))
		return -EBADMSG;
	if ((op == HP_IMPORT_KEY || op == HP_PAIR_PUB) && !rsa_pub_ok(&rep->import_key))
		return -EBADMSG;
	if (op == HP_EXPORT && (rep->copy.len < 1 || rep->copy.len > HP_BLOB_MAX))
		return -EBADMSG;
	if (op == HP_WRAP)
		for (i = 0; i < rep->wrap.n; i++)
			if (rep->wrap.out[i].len > HSM_WRAPPED_MAX)
				return -EBADMSG;
	return 0;
}
