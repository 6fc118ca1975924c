// SPDX-License-Identifier: GPL-2.0
/*
 * The generic netlink family "hsmkey": the control plane.
 *
 * Each command has its own attribute set and policy, so bad input never
 * reaches a handler, and every permission decision is made in one place,
 * hsmkey_nl_pre_doit() (and the dump's start): CAP_SYS_ADMIN for all, and
 * for changes the /dev/hsmkey registration (dev.c).  Handlers run
 * serialised under genl_mutex.
 */
#include <crypto/algapi.h>
#include <net/genetlink.h>
#include <linux/capability.h>
#include "aead.h"
#include "anchor.h"
#include "compat.h"
#include "dev.h"
#include "e2e.h"
#include "events.h"
#include "keys.h"
#include "netlink.h"
#include "netlink_internal.h"
#include "ktls.h"
#include "session.h"
#include "skcipher.h"

/* ops->internal_flags: what a command changes. */
#define HSMKEY_NL_CHANGE	BIT(0)	/* changes key or anchor state */
#define HSMKEY_NL_FAIL_SAFE	BIT(1)	/* ... only towards "off" */

/* An HSM's wrapping of one key version for end-to-end delivery. */
static const struct nla_policy hsmkey_nl_e2e_policy[HSMKEY_E2E_A_MAX + 1] = {
	[HSMKEY_E2E_A_HANDLE]	= { .type = NLA_U64 },
	[HSMKEY_E2E_A_POINT]	= NLA_POLICY_EXACT_LEN(HSMKEY_E2E_POINT_LEN),
	[HSMKEY_E2E_A_WRAPPED]	= NLA_POLICY_RANGE(NLA_BINARY,
				    HSMKEY_E2E_KW_LEN(16),
				    HSMKEY_E2E_KW_LEN(HSMKEY_MATERIAL_MAX)),
};

/* What one key of an add carries, at top level or in a batch entry. */
#define HSMKEY_NL_KEY_ADD_POLICY					\
	[HSMKEY_KEY_A_ID]	= NLA_POLICY_EXACT_LEN(HSMKEY_ID_LEN),	\
	[HSMKEY_KEY_A_VERSION]	= NLA_POLICY_MIN(NLA_U32, 1),		\
	[HSMKEY_KEY_A_NAME]	= { .type = NLA_NUL_STRING,		\
				    .len = HSMKEY_NAME_MAX - 1 },	\
	[HSMKEY_KEY_A_TYPE]	= NLA_POLICY_RANGE(NLA_U32, 1, HSMKEY_TYPE_MAX), \
	[HSMKEY_KEY_A_WRAPPED]	= NLA_POLICY_RANGE(NLA_BINARY,		\
				    HSMKEY_WRAP_LEN(0),			\
				    HSMKEY_WRAP_LEN(HSMKEY_MATERIAL_MAX)), \
	[HSMKEY_KEY_A_POLICY]	= NLA_POLICY_NESTED(hsmkey_policy_nl),	\
	[HSMKEY_KEY_A_OWNER]	= NLA_POLICY_EXACT_LEN(HSMKEY_OWNER_LEN), \
	[HSMKEY_KEY_A_USED_BYTES] = { .type = NLA_U64 },		\
	[HSMKEY_KEY_A_USED_REQUESTS] = { .type = NLA_U64 },		\
	[HSMKEY_KEY_A_E2E]	= NLA_POLICY_NESTED(hsmkey_nl_e2e_policy)

static const struct nla_policy hsmkey_nl_key_entry_policy[HSMKEY_KEY_A_MAX + 1] = {
	HSMKEY_NL_KEY_ADD_POLICY,
};

static const struct nla_policy hsmkey_nl_add_policy[HSMKEY_KEY_A_MAX + 1] = {
	HSMKEY_NL_KEY_ADD_POLICY,
	[HSMKEY_KEY_A_BATCH] = NLA_POLICY_NESTED_ARRAY(hsmkey_nl_key_entry_policy),
};

/* REVOKE, REMOVE, DISABLE, ENABLE, GET: a key version. */
static const struct nla_policy hsmkey_nl_kid_policy[HSMKEY_KEY_A_MAX + 1] = {
	[HSMKEY_KEY_A_ID]	= NLA_POLICY_EXACT_LEN(HSMKEY_ID_LEN),
	[HSMKEY_KEY_A_VERSION]	= NLA_POLICY_MIN(NLA_U32, 1),
};

static const struct nla_policy hsmkey_nl_set_policy_policy[HSMKEY_KEY_A_MAX + 1] = {
	[HSMKEY_KEY_A_ID]	= NLA_POLICY_EXACT_LEN(HSMKEY_ID_LEN),
	[HSMKEY_KEY_A_VERSION]	= NLA_POLICY_MIN(NLA_U32, 1),
	[HSMKEY_KEY_A_POLICY]	= NLA_POLICY_NESTED(hsmkey_policy_nl),
};

