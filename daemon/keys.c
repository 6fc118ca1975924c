// SPDX-License-Identifier: GPL-2.0
/*
 * Requests about one key's material: create, load, show, token, rotate.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "identity.h"
#include "key_use.h"
#include "provision.h"
#include "proto.h"
#include "request.h"
#include "util.h"

/*
 * The key storage refused to store @what (request.h).  -EINPROGRESS (the
 * pkcs11 backend's P11_UNCONFIRMED): the change is written, the token did
 * not confirm it; the next time the token answers settles it one way or
 * the other, so the reply must not say it failed.  The kmip backend's
 * -ECONNABORTED (a request that may have been carried out) and -ENOLINK
 * (made, not loaded) must not read as a request that changed nothing.
 */
int store_failed(struct request *rq, int r, const char *what)
{
	if (r == -EINPROGRESS)
		return fail(rq, r, "%s is written but the HSM did not confirm it; it stands or is undone when the HSM answers again (hsmkeyctl show tells)",
			    what);
	/* The key server's answer to making it unreadable (KMIP). */
	if (r == -ECONNABORTED)
		return fail(rq, r, "cannot store %s: the key server's answer did not come back readable, so the request may have been carried out there (the journal says what came back); look on the server before trying again",
			    what);
	if (r == -ENOLINK)
		return fail(rq, r, "%s is made, on the key server and here, but its material could not be fetched to load it (the journal says why); 'hsmkeyctl load' loads it",
			    what);
	if (r == -EOPNOTSUPP)
		return fail(rq, r, "cannot store %s: the %s key storage cannot keep it so (the daemon's log says why)",
			    what, rq->d->be->ops->name);
	return fail(rq, r, "cannot store %s: %s", what, strerror(-r));
}

int storage_keeps(struct request *rq, int type)
{
	if (!backend_keeps(rq->d->be, type))
		return fail(rq, EOPNOTSUPP, "the %s key storage does not keep hsmkeyd's own keys (%s: %s) yet; the embedded one does",
			    rq->d->be->ops->name, key_type_name(type),
			    ks_type_identity(type) ? "identity keys" :
			    ks_type_mac(type) ? "MAC keys" : "KMS keys");
	return 0;
}

/*
 * Store a new key (random material when @material is NULL; @generated:
 * made here, not imported) and provision it.
 */
int create_common(struct request *rq, int type, const uint8_t *material, bool generated)
{
	unsigned int half = key_type_len(type) / 2;
	struct ks_key key;
	const char *name;
	int r;

	r = get_name(rq, "name", &name);
	if (r)
		return r;
	r = storage_keeps(rq, type);
	if (r)
		return r;
	if (material && is_xts(type) && !memcmp(material, material + half, half))
		return fail(rq, EINVAL, "the two halves of this XTS key are equal, which XTS forbids");
	r = rq->d->be->ops->create(rq->d->be, name, type, material, &key);
	if (r == -EEXIST)
		return fail(rq, r, "a key named '%s' exists already", name);
	if (r) {
		char what[HSMKEY_NAME_MAX + 8];

		snprintf(what, sizeof(what), "key '%s'", name);
		return store_failed(rq, r, what);
	}
	log_info("%s key %s (%s)", material && !generated ? "imported" : "created", name,
		 key_type_name(type));
	r = reply_and_provision(rq, &key);
	ks_key_wipe(&key);
	return r;
}

int make_key_pair(struct request *rq)
{
	int type = key_type_from_name(proto_str(rq->req, "type"));
	int r;

	if (rq->fd >= 0)
		return fail(rq, EINVAL, "'create' takes no descriptor");
	if (type < 0 || !ks_type_identity(type) || !backend_keeps(rq->d->be, type) ||
	    key_use_inside(rq->d->be))
		return 0;	/* op_create() says what is wrong, or the storage makes the pair */
	/* A key pair: not any random bytes make an ECDSA scalar or RSA primes. */
	r = identity_generate(type, rq->pair);
	if (r)
		return fail(rq, r, "cannot make a %s key pair", key_type_name(type));
	rq->made = true;
	return 0;
}

