// SPDX-License-Identifier: GPL-2.0
/*
 * What every request handler shares: the error message worded once, where
 * the request is answered (fail()), the fields of a request, the key a
 * request names, and a key and the kernel's copy as a reply shows them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "audit.h"
#include "kernel.h"
#include "proto.h"
#include "request.h"
#include "util.h"

struct audit_who request_who(const struct request *rq)
{
	return (struct audit_who){ .uid = rq->cred.uid, .pid = rq->cred.pid, .comm = rq->comm };
}

int fail(struct request *rq, int err, const char *fmt, ...)
{
	va_list ap;

	char why[200];

	va_start(ap, fmt);
	vsnprintf(rq->err, sizeof(rq->err), fmt, ap);
	va_end(ap);
	/* An unreachable HSM: the one message that says so, and what still works. */
	err = -abs(err);
	if ((err == -EHOSTDOWN || err == -ETIMEDOUT || err == -EACCES) && rq->d &&
	    rq->d->be->ops->health) {
		const char *what = rq->d->be->ops->storage ? rq->d->be->ops->storage : "the storage";
		int h = rq->d->be->ops->health(rq->d->be, why, sizeof(why));

		if (h == -EACCES)
			snprintf(rq->err, sizeof(rq->err), "%s refused the PIN (%s): nothing was changed; fix pin_file and send hsmkeyd SIGHUP",
				 what, why);
		else if (h)
			snprintf(rq->err, sizeof(rq->err), "%s is unreachable (%s); keys already loaded keep working",
				 what, why);
	}
	return err;
}

int get_name(struct request *rq, const char *field, const char **out)
{
	*out = proto_str(rq->req, field);
	if (!*out)
		return fail(rq, EINVAL, "the request has no '%s'", field);
	if (!valid_name(*out))
		return fail(rq, EINVAL, "invalid %s '%s': use 1 to 63 of A-Z a-z 0-9 . _ -, not starting with . or -",
			    field, *out);
	return 0;
}

/* SIGHUP may change it meanwhile. */
int64_t deletion_wait(struct daemon *d)
{
	int64_t w;

	pthread_rwlock_rdlock(&d->cfg_lock);
	w = d->cfg->deletion_wait;
	pthread_rwlock_unlock(&d->cfg_lock);
	return w;
}

const uint8_t *instance(struct daemon *d)
{
	return d->be->ops->instance(d->be);
}

/* Version @version (0: the current one) of key @name. */
int get_version(struct request *rq, const char *name, uint32_t version, bool unseal,
		       struct ks_key *key)
{
	int r = rq->d->be->ops->get(rq->d->be, name, version, unseal, key);

	if (r == -ENOENT && version)
		return fail(rq, ENOKEY, "key '%s' has no version %u (see 'hsmkeyctl show %s')",
			    name, version, name);
	if (r == -ENOENT)
		return fail(rq, ENOKEY, "no key named '%s' (see 'hsmkeyctl list')", name);
	if (r)
		return fail(rq, r, "key '%s' cannot be read: %s; see the daemon's log",
			    name, strerror(-r));
	return 0;
}

int get_key(struct request *rq, const char *name, bool unseal, struct ks_key *key)
{
	return get_version(rq, name, 0, unseal, key);
}

int get_named_key(struct request *rq, bool unseal, const char **name, struct ks_key *key)
{
	return get_name(rq, "name", name) ?: get_key(rq, *name, unseal, key);
}

void add_key_fields(struct json_object *o, const struct ks_key *key)
{
	char id[2 * HSMKEY_ID_LEN + 1];

	hex_encode(key->id, HSMKEY_ID_LEN, id);
	json_object_object_add(o, "name", json_object_new_string(key->name));
	json_object_object_add(o, "type", json_object_new_string(key_type_name(key->type)));
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "version", json_object_new_int64(key->version));
	json_object_object_add(o, "versions", json_object_new_int64(key->current));
	json_object_object_add(o, "state", json_object_new_string(ks_state_name(key->state)));
	json_object_object_add(o, "created", json_object_new_int64(key->created));
	if (key->state == KS_PENDING_DELETION)
		json_object_object_add(o, "delete_at", json_object_new_int64(key->delete_at));
	if (key->has_policy)
		json_object_object_add(o, "policy", ks_policy_to_json(&key->policy));
}

static const char *kernel_state_name(const struct kernel_key *kk)
{
	return !kk ? "absent" : kk->state == HSMKEY_STATE_ACTIVE ? "loaded" :
	       kk->state == HSMKEY_STATE_DISABLED ? "disabled" : "revoked";
}

/* The path the material came by; NULL from a module that does not say. */
static const char *delivery_name(int delivery)
{
	return delivery == HSMKEY_DELIVERY_TRANSPORT ? "transport" :
	       delivery == HSMKEY_DELIVERY_E2E ? "hsm-wrapped" : NULL;
}

void add_kernel_fields(struct json_object *o, const struct kernel_key *kk)
{
	if (kk) {
		const char *delivery = delivery_name(kk->delivery);

		if (delivery)
			json_object_object_add(o, "delivery", json_object_new_string(delivery));
		json_object_object_add(o, "bindings", json_object_new_int64(kk->bindings));
		json_object_object_add(o, "bytes", json_object_new_int64((int64_t)kk->bytes));
		json_object_object_add(o, "requests", json_object_new_int64((int64_t)kk->requests));
	}
	json_object_object_add(o, "kernel", json_object_new_string(kernel_state_name(kk)));
}

int bad_type(struct request *rq, const char *tname)
{
	return fail(rq, EINVAL, "unknown key type '%s': use aes-128-xts, aes-256-xts, aes-128-cbc, aes-256-cbc, aes-128-gcm, aes-256-gcm, or for an identity key ecdsa-p256, ecdsa-p384 or ed25519",
		    tname ? tname : "");
}

bool is_xts(int type)
{
	return type == HSMKEY_TYPE_AES_128_XTS || type == HSMKEY_TYPE_AES_256_XTS;
}