/* INFO takes no attribute: every one is refused. */
static const struct nla_policy hsmkey_nl_info_policy[HSMKEY_INFO_A_MAX + 1];

static const struct nla_policy hsmkey_nl_audit_get_policy[HSMKEY_AUDIT_A_MAX + 1] = {
	[HSMKEY_AUDIT_A_OWNER]	= NLA_POLICY_EXACT_LEN(HSMKEY_OWNER_LEN),
};

static const struct nla_policy hsmkey_nl_audit_set_policy[HSMKEY_AUDIT_A_MAX + 1] = {
	[HSMKEY_AUDIT_A_OWNER]	= NLA_POLICY_EXACT_LEN(HSMKEY_OWNER_LEN),
	[HSMKEY_AUDIT_A_SEQ]	= NLA_POLICY_MIN(NLA_U64, 1),
	[HSMKEY_AUDIT_A_HEAD]	= NLA_POLICY_EXACT_LEN(HSMKEY_AUDIT_HEAD_LEN),
};

static struct genl_family hsmkey_genl_family;
/* Set once the module's init has nothing left that can fail. */
static bool hsmkey_nl_live;

static int hsmkey_nl_check_live(struct netlink_ext_ack *extack)
{
	if (READ_ONCE(hsmkey_nl_live))
		return 0;
	NL_SET_ERR_MSG(extack, "hsmkey is still loading");
	return -EAGAIN;
}

static int hsmkey_nl_admin(struct sk_buff *skb, struct netlink_ext_ack *extack)
{
	/* Of the sender and of the socket's opener, initial user namespace. */
	if (netlink_capable(skb, CAP_SYS_ADMIN))
		return 0;
	NL_SET_ERR_MSG(extack, "hsmkey needs CAP_SYS_ADMIN");
	return -EPERM;
}

static int hsmkey_nl_pre_doit(const hsmkey_genl_ops_t *ops,
			      struct sk_buff *skb, struct genl_info *info)
{
	int err = hsmkey_nl_check_live(info->extack) ?:
		  hsmkey_nl_admin(skb, info->extack);

	if (!err && (ops->internal_flags & HSMKEY_NL_CHANGE))
		err = hsmkey_dev_check(skb,
				       ops->internal_flags & HSMKEY_NL_FAIL_SAFE,
				       info->extack);
	return err;
}

static int hsmkey_nl_dump_start(struct netlink_callback *cb)
{
	return hsmkey_nl_check_live(cb->extack) ?:
	       hsmkey_nl_admin(cb->skb, cb->extack);
}

/* What end-to-end delivery's refusals mean, said once. */
static void hsmkey_nl_e2e_msg(int err, const struct nlattr *attr,
			      struct netlink_ext_ack *extack)
{
	switch (err) {
	case -ESTALE:
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "ephemeral key expired, used up or replaced: ask for a new one");
		break;
	case -EINVAL:
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "HSM point is not an uncompressed point on P-256");
		break;
	case -EBADMSG:
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "wrapped key does not unwrap under the key derived for this id, version and type");
		break;
	case -E2BIG:
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "a batch may name at most HSMKEY_E2E_SLOTS ephemeral keys");
		break;
	case -ENOPKG:
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "no ecdh-nist-p256 or kw(aes) in this kernel: no end-to-end delivery");
		break;
	}
}

/*
 * @material of a key version from its E2E nest @nest, unwrapped in the
 * message's batch @b (made at its first E2E nest).
 */
static int hsmkey_nl_e2e_material(struct hsmkey_e2e_batch **b,
				  struct nlattr *nest,
				  const struct hsmkey_kid *kid, u32 type,
				  u8 *material, struct netlink_ext_ack *extack)
{
	struct nlattr *tb[HSMKEY_E2E_A_MAX + 1];
	struct hsmkey_e2e_wrapped w;
	struct nlattr *bad;
	int err;

	err = nla_parse_nested(tb, HSMKEY_E2E_A_MAX, nest,
			       hsmkey_nl_e2e_policy, extack);
	if (err)
		return err;
	if (HSMKEY_NL_REQUIRE(extack, nest, tb, HSMKEY_E2E_A_HANDLE) ||
	    HSMKEY_NL_REQUIRE(extack, nest, tb, HSMKEY_E2E_A_POINT) ||
	    HSMKEY_NL_REQUIRE(extack, nest, tb, HSMKEY_E2E_A_WRAPPED))
		return -EINVAL;
	if (nla_len(tb[HSMKEY_E2E_A_WRAPPED]) !=
	    HSMKEY_E2E_KW_LEN(hsmkey_type_keylen(type))) {
		NL_SET_ERR_MSG_ATTR(extack, tb[HSMKEY_E2E_A_WRAPPED],
				    "end-to-end wrapped key length does not match key type");
		return -EINVAL;
	}
	if (!*b) {
		*b = hsmkey_e2e_batch_new();
		err = PTR_ERR_OR_ZERO(*b);
		if (err) {
			*b = NULL;
			hsmkey_nl_e2e_msg(err, nest, extack);
			return err;
		}
	}
	w.handle = nla_get_u64(tb[HSMKEY_E2E_A_HANDLE]);
	w.hpoint = nla_data(tb[HSMKEY_E2E_A_POINT]);
	w.blob = nla_data(tb[HSMKEY_E2E_A_WRAPPED]);
	err = hsmkey_e2e_unwrap(*b, &w, kid, type, material);
	bad = err == -EINVAL ? tb[HSMKEY_E2E_A_POINT] :
	      err == -EBADMSG ? tb[HSMKEY_E2E_A_WRAPPED] :
	      tb[HSMKEY_E2E_A_HANDLE];
	hsmkey_nl_e2e_msg(err, bad, extack);
	return err;
}