int op_create(struct request *rq)
{
	const char *tname = proto_str(rq->req, "type");
	int type = key_type_from_name(tname);

	if (type < 0)
		return bad_type(rq, tname);
	if (!ks_type_identity(type) || key_use_inside(rq->d->be))
		return create_common(rq, type, NULL, true);
	if (rq->made)
		return create_common(rq, type, rq->pair, true);
	return storage_keeps(rq, type) ?: fail(rq, EIO, "no %s key pair was made", key_type_name(type));
}

static int not_for_kernel(struct request *rq, const struct ks_key *key, const char *what)
{
	return fail(rq, EMEDIUMTYPE, "key '%s' is %s key (%s): hsmkeyd uses it itself and it never goes to the kernel, so it has no %s",
		    key->name, ks_type_identity(key->type) ? "an identity" :
		    ks_type_mac(key->type) ? "a MAC" : "a KMS",
		    key_type_name(key->type), what);
}

int op_load(struct request *rq)
{
	_cleanup_kernel_ struct kernel *k = NULL;
	_cleanup_key_ struct ks_key key = { 0 };
	const char *name;
	int r = get_named_key(rq, true, &name, &key);

	if (r)
		return r;
	if (ks_type_daemon(key.type))
		return not_for_kernel(rq, &key, "kernel copy to load");
	if (key.state == KS_DISABLED)
		return fail(rq, EPERM, "key '%s' is disabled: 'hsmkeyctl enable %s' loads it",
			    name, name);
	if (key.state == KS_PENDING_DELETION)
		return fail(rq, EPERM, "key '%s' is scheduled for deletion: 'hsmkeyctl cancel-deletion %s' keeps it",
			    name, name);
	if (key.state != KS_ACTIVE)
		return fail(rq, EKEYREVOKED, "key '%s' is revoked and cannot be loaded", name);
	r = open_kernel(rq, &k) ?: provision_versions(rq, k, &key);
	if (!r)
		add_key_fields(rq->reply, &key);
	return r;
}

/* An identity key's public half, and that the kernel never holds it. */
int add_public_key(struct request *rq, const char *name)
{
	_cleanup_key_ struct ks_key key = { 0 };
	_cleanup_free_ char *pem = NULL;
	bool inside = key_use_inside(rq->d->be);
	EVP_PKEY *pub = NULL;
	int r = get_key(rq, name, !inside, &key);

	if (r)
		return r;
	if (inside) {
		r = key_use_public(rq, &key, &pub);
		if (r)
			return r;
		r = identity_pkey_pem(pub, &pem);
		EVP_PKEY_free(pub);
	} else {
		r = identity_public_pem(&key, &pem);
	}
	if (r)
		return fail(rq, r, "key '%s' holds no usable %s key: %s", name,
			    key_type_name(key.type), strerror(-r));
	json_object_object_add(rq->reply, "public_key", json_object_new_string(pem));
	json_object_object_add(rq->reply, "kernel", json_object_new_string("never (identity key)"));
	return 0;
}

/*
 * One key's metadata and policy, each version, and what the kernel counts
 * for each (the current version's figures also at the top level).
 */
int op_show(struct request *rq)
{
	struct json_object *versions;
	struct kernel_key kk;
	struct kernel *k = NULL;
	struct ks_key key;
	const char *name;
	int r = get_named_key(rq, false, &name, &key);

	if (r)
		return r;
	add_key_fields(rq->reply, &key);
	if (ks_type_identity(key.type))
		return add_public_key(rq, name);
	if (ks_type_daemon(key.type))	/* KMS and MAC keys (identity keys: above) */
		json_object_object_add(rq->reply, "kernel", json_object_new_string("never"));
	else
		kernel_open(&k);
	versions = json_object_new_array();
	json_object_object_add(rq->reply, "version_list", versions);
	for (uint32_t v = 1; v <= key.current; v++) {
		struct json_object *o;
		struct ks_key vk;

		if (rq->d->be->ops->get(rq->d->be, name, v, false, &vk))
			continue;
		o = json_object_new_object();
		json_object_array_add(versions, o);
		json_object_object_add(o, "version", json_object_new_int64(v));
		json_object_object_add(o, "created", json_object_new_int64(vk.version_created));
		if (ks_type_kms(key.type))	/* GCM invocations reserved (kms_keys.h) */
			json_object_object_add(o, "reserved",
					       json_object_new_int64((int64_t)vk.used_requests));
		if (!k)
			continue;
		r = kernel_get(k, key.id, v, &kk);
		add_kernel_fields(o, r ? NULL : &kk);
		/* The current version's figures at the top, as before versions. */
		if (v == key.current)
			add_kernel_fields(rq->reply, r ? NULL : &kk);
	}
	kernel_close(k);
	return 0;
}

