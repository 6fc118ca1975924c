// SPDX-License-Identifier: GPL-2.0
/*
 * Keys as the daemon, its backends and the CLI speak of them: states, the
 * policy and its JSON form, and the token that names a key version.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <string.h>
#include <json-c/json.h>
#include "key.h"
#include "util.h"

const char *ks_state_name(int state)
{
	return state == KS_ACTIVE ? "active" :
	       state == KS_REVOKED ? "revoked" :
	       state == KS_DISABLED ? "disabled" :
	       state == KS_PENDING_DELETION ? "pending-deletion" : "unknown";
}

int ks_state_from_name(const char *s)
{
	for (int i = KS_ACTIVE; s && i <= KS_PENDING_DELETION; i++)
		if (!strcmp(s, ks_state_name(i)))
			return i;
	return -EINVAL;
}

void ks_key_wipe(struct ks_key *key)
{
	wipe(key->verifier, sizeof(key->verifier));
	wipe(key->material, sizeof(key->material));
}

void ks_token(const struct ks_key *key, struct hsmkey_token *tok)
{
	_Static_assert(sizeof(*tok) == HSMKEY_TOKEN_LEN, "token layout");
	memset(tok, 0, sizeof(*tok));
	memcpy(tok->magic, HSMKEY_TOKEN_MAGIC, sizeof(tok->magic));
	tok->format = HSMKEY_TOKEN_FORMAT;
	tok->key_type = (uint8_t)key->type;
	memcpy(tok->key_id, key->id, sizeof(tok->key_id));
	tok->key_version = htonl(key->version);
	memcpy(tok->verifier, key->verifier, sizeof(tok->verifier));
}

/* "algorithms": names, in this order, for the HSMKEY_ALG_* bits. */
static const struct {
	const char *name;
	uint32_t bit;
} ks_algs[] = {
	{ "xts", HSMKEY_ALG_XTS },
	{ "cbc", HSMKEY_ALG_CBC },
	{ "gcm", HSMKEY_ALG_GCM },
};

static struct json_object *ks_algs_to_json(uint32_t algs)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < sizeof(ks_algs) / sizeof(ks_algs[0]); i++)
		if (algs & ks_algs[i].bit)
			json_object_array_add(a, json_object_new_string(ks_algs[i].name));
	return a;
}

/*
 * An array of names (empty: any), or the integer mask that key files
 * written before held (still read).
 */
static int ks_algs_from_json(struct json_object *o, uint32_t *algs)
{
	struct json_object *a;
	size_t i, j, n;

	*algs = 0;
	if (!json_object_object_get_ex(o, "algorithms", &a))
		return -EINVAL;
	if (json_object_is_type(a, json_type_int)) {
		int64_t v = json_object_get_int64(a);

		if (v < 0 || v > (HSMKEY_ALG_XTS | HSMKEY_ALG_CBC | HSMKEY_ALG_GCM))
			return -EINVAL;
		*algs = (uint32_t)v;
		return 0;
	}
	if (!json_object_is_type(a, json_type_array))
		return -EINVAL;
	n = json_object_array_length(a);
	for (i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(a, i);
		const char *name = json_object_is_type(v, json_type_string) ?
				   json_object_get_string(v) : NULL;

		for (j = 0; name && j < sizeof(ks_algs) / sizeof(ks_algs[0]); j++)
			if (!strcmp(name, ks_algs[j].name))
				break;
		if (!name || j == sizeof(ks_algs) / sizeof(ks_algs[0]) || (*algs & ks_algs[j].bit))
			return -EINVAL;	/* unknown, or named twice */
		*algs |= ks_algs[j].bit;
	}
	return 0;
}

static const char *const ks_op_names[] = {
	"encrypt", "decrypt", "sign", "verify", "data-key", "mac",
};
_Static_assert(1u << ARRAY_SIZE(ks_op_names) == KS_OPS_ALL + 1, "a name for each grant op");

const char *ks_op_name(uint32_t op)
{
	for (size_t i = 0; i < ARRAY_SIZE(ks_op_names); i++)
		if (op == 1u << i)
			return ks_op_names[i];
	return "unknown";
}

int ks_op_from_name(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(ks_op_names); i++)
		if (!strcmp(name, ks_op_names[i]))
			return (int)(1u << i);
	return -EINVAL;
}

/* A grant as stored: {"uid": N, "ops": [...]} or {"gid": N, ...}. */
static struct json_object *ks_grant_to_json(const struct ks_grant *g)
{
	struct json_object *o = json_object_new_object();
	struct json_object *ops = json_object_new_array();

	json_object_object_add(o, g->group ? "gid" : "uid", json_object_new_int64(g->id));
	for (uint32_t bit = 1; bit & KS_OPS_ALL; bit <<= 1)
		if (g->ops & bit)
			json_object_array_add(ops, json_object_new_string(ks_op_name(bit)));
	json_object_object_add(o, "ops", ops);
	return o;
}