/*
 * The verifier and material of a key version: both under the transport
 * key, or the verifier so and the material end to end (HSMKEY_KEY_A_E2E).
 */
static int hsmkey_nl_key_material(struct sk_buff *skb, struct nlattr **tb,
				  struct hsmkey_e2e_batch **b,
				  const struct hsmkey_kid *kid, u32 type,
				  u8 *verifier, u8 *material,
				  struct netlink_ext_ack *extack)
{
	struct nlattr *e2e = tb[HSMKEY_KEY_A_E2E];
	unsigned int keylen = hsmkey_type_keylen(type);
	int err;

	err = hsmkey_dev_unwrap(skb, kid, type, e2e ? 0 : keylen,
				tb[HSMKEY_KEY_A_WRAPPED], verifier, material,
				extack);
	if (!err && e2e)
		err = hsmkey_nl_e2e_material(b, e2e, kid, type, material,
					     extack);
	if (err)
		return err;
	if (hsmkey_type_mode(type) == HSMKEY_MODE_XTS &&
	    !crypto_memneq(material, material + keylen / 2, keylen / 2)) {
		NL_SET_ERR_MSG_ATTR(extack, e2e ?: tb[HSMKEY_KEY_A_WRAPPED],
				    "XTS key halves are equal");
		return -EKEYREJECTED;
	}
	return 0;
}

/*
 * One key from the attributes in @tb (top level, or the batch entry
 * @nest), sent in @skb: unwrapped, checked, with its policy and spent
 * usage, not yet in the table.
 */
static struct hsmkey_key *hsmkey_nl_key_new(struct sk_buff *skb,
					    struct nlattr **tb,
					    struct nlattr *nest,
					    struct hsmkey_e2e_batch **b,
					    struct netlink_ext_ack *extack)
{
	u8 material[HSMKEY_MATERIAL_MAX], verifier[HSMKEY_VERIFIER_LEN];
	struct hsmkey_usage spent = {};
	struct hsmkey_key *key = NULL;
	struct hsmkey_policy policy;
	struct hsmkey_kid kid;
	u32 type;
	int err;

	if (HSMKEY_NL_REQUIRE(extack, nest, tb, HSMKEY_KEY_A_ID) ||
	    HSMKEY_NL_REQUIRE(extack, nest, tb, HSMKEY_KEY_A_VERSION) ||
	    HSMKEY_NL_REQUIRE(extack, nest, tb, HSMKEY_KEY_A_NAME) ||
	    HSMKEY_NL_REQUIRE(extack, nest, tb, HSMKEY_KEY_A_TYPE) ||
	    HSMKEY_NL_REQUIRE(extack, nest, tb, HSMKEY_KEY_A_WRAPPED))
		return ERR_PTR(-EINVAL);

	type = nla_get_u32(tb[HSMKEY_KEY_A_TYPE]);
	memcpy(kid.id, nla_data(tb[HSMKEY_KEY_A_ID]), HSMKEY_ID_LEN);
	kid.version = nla_get_u32(tb[HSMKEY_KEY_A_VERSION]);
	hsmkey_policy_default(&policy, type);
	if (tb[HSMKEY_KEY_A_POLICY]) {
		err = hsmkey_policy_parse(tb[HSMKEY_KEY_A_POLICY], type,
					  &policy, extack);
		if (err)
			return ERR_PTR(err);
	}
	if (tb[HSMKEY_KEY_A_USED_BYTES])
		spent.bytes = nla_get_u64(tb[HSMKEY_KEY_A_USED_BYTES]);
	if (tb[HSMKEY_KEY_A_USED_REQUESTS])
		spent.requests = nla_get_u64(tb[HSMKEY_KEY_A_USED_REQUESTS]);

	err = hsmkey_nl_key_material(skb, tb, b, &kid, type, verifier,
				     material, extack);
	if (err)
		goto out;
	key = hsmkey_key_create(&kid, nla_data(tb[HSMKEY_KEY_A_NAME]), type,
				verifier, material);
	if (IS_ERR(key)) {
		err = PTR_ERR(key);
		goto out;
	}
	key->delivery = tb[HSMKEY_KEY_A_E2E] ? HSMKEY_DELIVERY_E2E :
					       HSMKEY_DELIVERY_TRANSPORT;
	hsmkey_key_set_used(key, &spent);
	err = hsmkey_key_set_policy(key, &policy);
	if (err) {
		hsmkey_key_revoke(key);
		hsmkey_key_put(key);
		goto out;
	}
	if (tb[HSMKEY_KEY_A_OWNER]) {
		memcpy(key->owner, nla_data(tb[HSMKEY_KEY_A_OWNER]),
		       HSMKEY_OWNER_LEN);
		key->has_owner = true;
	}
out:
	memzero_explicit(material, sizeof(material));
	memzero_explicit(verifier, sizeof(verifier));
	return err ? ERR_PTR(err) : key;
}

