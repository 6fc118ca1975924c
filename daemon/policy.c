// SPDX-License-Identifier: GPL-2.0
/*
 * A key's policy: who may bind it, for which algorithms, when and how much;
 * stored with the key and pushed to the kernel when it holds the key.
 */
#include <grp.h>
#include <pwd.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "provision.h"
#include "proto.h"
#include "request.h"
#include "util.h"

/* A user or group name (or number) to its id. */
static int resolve_id(struct request *rq, const char *field, const char *name, bool group,
		      uint32_t *id)
{
	char buf[4096], *end = NULL;
	unsigned long num = 0;
	int e;

	if (!*name)
		return fail(rq, EINVAL, "an empty name in '%s'", field);
	/* A number is digits only: no sign, no blanks. */
	if (strspn(name, "0123456789") == strlen(name) && strlen(name) <= 10)
		num = strtoul(name, &end, 10);
	if (end && !*end && num < UINT32_MAX) {
		*id = (uint32_t)num;
	} else if (group) {
		struct group gr, *res = NULL;

		e = getgrnam_r(name, &gr, buf, sizeof(buf), &res);
		if (e || !res)
			return fail(rq, ENOENT, "unknown group '%s'", name);
		*id = (uint32_t)gr.gr_gid;
	} else {
		struct passwd pw, *res = NULL;

		e = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
		if (e || !res)
			return fail(rq, ENOENT, "unknown user '%s'", name);
		*id = (uint32_t)pw.pw_uid;
	}
	return 0;
}

/* Resolve a JSON array of user or group names (or numbers) to ids. */
static int resolve_ids(struct request *rq, const char *field, bool groups,
		       uint32_t *ids, uint32_t *n)
{
	struct json_object *a = json_object_object_get(rq->req, field);
	size_t i, len;
	int r;

	*n = 0;
	if (!a)
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return fail(rq, EINVAL, "'%s' must be a list of names", field);
	len = json_object_array_length(a);
	if (len > HSMKEY_POLICY_IDS_MAX)
		return fail(rq, E2BIG, "at most %d %s", HSMKEY_POLICY_IDS_MAX, field);
	for (i = 0; i < len; i++) {
		struct json_object *e_o = json_object_array_get_idx(a, i);

		if (!json_object_is_type(e_o, json_type_string))
			return fail(rq, EINVAL, "'%s' must be a list of names (strings)", field);
		r = resolve_id(rq, field, json_object_get_string(e_o), groups, &ids[i]);
		if (r)
			return r;
	}
	*n = (uint32_t)len;
	return 0;
}

/* One grant of a request: {"user": NAME} or {"group": NAME}, "ops": [...]. */
static int read_grant(struct request *rq, struct json_object *o, struct ks_grant *g)
{
	struct json_object *who = json_object_object_get(o, "user");
	struct json_object *ops = json_object_object_get(o, "ops");

	g->group = !who;
	if (!who)
		who = json_object_object_get(o, "group");
	if (!json_object_is_type(who, json_type_string) || !json_object_is_type(ops, json_type_array) ||
	    !json_object_array_length(ops))
		return fail(rq, EINVAL, "a grant names a user or a group and a list of operations");
	g->ops = 0;
	for (size_t i = 0; i < json_object_array_length(ops); i++) {
		const char *op = json_object_get_string(json_object_array_get_idx(ops, i));
		int bit = ks_op_from_name(op);

		if (bit < 0)
			return fail(rq, EINVAL, "unknown operation '%s' in a grant: use encrypt, decrypt, data-key, sign, verify or mac",
				    op ? op : "");
		g->ops |= (uint32_t)bit;
	}
	return resolve_id(rq, "grants", json_object_get_string(who), g->group, &g->id);
}

/*
 * The request's "grants" in place of the stored ones: for the daemon's
 * own keys only (the kernel's keys have users and groups).
 */
static int read_grants(struct request *rq, const struct ks_key *key, struct ks_policy *p)
{
	struct json_object *a = json_object_object_get(rq->req, "grants");
	size_t n = json_object_array_length(a);
	int r;

	if (!ks_type_daemon(key->type))
		return fail(rq, EINVAL, "key '%s' is %s: grants are for KMS and identity keys; its users and groups say who may use it",
			    key->name, key_type_name(key->type));
	if (n > KS_GRANTS_MAX)
		return fail(rq, E2BIG, "at most %d grants", KS_GRANTS_MAX);
	for (size_t i = 0; i < n; i++) {
		r = read_grant(rq, json_object_array_get_idx(a, i), &p->grants[i]);
		if (r)
			return r;
		if (!ks_op_fits(key->type, p->grants[i].ops))
			return fail(rq, EINVAL, "key '%s' is %s: %s", key->name,
				    key_type_name(key->type),
				    ks_type_kms(key->type) ? "its grants may allow encrypt and decrypt" :
				    ks_type_mac(key->type) ? "its grants may allow mac alone" :
				    "its grants may allow sign and verify");
	}
	p->ngrants = (uint32_t)n;
	return 0;
}

static int req_num(struct request *rq, const char *field, int64_t *out)
{
	struct json_object *v = json_object_object_get(rq->req, field);

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
		return fail(rq, EINVAL, "'%s' must be a number of 0 or more", field);
	*out = json_object_get_int64(v);
	return 0;
}

/*
 * Set a key's policy: fields given replace the stored ones, the rest stay.
 * Stored (sealed with the key) and pushed to the kernel when it holds it.
 */