static int ks_grant_from_json(struct json_object *o, struct ks_grant *g)
{
	struct json_object *id, *ops;
	bool group = json_object_object_get_ex(o, "gid", &id);
	int64_t v;

	if (!json_object_is_type(o, json_type_object) ||
	    (!group && !json_object_object_get_ex(o, "uid", &id)) ||
	    !json_object_is_type(id, json_type_int) ||
	    !json_object_object_get_ex(o, "ops", &ops) ||
	    !json_object_is_type(ops, json_type_array))
		return -EINVAL;
	v = json_object_get_int64(id);
	if (v < 0 || v > UINT32_MAX)
		return -EINVAL;
	g->id = (uint32_t)v;
	g->group = group;
	g->ops = 0;
	for (size_t i = 0; i < json_object_array_length(ops); i++) {
		int bit = ks_op_from_name(json_object_get_string(json_object_array_get_idx(ops, i)));

		if (bit < 0 || (g->ops & (uint32_t)bit))
			return -EINVAL;	/* unknown, or named twice */
		g->ops |= (uint32_t)bit;
	}
	return g->ops ? 0 : -EINVAL;
}

/* "grants" is absent from the policies written before there were grants. */
static int ks_grants_from_json(struct json_object *o, struct ks_policy *p)
{
	struct json_object *a;
	size_t n;

	p->ngrants = 0;
	if (!json_object_object_get_ex(o, "grants", &a))
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return -EINVAL;
	n = json_object_array_length(a);
	if (n > KS_GRANTS_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (ks_grant_from_json(json_object_array_get_idx(a, i), &p->grants[i]))
			return -EINVAL;
	p->ngrants = (uint32_t)n;
	return 0;
}

static struct json_object *ks_ids_to_json(const uint32_t *ids, uint32_t n)
{
	struct json_object *a = json_object_new_array();

	for (uint32_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_int64(ids[i]));
	return a;
}

struct json_object *ks_policy_to_json(const struct ks_policy *p)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "uids", ks_ids_to_json(p->uids, p->nuids));
	json_object_object_add(o, "gids", ks_ids_to_json(p->gids, p->ngids));
	json_object_object_add(o, "algorithms", ks_algs_to_json(p->algs));
	json_object_object_add(o, "not_before", json_object_new_int64(p->not_before));
	json_object_object_add(o, "not_after", json_object_new_int64(p->not_after));
	json_object_object_add(o, "max_bytes", json_object_new_int64((int64_t)p->max_bytes));
	json_object_object_add(o, "max_requests", json_object_new_int64((int64_t)p->max_requests));
	json_object_object_add(o, "max_bindings", json_object_new_int64(p->max_bindings));
	json_object_object_add(o, "load_at_start", json_object_new_boolean(!p->no_load_at_start));
	if (p->ngrants) {
		struct json_object *a = json_object_new_array();

		for (uint32_t i = 0; i < p->ngrants; i++)
			json_object_array_add(a, ks_grant_to_json(&p->grants[i]));
		json_object_object_add(o, "grants", a);
	}
	return o;
}

static int ks_ids_from_json(struct json_object *o, const char *k, uint32_t *ids, uint32_t *n)
{
	struct json_object *a;
	size_t i, len;

	*n = 0;
	if (!json_object_object_get_ex(o, k, &a) || !json_object_is_type(a, json_type_array))
		return -EINVAL;
	len = json_object_array_length(a);
	if (len > HSMKEY_POLICY_IDS_MAX)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		struct json_object *v = json_object_array_get_idx(a, i);
		int64_t id = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || id < 0 || id > UINT32_MAX)
			return -EINVAL;
		ids[i] = (uint32_t)id;
	}
	*n = (uint32_t)len;
	return 0;
}

static int key_num(struct json_object *o, const char *k, int64_t min, int64_t *out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
		return -EINVAL;
	*out = json_object_get_int64(v);
	return *out < min ? -EINVAL : 0;
}

/* The policy object of a key file (or of a request: the same form). */
int ks_policy_from_json(struct json_object *o, struct ks_policy *p)
{
	int64_t nb, na, bytes, reqs, bindings;
	struct json_object *v;

	memset(p, 0, sizeof(*p));
	if (!json_object_is_type(o, json_type_object) ||
	    ks_ids_from_json(o, "uids", p->uids, &p->nuids) ||
	    ks_ids_from_json(o, "gids", p->gids, &p->ngids) ||
	    ks_algs_from_json(o, &p->algs) ||
	    key_num(o, "not_before", 0, &nb) || key_num(o, "not_after", 0, &na) ||
	    key_num(o, "max_bytes", 0, &bytes) || key_num(o, "max_requests", 0, &reqs) ||
	    key_num(o, "max_bindings", 0, &bindings) || bindings > UINT32_MAX ||
	    !json_object_object_get_ex(o, "load_at_start", &v) ||
	    !json_object_is_type(v, json_type_boolean) || ks_grants_from_json(o, p))
		return -EINVAL;
	p->not_before = nb;
	p->not_after = na;
	p->max_bytes = (uint64_t)bytes;
	p->max_requests = (uint64_t)reqs;
	p->max_bindings = (uint32_t)bindings;
	p->no_load_at_start = !json_object_get_boolean(v);
	return 0;
}