static void hsmkey_nl_keys_drop(struct hsmkey_key **keys, int n)
{
	while (n--) {
		hsmkey_key_revoke(keys[n]);
		hsmkey_key_put(keys[n]);
	}
}

/*
 * The keys of an add, one or a batch, in @keys; returns how many.  *@b:
 * their end-to-end unwrapping, if any key comes so.
 */
static int hsmkey_nl_add_parse(struct sk_buff *skb, struct genl_info *info,
			       struct hsmkey_key **keys,
			       struct hsmkey_e2e_batch **b)
{
	struct nlattr *batch = info->attrs[HSMKEY_KEY_A_BATCH];
	struct nlattr *tb[HSMKEY_KEY_A_MAX + 1];
	struct nlattr *entry;
	int n = 0, rem, err;

	if (!batch) {
		keys[0] = hsmkey_nl_key_new(skb, info->attrs, NULL, b,
					    info->extack);
		return IS_ERR(keys[0]) ? PTR_ERR(keys[0]) : 1;
	}
	if (info->attrs[HSMKEY_KEY_A_ID]) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[HSMKEY_KEY_A_ID],
				    "give HSMKEY_KEY_A_BATCH or one key's attributes, not both");
		return -EINVAL;
	}
	nla_for_each_nested(entry, batch, rem) {
		err = nla_parse_nested(tb, HSMKEY_KEY_A_MAX, entry,
				       hsmkey_nl_key_entry_policy,
				       info->extack);
		if (!err) {
			keys[n] = hsmkey_nl_key_new(skb, tb, entry, b,
						    info->extack);
			err = PTR_ERR_OR_ZERO(keys[n]);
		}
		if (err) {
			hsmkey_nl_keys_drop(keys, n);
			return err;
		}
		n++;
	}
	return n;
}

/* How many keys an add carries: 1, or the batch's 1..HSMKEY_BATCH_MAX. */
static int hsmkey_nl_add_count(struct genl_info *info)
{
	struct nlattr *batch = info->attrs[HSMKEY_KEY_A_BATCH];
	struct nlattr *entry;
	int n = 0, rem;

	if (!batch)
		return 1;
	nla_for_each_nested(entry, batch, rem)
		n++;
	if (n && n <= HSMKEY_BATCH_MAX)
		return n;
	NL_SET_ERR_MSG_ATTR(info->extack, batch,
			    "a batch holds 1 to HSMKEY_BATCH_MAX keys");
	return n ? -E2BIG : -EINVAL;
}

/* All or nothing.  A key in the table is held by the table alone. */
static int hsmkey_nl_add_insert(struct hsmkey_key **keys, int n,
				struct netlink_ext_ack *extack)
{
	unsigned int n_in;
	int i, err;

	err = hsmkey_keys_insert(keys, n, &n_in);
	if (!err) {
		/* genl_mutex: no removal can drop the table's reference yet. */
		for (i = 0; i < n; i++)
			hsmkey_event(HSMKEY_EVENT_ADD, &keys[i]->kid, 0);
		return 0;
	}
	if (err == -EEXIST)
		NL_SET_ERR_MSG(extack, "key id and version already present");
	else if (err == -EAGAIN)
		NL_SET_ERR_MSG(extack, "a hibernation is being prepared");
	for (i = 0; i < n_in; i++)
		refcount_inc(&keys[i]->ref);
	hsmkey_keys_remove(keys, n_in);
	for (i = 0; i < n; i++) {
		if (i >= n_in)
			hsmkey_key_revoke(keys[i]);
		hsmkey_key_put(keys[i]);
	}
	return err;
}

struct hsmkey_nl_add {
	struct hsmkey_key **keys;
	int n;
	struct netlink_ext_ack *extack;
	bool tried;
};

static int hsmkey_nl_add_commit(void *arg)
{
	struct hsmkey_nl_add *a = arg;

	a->tried = true;
	return hsmkey_nl_add_insert(a->keys, a->n, a->extack);
}

/*
 * Insert the keys; with end-to-end ones, only if their ephemeral keys
 * still have the uses, which are charged if the keys go in.
 */
static int hsmkey_nl_add_keys(struct hsmkey_e2e_batch *b,
			      struct hsmkey_key **keys, int n,
			      struct netlink_ext_ack *extack)
{
	struct hsmkey_nl_add a = { .keys = keys, .n = n, .extack = extack };
	int err;