/*
 * A key's token, in hex, for administrators: what an AF_ALG application
 * of an allowed user passes to setkey().  A secret: it is never logged.
 */
int op_token(struct request *rq)
{
	char hex[2 * HSMKEY_TOKEN_LEN + 1];
	struct hsmkey_token tok;
	_cleanup_key_ struct ks_key key = { 0 };
	const char *name;
	int r;

	struct json_object *vo = json_object_object_get(rq->req, "version");
	int64_t version = vo ? json_object_get_int64(vo) : 0;

	if (vo && (!json_object_is_type(vo, json_type_int) || version < 1 || version > UINT32_MAX))
		return fail(rq, EINVAL, "'version' must be a version number (1 or more)");
	if ((r = get_name(rq, "name", &name)) ||
	    (r = get_version(rq, name, (uint32_t)version, true, &key)))
		return r;
	if (ks_type_daemon(key.type))
		return not_for_kernel(rq, &key, "token");
	if (key.state == KS_REVOKED)
		r = fail(rq, EKEYREVOKED, "key '%s' is revoked: its token binds nothing", name);
	else if (key.state != KS_ACTIVE)
		r = fail(rq, EPERM, "key '%s' is %s: its token binds nothing until it is enabled",
			 name, ks_state_name(key.state));
	if (!r) {
		ks_token(&key, &tok);
		hex_encode((const uint8_t *)&tok, sizeof(tok), hex);
		json_object_object_add(rq->reply, "token", json_object_new_string(hex));
		add_key_fields(rq->reply, &key);
		wipe(hex, sizeof(hex));
		wipe(&tok, sizeof(tok));
	}
	return r;
}

/*
 * A new current version: random material, or the client's (a descriptor,
 * as for import).  Older versions stay in the keystore and in the kernel,
 * so that data under them stays readable; new volumes and tokens get the
 * new one.
 */
int op_rotate(struct request *rq)
{
	uint8_t buf[HSMKEY_MATERIAL_MAX + 1];
	struct ks_key key, meta;
	const char *name;
	int r, n, len;

	r = get_named_key(rq, false, &name, &meta);
	if (r)
		return r;
	if (meta.state != KS_ACTIVE)
		return fail(rq, EPERM, "key '%s' is %s: only an active key is rotated", name,
			    ks_state_name(meta.state));
	if (ks_type_identity(meta.type))
		return fail(rq, EMEDIUMTYPE, "key '%s' is an identity key: its certificate names its public key, so a new key pair is a new key (create one, have its CSR signed, then revoke this one)",
			    name);
	len = (int)key_type_len(meta.type);
	if (rq->ninput >= 0) {
		n = rq->ninput;
		if (n != len)
			return fail(rq, EINVAL, "a %s key file must hold exactly %d bytes",
				    key_type_name(meta.type), len);
		memcpy(buf, rq->input, (size_t)n);
		if (is_xts(meta.type) && !memcmp(buf, buf + len / 2, (size_t)len / 2)) {
			wipe(buf, sizeof(buf));
			return fail(rq, EINVAL, "the two halves of this XTS key are equal, which XTS forbids");
		}
	}
	r = rq->d->be->ops->rotate(rq->d->be, name, rq->ninput >= 0 ? buf : NULL, &key);
	wipe(buf, sizeof(buf));
	if (r == -E2BIG)
		return fail(rq, r, "key '%s' has %d versions, the most a key keeps; create a new key",
			    name, KS_VERSIONS_MAX);
	if (r) {
		char what[HSMKEY_NAME_MAX + 24];

		snprintf(what, sizeof(what), "a new version of '%s'", name);
		return store_failed(rq, r, what);
	}
	log_info("rotated key %s to version %u", name, key.version);
	r = reply_and_provision(rq, &key);
	ks_key_wipe(&key);
	return r;
}