int op_policy(struct request *rq)
{
	static const struct { const char *name; uint32_t bit; } algs[] = {
		{ "xts", HSMKEY_ALG_XTS }, { "cbc", HSMKEY_ALG_CBC }, { "gcm", HSMKEY_ALG_GCM },
	};
	struct json_object *a, *v;
	int64_t nb, na, bytes, reqs, bindings;
	struct kernel *k = NULL;
	struct ks_policy p;
	struct ks_key key;
	const char *name;
	int r = get_named_key(rq, false, &name, &key);

	if (r)
		return r;
	memset(&p, 0, sizeof(p));
	if (key.has_policy)
		p = key.policy;
	if (json_object_object_get(rq->req, "users") &&
	    (r = resolve_ids(rq, "users", false, p.uids, &p.nuids)))
		return r;
	if (json_object_object_get(rq->req, "groups") &&
	    (r = resolve_ids(rq, "groups", true, p.gids, &p.ngids)))
		return r;
	a = json_object_object_get(rq->req, "algorithms");
	if (a) {
		if (!json_object_is_type(a, json_type_array))
			return fail(rq, EINVAL, "'algorithms' must be a list");
		p.algs = 0;
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			struct json_object *ao = json_object_array_get_idx(a, i);
			const char *an = json_object_is_type(ao, json_type_string) ?
					 json_object_get_string(ao) : NULL;
			size_t j;

			for (j = 0; j < ARRAY_SIZE(algs); j++)
				if (an && !strcmp(an, algs[j].name))
					break;
			if (j == ARRAY_SIZE(algs))
				return fail(rq, EINVAL, "unknown algorithm '%s': use xts, cbc or gcm",
					    an ? an : "");
			p.algs |= algs[j].bit;
		}
	}
	nb = p.not_before, na = p.not_after, bytes = (int64_t)p.max_bytes;
	reqs = (int64_t)p.max_requests, bindings = p.max_bindings;
	if ((r = req_num(rq, "not_before", &nb)) || (r = req_num(rq, "not_after", &na)) ||
	    (r = req_num(rq, "max_bytes", &bytes)) || (r = req_num(rq, "max_requests", &reqs)) ||
	    (r = req_num(rq, "max_bindings", &bindings)))
		return r;
	if (bindings > UINT32_MAX)
		return fail(rq, EINVAL, "'max_bindings' is too large");
	if ((uint64_t)nb > HSMKEY_TIME_MAX || (uint64_t)na > HSMKEY_TIME_MAX)
		return fail(rq, EINVAL, "'not_before' and 'not_after' go up to %llu (9999-12-31)",
			    HSMKEY_TIME_MAX);
	if (nb && na && nb > na)
		return fail(rq, EINVAL, "the key would expire before it becomes valid");
	if (ks_type_identity(key.type) && (p.algs || bytes || reqs || bindings))
		return fail(rq, EINVAL, "key '%s' is an identity key: its policy takes users, groups, grants, not-before and not-after (the kernel's algorithms and usage limits are not for it)",
			    name);
	if ((ks_type_kms(key.type) || ks_type_mac(key.type)) &&
	    (p.algs || bytes || reqs || bindings || p.nuids || p.ngids))
		return fail(rq, EINVAL, "key '%s' is a %s key: its policy takes grants (who may %s), not-before and not-after (users, groups, algorithms and usage limits are the kernel's)",
			    name, ks_type_mac(key.type) ? "MAC" : "KMS",
			    ks_type_mac(key.type) ? "make and verify MACs" : "encrypt and decrypt");
	if (json_object_object_get(rq->req, "grants") && (r = read_grants(rq, &key, &p)))
		return r;
	if ((key.type == HSMKEY_TYPE_AES_128_GCM || key.type == HSMKEY_TYPE_AES_256_GCM) &&
	    (uint64_t)reqs > HSMKEY_GCM_MAX_REQUESTS)
		return fail(rq, EINVAL, "a GCM key allows at most 2^32 requests");
	p.not_before = nb, p.not_after = na, p.max_bytes = (uint64_t)bytes;
	p.max_requests = (uint64_t)reqs, p.max_bindings = (uint32_t)bindings;
	v = json_object_object_get(rq->req, "load_at_start");
	if (v)	/* its type is checked with the request's (check_fields()) */
		p.no_load_at_start = !json_object_get_boolean(v);

	r = rq->d->be->ops->set_policy(rq->d->be, name, &p);
	if (r) {
		char what[HSMKEY_NAME_MAX + 24];

		snprintf(what, sizeof(what), "the policy of '%s'", name);
		r = store_failed(rq, r, what);
		/*
		 * Written, unconfirmed (the HSM's anchor): the kernel is not
		 * told.  A policy may widen what the key allows as well as
		 * narrow it, and a wider one undone at the token's next answer
		 * would go on serving in the kernel.
		 */
		if (r == -EINPROGRESS) {
			char why[sizeof(rq->err)];

			memcpy(why, rq->err, sizeof(why));
			fail(rq, r, "%s; the kernel keeps the policy it had until then (the same request again sets it there)",
			     why);
		}
		return r;
	}
	key.policy = p;
	key.has_policy = true;
	r = ks_type_daemon(key.type) ? 0 : reach_kernel(rq, &k);
	if (!r && k) {
		struct ks_key v = key;

		for (v.version = 1; !r && v.version <= key.current; v.version++) {
			r = kernel_set_policy(k, &v);
			if (r == -ENOKEY)
				r = 0;	/* not loaded: it goes with the key when it is */
			else if (r)
				r = fail(rq, r, "stored, but the kernel refused the policy of '%s' version %u: %s%s%s",
					 name, v.version, strerror(-r),
					 *kernel_errmsg(k) ? ": " : "", kernel_errmsg(k));
		}
	}
	kernel_close(k);
	if (!r) {
		log_info("policy of key %s set", name);
		add_key_fields(rq->reply, &key);
	}
	return r;
}