	if (!b)
		return hsmkey_nl_add_insert(keys, n, extack);
	err = hsmkey_e2e_commit(b, hsmkey_nl_add_commit, &a);
	if (!a.tried) {
		hsmkey_nl_e2e_msg(err, NULL, extack);
		hsmkey_nl_keys_drop(keys, n);
	}
	return err;
}

static int hsmkey_nl_key_add(struct sk_buff *skb, struct genl_info *info)
{
	struct hsmkey_e2e_batch *b = NULL;
	struct hsmkey_key **keys;
	int n, err;

	n = hsmkey_nl_add_count(info);
	if (n < 0)
		return n;
	keys = kcalloc(n, sizeof(*keys), GFP_KERNEL);
	if (!keys)
		return -ENOMEM;
	n = hsmkey_nl_add_parse(skb, info, keys, &b);
	err = n < 0 ? n : hsmkey_nl_add_keys(b, keys, n, info->extack);
	hsmkey_e2e_batch_free(b);
	kfree(keys);
	return err;
}

static struct hsmkey_key *hsmkey_nl_find(struct genl_info *info)
{
	struct hsmkey_key *key;
	struct hsmkey_kid kid;

	if (HSMKEY_NL_REQUIRE(info->extack, NULL, info->attrs,
			      HSMKEY_KEY_A_ID) ||
	    HSMKEY_NL_REQUIRE(info->extack, NULL, info->attrs,
			      HSMKEY_KEY_A_VERSION))
		return ERR_PTR(-EINVAL);
	memcpy(kid.id, nla_data(info->attrs[HSMKEY_KEY_A_ID]), HSMKEY_ID_LEN);
	kid.version = nla_get_u32(info->attrs[HSMKEY_KEY_A_VERSION]);
	key = hsmkey_key_lookup(&kid);
	if (!key) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[HSMKEY_KEY_A_ID],
				    "no such key id and version");
		return ERR_PTR(-ENOKEY);
	}
	return key;
}

/* Revoke, or revoke and remove from the table. */
static int hsmkey_nl_key_end(struct genl_info *info, bool remove)
{
	struct hsmkey_key *key = hsmkey_nl_find(info);

	if (IS_ERR(key))
		return PTR_ERR(key);
	if (remove)
		hsmkey_keys_remove(&key, 1);
	else
		hsmkey_key_revoke(key);
	atomic64_inc(&hsmkey_stats.revokes);
	pr_info("%s key %s version %u\n", remove ? "removed" : "revoked",
		key->name, key->kid.version);
	hsmkey_event(remove ? HSMKEY_EVENT_REMOVE : HSMKEY_EVENT_REVOKE,
		     &key->kid, 0);
	hsmkey_key_put(key);
	return 0;
}

static int hsmkey_nl_key_revoke(struct sk_buff *skb, struct genl_info *info)
{
	return hsmkey_nl_key_end(info, false);
}

static int hsmkey_nl_key_remove(struct sk_buff *skb, struct genl_info *info)
{
	return hsmkey_nl_key_end(info, true);
}

static int hsmkey_nl_key_state(struct genl_info *info, u32 state)
{
	struct hsmkey_key *key = hsmkey_nl_find(info);
	int err;

	if (IS_ERR(key))
		return PTR_ERR(key);
	err = hsmkey_key_set_state(key, state);
	if (err)
		NL_SET_ERR_MSG(info->extack, "the key is revoked");
	else
		hsmkey_event(state == HSMKEY_STATE_DISABLED ?
			     HSMKEY_EVENT_DISABLE : HSMKEY_EVENT_ENABLE,
			     &key->kid, 0);
	hsmkey_key_put(key);
	return err;
}

static int hsmkey_nl_key_disable(struct sk_buff *skb, struct genl_info *info)
{
	return hsmkey_nl_key_state(info, HSMKEY_STATE_DISABLED);
}

static int hsmkey_nl_key_enable(struct sk_buff *skb, struct genl_info *info)
{
	return hsmkey_nl_key_state(info, HSMKEY_STATE_ACTIVE);
}

static int hsmkey_nl_key_set_policy(struct sk_buff *skb,
				    struct genl_info *info)
{
	struct hsmkey_policy policy;
	struct hsmkey_key *key;
	int err;

	if (GENL_REQ_ATTR_CHECK(info, HSMKEY_KEY_A_POLICY)) {
		NL_SET_ERR_MSG(info->extack,
			       "missing attribute HSMKEY_KEY_A_POLICY");
		return -EINVAL;
	}
	key = hsmkey_nl_find(info);
	if (IS_ERR(key))
		return PTR_ERR(key);
	err = hsmkey_policy_parse(info->attrs[HSMKEY_KEY_A_POLICY], key->type,
				  &policy, info->extack);
	if (!err)
		err = hsmkey_key_set_policy(key, &policy);
	if (!err)
		hsmkey_event(HSMKEY_EVENT_POLICY, &key->kid, 0);
	hsmkey_key_put(key);
	return err;
}

struct hsmkey_nl_u64 {
	int attr;
	u64 value;
};

/* Each of @n counters as a u64 attribute, padded with @pad. */
static int hsmkey_nl_put_u64s(struct sk_buff *skb, int pad,
			      const struct hsmkey_nl_u64 *v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (nla_put_u64_64bit(skb, v[i].attr, v[i].value, pad))
			return -EMSGSIZE;
	return 0;
}

static int hsmkey_nl_fill_counters(struct sk_buff *skb, struct hsmkey_key *key,
				   const struct hsmkey_usage *used)
{
	const struct hsmkey_nl_u64 v[] = {
		{ HSMKEY_KEY_A_BYTES, used->bytes },
		{ HSMKEY_KEY_A_REQUESTS, used->requests },
		{ HSMKEY_KEY_A_BINDS, atomic64_read(&key->binds) },
		{ HSMKEY_KEY_A_DENIES, atomic64_read(&key->denies) },
	};

	return hsmkey_nl_put_u64s(skb, HSMKEY_KEY_A_PAD, v, ARRAY_SIZE(v));
}

static int hsmkey_nl_fill_key(struct sk_buff *skb, u32 portid, u32 seq,
			      int flags, struct hsmkey_key *key)
{
	struct hsmkey_policy policy;
	struct hsmkey_usage used;
	void *hdr;

	hdr = genlmsg_put(skb, portid, seq, &hsmkey_genl_family, flags,
			  HSMKEY_CMD_KEY_GET);
	if (!hdr)
		return -EMSGSIZE;
	mutex_lock(&key->lock);
	policy = key->policy;
	mutex_unlock(&key->lock);
	hsmkey_key_usage(key, &used);
	if (nla_put(skb, HSMKEY_KEY_A_ID, HSMKEY_ID_LEN, key->kid.id) ||
	    nla_put_u32(skb, HSMKEY_KEY_A_VERSION, key->kid.version) ||
	    nla_put_string(skb, HSMKEY_KEY_A_NAME, key->name) ||
	    nla_put_u32(skb, HSMKEY_KEY_A_TYPE, key->type) ||
	    nla_put_u32(skb, HSMKEY_KEY_A_STATE, READ_ONCE(key->state)) ||
	    nla_put_u32(skb, HSMKEY_KEY_A_BINDINGS,
			atomic_read(&key->bindings)) ||
	    hsmkey_policy_fill(skb, HSMKEY_KEY_A_POLICY, &policy) ||
	    (key->has_owner &&
	     nla_put(skb, HSMKEY_KEY_A_OWNER, HSMKEY_OWNER_LEN, key->owner)) ||
	    nla_put_u32(skb, HSMKEY_KEY_A_DELIVERY, key->delivery) ||
	    hsmkey_nl_fill_counters(skb, key, &used)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

static int hsmkey_nl_key_get(struct sk_buff *skb, struct genl_info *info)
{
	struct hsmkey_key *key;
	struct sk_buff *msg;
	int err;

	key = hsmkey_nl_find(info);
	if (IS_ERR(key))
		return PTR_ERR(key);
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	err = msg ? hsmkey_nl_fill_key(msg, info->snd_portid, info->snd_seq, 0,
				       key) : -ENOMEM;
	hsmkey_key_put(key);
	if (err) {
		nlmsg_free(msg);
		return err;
	}
	return genlmsg_reply(msg, info);
}

/* cb->args[0]: the table index to resume from. */
static int hsmkey_nl_key_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	unsigned long index = cb->args[0];
	struct hsmkey_key *key;
	int err = 0;

	hsmkey_keys_lock();
	while ((key = hsmkey_keys_next(&index))) {
		err = hsmkey_nl_fill_key(skb, NETLINK_CB(cb->skb).portid,
					 cb->nlh->nlmsg_seq, NLM_F_MULTI, key);
		if (err)
			break;
		index++;
	}
	hsmkey_keys_unlock();
	cb->args[0] = index;
	/* A full skb ends this part of the dump; the next call resumes. */
	return err == -EMSGSIZE ? skb->len : err;
}

static int hsmkey_nl_fill_stats(struct sk_buff *msg)
{
	const struct hsmkey_nl_u64 v[] = {
		{ HSMKEY_INFO_A_BINDS, atomic64_read(&hsmkey_stats.binds) },
		{ HSMKEY_INFO_A_DENIES, atomic64_read(&hsmkey_stats.denies) },
		{ HSMKEY_INFO_A_DENIES_UNKNOWN, hsmkey_events_unknown() },
		{ HSMKEY_INFO_A_REVOKES, atomic64_read(&hsmkey_stats.revokes) },
		{ HSMKEY_INFO_A_EXPIRIES, atomic64_read(&hsmkey_stats.expiries) },
		{ HSMKEY_INFO_A_LIMITS, atomic64_read(&hsmkey_stats.limits) },
		{ HSMKEY_INFO_A_EVENTS, hsmkey_events_sent() },
		{ HSMKEY_INFO_A_SUPPRESSED, hsmkey_events_suppressed() },
	};

	return hsmkey_nl_put_u64s(msg, HSMKEY_INFO_A_PAD, v, ARRAY_SIZE(v));
}

static int hsmkey_nl_info(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &hsmkey_genl_family, 0,
				HSMKEY_CMD_INFO);
	if (!hdr ||
	    nla_put_string(msg, HSMKEY_INFO_A_VERSION, HSMKEY_VERSION) ||
	    nla_put_u32(msg, HSMKEY_INFO_A_NKEYS, hsmkey_keys_count()) ||
	    nla_put_string(msg, HSMKEY_INFO_A_INNER_XTS,
			   hsmkey_skcipher_inner_driver(HSMKEY_MODE_XTS)) ||
	    nla_put_string(msg, HSMKEY_INFO_A_INNER_CBC,
			   hsmkey_skcipher_inner_driver(HSMKEY_MODE_CBC)) ||
	    nla_put_string(msg, HSMKEY_INFO_A_INNER_GCM,
			   hsmkey_aead_inner_driver()) ||
	    nla_put_u32(msg, HSMKEY_INFO_A_HOLDER, hsmkey_dev_holder_pid()) ||
	    nla_put_u32(msg, HSMKEY_INFO_A_E2E, hsmkey_e2e_available()) ||
	    nla_put_u32(msg, HSMKEY_INFO_A_KTLS, hsmkey_ktls_first_now()) ||
	    hsmkey_nl_put_sessions(msg) ||
	    hsmkey_nl_fill_stats(msg)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

static void hsmkey_nl_owner(struct genl_info *info, u8 *owner)
{
	struct nlattr *attr = info->attrs[HSMKEY_AUDIT_A_OWNER];

	memset(owner, 0, HSMKEY_OWNER_LEN);
	if (attr)
		memcpy(owner, nla_data(attr), HSMKEY_OWNER_LEN);
}

static int hsmkey_nl_audit_reply(struct genl_info *info, const u8 *owner)
{
	struct hsmkey_anchor a;
	struct sk_buff *msg;
	void *hdr;

	hsmkey_anchor_get(owner, &a);
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &hsmkey_genl_family, 0,
				info->genlhdr->cmd);
	if (!hdr ||
	    nla_put_u64_64bit(msg, HSMKEY_AUDIT_A_SEQ, a.seq,
			      HSMKEY_AUDIT_A_PAD) ||
	    nla_put(msg, HSMKEY_AUDIT_A_HEAD, HSMKEY_AUDIT_HEAD_LEN, a.head) ||
	    nla_put(msg, HSMKEY_AUDIT_A_OWNER, HSMKEY_OWNER_LEN, owner)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

static int hsmkey_nl_audit_get(struct sk_buff *skb, struct genl_info *info)
{
	u8 owner[HSMKEY_OWNER_LEN];

	hsmkey_nl_owner(info, owner);
	return hsmkey_nl_audit_reply(info, owner);
}

static int hsmkey_nl_audit_set(struct sk_buff *skb, struct genl_info *info)
{
	u8 owner[HSMKEY_OWNER_LEN];
	struct hsmkey_anchor a;
	int err;

	if (HSMKEY_NL_REQUIRE(info->extack, NULL, info->attrs,
			      HSMKEY_AUDIT_A_SEQ) ||
	    HSMKEY_NL_REQUIRE(info->extack, NULL, info->attrs,
			      HSMKEY_AUDIT_A_HEAD))
		return -EINVAL;
	hsmkey_nl_owner(info, owner);
	a.seq = nla_get_u64(info->attrs[HSMKEY_AUDIT_A_SEQ]);
	memcpy(a.head, nla_data(info->attrs[HSMKEY_AUDIT_A_HEAD]),
	       HSMKEY_AUDIT_HEAD_LEN);
	err = hsmkey_anchor_set(owner, &a, info->extack);
	return err ?: hsmkey_nl_audit_reply(info, owner);
}

/* A reply to @info for @cmd, its header at *@hdr; NULL without memory. */
struct sk_buff *hsmkey_nl_reply_new(struct genl_info *info, u8 cmd, void **hdr)
{
	struct sk_buff *msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);

	if (!msg)
		return NULL;
	*hdr = genlmsg_put_reply(msg, info, &hsmkey_genl_family, 0, cmd);
	return msg;
}

#define HSMKEY_NL_OP(_cmd, _doit, _policy, _max, _flags) {		\
	.cmd = _cmd, .doit = _doit, .policy = _policy,			\
	.maxattr = _max, .internal_flags = _flags }

static const struct genl_ops hsmkey_nl_ops[] = {
	HSMKEY_NL_OP(HSMKEY_CMD_KEY_ADD, hsmkey_nl_key_add,
		     hsmkey_nl_add_policy, HSMKEY_KEY_A_MAX, HSMKEY_NL_CHANGE),
	HSMKEY_NL_OP(HSMKEY_CMD_KEY_REVOKE, hsmkey_nl_key_revoke,
		     hsmkey_nl_kid_policy, HSMKEY_KEY_A_MAX,
		     HSMKEY_NL_CHANGE | HSMKEY_NL_FAIL_SAFE),
	HSMKEY_NL_OP(HSMKEY_CMD_KEY_REMOVE, hsmkey_nl_key_remove,
		     hsmkey_nl_kid_policy, HSMKEY_KEY_A_MAX,
		     HSMKEY_NL_CHANGE | HSMKEY_NL_FAIL_SAFE),
	HSMKEY_NL_OP(HSMKEY_CMD_KEY_DISABLE, hsmkey_nl_key_disable,
		     hsmkey_nl_kid_policy, HSMKEY_KEY_A_MAX,
		     HSMKEY_NL_CHANGE | HSMKEY_NL_FAIL_SAFE),
	HSMKEY_NL_OP(HSMKEY_CMD_KEY_ENABLE, hsmkey_nl_key_enable,
		     hsmkey_nl_kid_policy, HSMKEY_KEY_A_MAX, HSMKEY_NL_CHANGE),
	HSMKEY_NL_OP(HSMKEY_CMD_KEY_SET_POLICY, hsmkey_nl_key_set_policy,
		     hsmkey_nl_set_policy_policy, HSMKEY_KEY_A_MAX,
		     HSMKEY_NL_CHANGE),
	{
		.cmd = HSMKEY_CMD_KEY_GET,
		.doit = hsmkey_nl_key_get,
		.start = hsmkey_nl_dump_start,
		.dumpit = hsmkey_nl_key_dump,
		.policy = hsmkey_nl_kid_policy,
		.maxattr = HSMKEY_KEY_A_MAX,
	},
	HSMKEY_NL_OP(HSMKEY_CMD_INFO, hsmkey_nl_info,
		     hsmkey_nl_info_policy, HSMKEY_INFO_A_MAX, 0),
	HSMKEY_NL_OP(HSMKEY_CMD_AUDIT_GET, hsmkey_nl_audit_get,
		     hsmkey_nl_audit_get_policy, HSMKEY_AUDIT_A_MAX, 0),
	HSMKEY_NL_OP(HSMKEY_CMD_AUDIT_SET, hsmkey_nl_audit_set,
		     hsmkey_nl_audit_set_policy, HSMKEY_AUDIT_A_MAX,
		     HSMKEY_NL_CHANGE),
	HSMKEY_NL_OP(HSMKEY_CMD_SESSION_ADD, hsmkey_nl_session_add,
		     hsmkey_nl_session_policy, HSMKEY_SESSION_A_MAX,
		     HSMKEY_NL_CHANGE),
	HSMKEY_NL_OP(HSMKEY_CMD_SESSION_GET, hsmkey_nl_session_get,
		     hsmkey_nl_session_get_policy, HSMKEY_SESSION_A_MAX, 0),
	HSMKEY_NL_OP(HSMKEY_CMD_SESSION_REVOKE, hsmkey_nl_session_revoke,
		     hsmkey_nl_session_handle_policy, HSMKEY_SESSION_A_MAX,
		     HSMKEY_NL_CHANGE | HSMKEY_NL_FAIL_SAFE),
};

/*
 * Permission checks on joining a multicast group arrived in 6.1.64 and 6.7;
 * before them any process could join the events group and read every
 * key's ids and every binder's uid, pid and name.  Such a kernel is not
 * supported.
 */
#ifndef GENL_MCAST_CAP_SYS_ADMIN
#error "hsmkey needs a kernel that checks who joins a multicast group (6.1.64+, 6.7+)"
#endif

static const struct genl_multicast_group hsmkey_nl_mcgrps[] = {
	{ .name = HSMKEY_GENL_MCGRP_EVENTS, .flags = GENL_MCAST_CAP_SYS_ADMIN },
};

static struct genl_family hsmkey_genl_family __ro_after_init = {
	.name = HSMKEY_GENL_NAME,
	.version = HSMKEY_GENL_VERSION,
	.netnsok = false,
	.module = THIS_MODULE,
	.pre_doit = hsmkey_nl_pre_doit,
	.ops = hsmkey_nl_ops,
	.n_ops = ARRAY_SIZE(hsmkey_nl_ops),
	.resv_start_op = HSMKEY_CMD_KEY_ADD,
	.mcgrps = hsmkey_nl_mcgrps,
	.n_mcgrps = ARRAY_SIZE(hsmkey_nl_mcgrps),
};

int hsmkey_netlink_init(void)
{
	int err = genl_register_family(&hsmkey_genl_family);

	if (!err)
		hsmkey_events_start(&hsmkey_genl_family);
	return err;
}

/* The module's init is done: requests are served from now on. */
void hsmkey_netlink_enable(void)
{
	WRITE_ONCE(hsmkey_nl_live, true);
}

void hsmkey_netlink_exit(void)
{
	WRITE_ONCE(hsmkey_nl_live, false);
	hsmkey_events_stop();
	genl_unregister_family(&hsmkey_genl_family);
}
