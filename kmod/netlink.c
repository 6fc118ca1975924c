// SPDX-License-Identifier: GPL-2.0
/*
 * The generic netlink family "hsmkey": the control plane.  The attribute
 * policy does the validation, so handlers see well-formed attributes only;
 * handlers run serialised under genl_mutex.
 */
#include <crypto/algapi.h>
#include <net/genetlink.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/ratelimit.h>
#include <linux/sched.h>
#include "aead.h"
#include "compat.h"
#include "dev.h"
#include "keys.h"
#include "netlink.h"
#include "skcipher.h"

/* What one key of an add carries, at top level or in HSMKEY_A_KEYS. */
#define HSMKEY_NL_KEY_POLICY						\
	[HSMKEY_A_KEY_ID]	= NLA_POLICY_EXACT_LEN(HSMKEY_ID_LEN),	\
	[HSMKEY_A_KEY_VERSION]	= NLA_POLICY_MIN(NLA_U32, 1),		\
	[HSMKEY_A_KEY_NAME]	= { .type = NLA_NUL_STRING,		\
				    .len = HSMKEY_NAME_MAX - 1 },	\
	[HSMKEY_A_KEY_TYPE]	= NLA_POLICY_RANGE(NLA_U32, 1, HSMKEY_TYPE_MAX), \
	[HSMKEY_A_KEY_VERIFIER]	= NLA_POLICY_EXACT_LEN(HSMKEY_VERIFIER_LEN), \
	[HSMKEY_A_KEY_MATERIAL]	= { .type = NLA_REJECT,			\
				    .reject_message =			\
		"clear material is refused: send HSMKEY_A_KEY_WRAPPED" }, \
	[HSMKEY_A_KEY_WRAPPED]	= NLA_POLICY_RANGE(NLA_BINARY,		\
				    HSMKEY_WRAP_OVERHEAD + 16,		\
				    HSMKEY_WRAP_OVERHEAD + HSMKEY_MATERIAL_MAX), \
	[HSMKEY_A_KEY_POLICY]	= NLA_POLICY_NESTED(hsmkey_policy_nl),	\
	[HSMKEY_A_KEY_OWNER]	= NLA_POLICY_EXACT_LEN(HSMKEY_OWNER_LEN)

static const struct nla_policy hsmkey_nl_key_policy[HSMKEY_A_MAX + 1] = {
	HSMKEY_NL_KEY_POLICY,
};

/* Attributes only the kernel sends are rejected when received. */
static const struct nla_policy hsmkey_nl_policy[HSMKEY_A_MAX + 1] = {
	HSMKEY_NL_KEY_POLICY,
	[HSMKEY_A_KEYS]		= NLA_POLICY_NESTED_ARRAY(hsmkey_nl_key_policy),
	[HSMKEY_A_KEY_STATE]	= { .type = NLA_REJECT },
	[HSMKEY_A_KEY_BINDINGS]	= { .type = NLA_REJECT },
	[HSMKEY_A_INFO_VERSION]	= { .type = NLA_REJECT },
	[HSMKEY_A_INFO_NKEYS]	= { .type = NLA_REJECT },
	[HSMKEY_A_INFO_INNER_XTS] = { .type = NLA_REJECT },
	[HSMKEY_A_INFO_INNER_CBC] = { .type = NLA_REJECT },
	[HSMKEY_A_PAD]		= { .type = NLA_REJECT },
	[HSMKEY_A_EVENT_TYPE]	= { .type = NLA_REJECT },
	[HSMKEY_A_EVENT_SEQ]	= { .type = NLA_REJECT },
	[HSMKEY_A_EVENT_UID]	= { .type = NLA_REJECT },
	[HSMKEY_A_EVENT_PID]	= { .type = NLA_REJECT },
	[HSMKEY_A_EVENT_COMM]	= { .type = NLA_REJECT },
	[HSMKEY_A_EVENT_ERRNO]	= { .type = NLA_REJECT },
	[HSMKEY_A_KEY_BYTES]	= { .type = NLA_REJECT },
	[HSMKEY_A_KEY_REQUESTS]	= { .type = NLA_REJECT },
	[HSMKEY_A_KEY_BINDS]	= { .type = NLA_REJECT },
	[HSMKEY_A_KEY_DENIES]	= { .type = NLA_REJECT },
	[HSMKEY_A_INFO_INNER_GCM] = { .type = NLA_REJECT },
	[HSMKEY_A_INFO_HOLDER]	= { .type = NLA_REJECT },
	[HSMKEY_A_INFO_BINDS]	= { .type = NLA_REJECT },
	[HSMKEY_A_INFO_DENIES]	= { .type = NLA_REJECT },
	[HSMKEY_A_INFO_REVOKES]	= { .type = NLA_REJECT },
	[HSMKEY_A_INFO_EXPIRIES] = { .type = NLA_REJECT },
	[HSMKEY_A_INFO_LIMITS]	= { .type = NLA_REJECT },
	[HSMKEY_A_INFO_EVENTS]	= { .type = NLA_REJECT },
	[HSMKEY_A_AUDIT_SEQ]	= NLA_POLICY_MIN(NLA_U64, 1),
	[HSMKEY_A_AUDIT_HEAD]	= NLA_POLICY_EXACT_LEN(HSMKEY_AUDIT_HEAD_LEN),
};

static struct genl_family hsmkey_genl_family;
static atomic64_t hsmkey_event_seq;
/* Events before registration (KUnit runs first on 6.1) go nowhere. */
static bool hsmkey_nl_registered;
/* A flood of bad tokens must not flood the listeners. */
static DEFINE_RATELIMIT_STATE(hsmkey_deny_rs, HZ, 10);

/*
 * Multicast an event about @kid caused by the current task.  Process
 * context.  The sequence number counts every event, sent or not (deny
 * events are rate-limited), so a listener sees a gap when it lost one.
 */
void hsmkey_nl_event(u32 type, const struct hsmkey_kid *kid, int err)
{
	u64 seq = atomic64_inc_return(&hsmkey_event_seq);
	char comm[TASK_COMM_LEN];
	struct sk_buff *skb;
	void *hdr;

	if (!READ_ONCE(hsmkey_nl_registered) ||
	    !genl_has_listeners(&hsmkey_genl_family, &init_net, 0) ||
	    (type == HSMKEY_EVENT_DENY && !__ratelimit(&hsmkey_deny_rs)))
		return;
	skb = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!skb)
		return;
	hdr = genlmsg_put(skb, 0, 0, &hsmkey_genl_family, 0, HSMKEY_CMD_EVENT);
	get_task_comm(comm, current);
	if (!hdr ||
	    nla_put_u32(skb, HSMKEY_A_EVENT_TYPE, type) ||
	    nla_put_u64_64bit(skb, HSMKEY_A_EVENT_SEQ, seq, HSMKEY_A_PAD) ||
	    nla_put(skb, HSMKEY_A_KEY_ID, HSMKEY_ID_LEN, kid->id) ||
	    nla_put_u32(skb, HSMKEY_A_KEY_VERSION, kid->version) ||
	    nla_put_u32(skb, HSMKEY_A_EVENT_UID,
			from_kuid_munged(&init_user_ns, current_uid())) ||
	    nla_put_u32(skb, HSMKEY_A_EVENT_PID, task_tgid_nr(current)) ||
	    nla_put_string(skb, HSMKEY_A_EVENT_COMM, comm) ||
	    (err && nla_put_u32(skb, HSMKEY_A_EVENT_ERRNO, -err))) {
		nlmsg_free(skb);
		return;
	}
	genlmsg_end(skb, hdr);
	genlmsg_multicast(&hsmkey_genl_family, skb, 0, 0, GFP_KERNEL);
}

/* CAP_SYS_ADMIN in the initial user namespace, of sender and socket opener. */
/*
 * CAP_SYS_ADMIN in the initial user namespace, of sender and socket opener,
 * and, while a daemon holds /dev/hsmkey, being that daemon.
 */
static int hsmkey_nl_admin(struct sk_buff *skb, struct genl_info *info)
{
	if (!netlink_capable(skb, CAP_SYS_ADMIN)) {
		NL_SET_ERR_MSG(info->extack,
			       "changing hsmkey keys needs CAP_SYS_ADMIN");
		return -EPERM;
	}
	return hsmkey_dev_check(info->extack);
}

/* A required attribute is missing: name it in the extack message. */
static bool hsmkey_nl_missing(struct netlink_ext_ack *extack,
			      struct nlattr *nest, struct nlattr **tb, int attr,
			      const char *msg)
{
	if (tb[attr])
		return false;
	NL_SET_ERR_ATTR_MISS(extack, nest, attr);
	if (extack)
		extack->_msg = msg;	/* a string literal, see below */
	return true;
}

static bool hsmkey_nl_info_missing(struct genl_info *info, int attr,
				   const char *msg)
{
	return hsmkey_nl_missing(info->extack, NULL, info->attrs, attr, msg);
}

#define HSMKEY_NL_MISSING_IN(extack, nest, tb, attr)			\
	hsmkey_nl_missing(extack, nest, tb, attr, "missing attribute " #attr)

#define HSMKEY_NL_MISSING(info, attr)					\
	hsmkey_nl_info_missing(info, attr, "missing attribute " #attr)

static void hsmkey_nl_kid(struct genl_info *info, struct hsmkey_kid *kid)
{
	memcpy(kid->id, nla_data(info->attrs[HSMKEY_A_KEY_ID]), HSMKEY_ID_LEN);
	kid->version = nla_get_u32(info->attrs[HSMKEY_A_KEY_VERSION]);
}

/*
 * One key from the attributes in @tb (top level, or the entry @nest of a
 * batch): unwrapped, checked, with its policy, not yet in the table.
 */
static struct hsmkey_key *hsmkey_nl_key_new(struct nlattr **tb,
					    struct nlattr *nest,
					    struct netlink_ext_ack *extack)
{
	u8 material[HSMKEY_MATERIAL_MAX];
	struct hsmkey_policy policy;
	struct hsmkey_key *key;
	struct hsmkey_kid kid;
	unsigned int keylen;
	u32 type;
	int err;

	if (HSMKEY_NL_MISSING_IN(extack, nest, tb, HSMKEY_A_KEY_ID) ||
	    HSMKEY_NL_MISSING_IN(extack, nest, tb, HSMKEY_A_KEY_VERSION) ||
	    HSMKEY_NL_MISSING_IN(extack, nest, tb, HSMKEY_A_KEY_NAME) ||
	    HSMKEY_NL_MISSING_IN(extack, nest, tb, HSMKEY_A_KEY_TYPE) ||
	    HSMKEY_NL_MISSING_IN(extack, nest, tb, HSMKEY_A_KEY_VERIFIER) ||
	    HSMKEY_NL_MISSING_IN(extack, nest, tb, HSMKEY_A_KEY_WRAPPED))
		return ERR_PTR(-EINVAL);

	type = nla_get_u32(tb[HSMKEY_A_KEY_TYPE]);
	keylen = hsmkey_type_keylen(type);
	memcpy(kid.id, nla_data(tb[HSMKEY_A_KEY_ID]), HSMKEY_ID_LEN);
	kid.version = nla_get_u32(tb[HSMKEY_A_KEY_VERSION]);
	hsmkey_policy_default(&policy, type);
	if (tb[HSMKEY_A_KEY_POLICY]) {
		err = hsmkey_policy_parse(tb[HSMKEY_A_KEY_POLICY], type,
					  &policy, extack);
		if (err)
			return ERR_PTR(err);
	}

	err = hsmkey_dev_unwrap(&kid, type, tb[HSMKEY_A_KEY_WRAPPED], material,
				extack);
	if (err)
		goto out;
	if (hsmkey_type_mode(type) == HSMKEY_MODE_XTS &&
	    !crypto_memneq(material, material + keylen / 2, keylen / 2)) {
		NL_SET_ERR_MSG_ATTR(extack, tb[HSMKEY_A_KEY_WRAPPED],
				    "XTS key halves are equal");
		err = -EKEYREJECTED;
		goto out;
	}
	key = hsmkey_key_create(&kid, nla_data(tb[HSMKEY_A_KEY_NAME]), type,
				nla_data(tb[HSMKEY_A_KEY_VERIFIER]), material);
	if (IS_ERR(key)) {
		err = PTR_ERR(key);
		goto out;
	}
	err = hsmkey_key_set_policy(key, &policy);
	if (err) {
		hsmkey_key_revoke(key);
		hsmkey_key_put(key);
		goto out;
	}
	if (tb[HSMKEY_A_KEY_OWNER]) {
		memcpy(key->owner, nla_data(tb[HSMKEY_A_KEY_OWNER]),
		       HSMKEY_OWNER_LEN);
		key->has_owner = true;
	}
out:
	memzero_explicit(material, sizeof(material));
	return err ? ERR_PTR(err) : key;
}

/* The keys of an add, one or a batch, in @keys; returns how many. */
static int hsmkey_nl_add_parse(struct genl_info *info, struct hsmkey_key **keys)
{
	struct nlattr *batch = info->attrs[HSMKEY_A_KEYS];
	struct nlattr *tb[HSMKEY_A_MAX + 1];
	struct nlattr *entry;
	int n = 0, rem, err;

	if (!batch) {
		keys[0] = hsmkey_nl_key_new(info->attrs, NULL, info->extack);
		return IS_ERR(keys[0]) ? PTR_ERR(keys[0]) : 1;
	}
	if (info->attrs[HSMKEY_A_KEY_ID]) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[HSMKEY_A_KEY_ID],
				    "give HSMKEY_A_KEYS or one key's attributes, not both");
		return -EINVAL;
	}
	nla_for_each_nested(entry, batch, rem) {
		err = nla_parse_nested(tb, HSMKEY_A_MAX, entry,
				       hsmkey_nl_key_policy, info->extack);
		if (!err) {
			keys[n] = hsmkey_nl_key_new(tb, entry, info->extack);
			err = PTR_ERR_OR_ZERO(keys[n]);
		}
		if (err) {
			while (n--) {
				hsmkey_key_revoke(keys[n]);
				hsmkey_key_put(keys[n]);
			}
			return err;
		}
		n++;
	}
	return n;
}

static int hsmkey_nl_key_add(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *batch = info->attrs[HSMKEY_A_KEYS];
	struct hsmkey_key **keys;
	int n, i, n_in, err;

	err = hsmkey_nl_admin(skb, info);
	if (err)
		return err;
	n = 1;
	if (batch) {
		struct nlattr *entry;
		int rem;

		n = 0;
		nla_for_each_nested(entry, batch, rem)
			n++;
		if (!n || n > HSMKEY_BATCH_MAX) {
			NL_SET_ERR_MSG_ATTR(info->extack, batch,
					    "a batch holds 1 to HSMKEY_BATCH_MAX keys");
			return n ? -E2BIG : -EINVAL;
		}
	}
	keys = kcalloc(n, sizeof(*keys), GFP_KERNEL);
	if (!keys)
		return -ENOMEM;
	n = hsmkey_nl_add_parse(info, keys);
	if (n < 0) {
		err = n;
		goto out;
	}

	/* All or nothing.  A key in the table is held by the table alone. */
	for (i = 0; i < n; i++) {
		err = hsmkey_key_insert(keys[i]);
		if (err)
			break;
	}
	if (!err) {
		for (i = 0; i < n; i++)
			hsmkey_nl_event(HSMKEY_EVENT_ADD, &keys[i]->kid, 0);
		goto out;
	}
	if (err == -EEXIST)
		NL_SET_ERR_MSG(info->extack,
			       "key id and version already present");
	for (n_in = 0; n_in < i; n_in++)
		refcount_inc(&keys[n_in]->ref);
	hsmkey_keys_remove(keys, i);
	for (i = 0; i < n; i++) {
		if (i >= n_in)
			hsmkey_key_revoke(keys[i]);
		hsmkey_key_put(keys[i]);
	}
out:
	kfree(keys);
	return err;
}

static struct hsmkey_key *hsmkey_nl_find(struct genl_info *info)
{
	struct hsmkey_key *key;
	struct hsmkey_kid kid;

	if (HSMKEY_NL_MISSING(info, HSMKEY_A_KEY_ID) ||
	    HSMKEY_NL_MISSING(info, HSMKEY_A_KEY_VERSION))
		return ERR_PTR(-EINVAL);
	hsmkey_nl_kid(info, &kid);
	key = hsmkey_key_lookup(&kid);
	if (!key) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[HSMKEY_A_KEY_ID],
				    "no such key id and version");
		return ERR_PTR(-ENOKEY);
	}
	return key;
}

/* Revoke, or revoke and remove from the table. */
static int hsmkey_nl_key_end(struct sk_buff *skb, struct genl_info *info,
			     bool remove)
{
	struct hsmkey_key *key;
	int err;

	err = hsmkey_nl_admin(skb, info);
	if (err)
		return err;
	key = hsmkey_nl_find(info);
	if (IS_ERR(key))
		return PTR_ERR(key);
	if (remove)
		hsmkey_keys_remove(&key, 1);
	else
		hsmkey_key_revoke(key);
	atomic64_inc(&hsmkey_stats.revokes);
	pr_info("%s key %s version %u\n", remove ? "removed" : "revoked",
		key->name, key->kid.version);
	hsmkey_nl_event(remove ? HSMKEY_EVENT_REMOVE : HSMKEY_EVENT_REVOKE,
			&key->kid, 0);
	hsmkey_key_put(key);
	return 0;
}

static int hsmkey_nl_key_revoke(struct sk_buff *skb, struct genl_info *info)
{
	return hsmkey_nl_key_end(skb, info, false);
}

static int hsmkey_nl_key_remove(struct sk_buff *skb, struct genl_info *info)
{
	return hsmkey_nl_key_end(skb, info, true);
}

static int hsmkey_nl_key_state(struct sk_buff *skb, struct genl_info *info,
			       u32 state)
{
	struct hsmkey_key *key;
	int err;

	err = hsmkey_nl_admin(skb, info);
	if (err)
		return err;
	key = hsmkey_nl_find(info);
	if (IS_ERR(key))
		return PTR_ERR(key);
	err = hsmkey_key_set_state(key, state);
	if (err)
		NL_SET_ERR_MSG(info->extack, "the key is revoked");
	else
		hsmkey_nl_event(state == HSMKEY_STATE_DISABLED ?
				HSMKEY_EVENT_DISABLE : HSMKEY_EVENT_ENABLE,
				&key->kid, 0);
	hsmkey_key_put(key);
	return err;
}

static int hsmkey_nl_key_disable(struct sk_buff *skb, struct genl_info *info)
{
	return hsmkey_nl_key_state(skb, info, HSMKEY_STATE_DISABLED);
}

static int hsmkey_nl_key_enable(struct sk_buff *skb, struct genl_info *info)
{
	return hsmkey_nl_key_state(skb, info, HSMKEY_STATE_ACTIVE);
}

static int hsmkey_nl_key_set_policy(struct sk_buff *skb,
				    struct genl_info *info)
{
	struct hsmkey_policy policy;
	struct hsmkey_key *key;
	int err;

	err = hsmkey_nl_admin(skb, info);
	if (err)
		return err;
	if (HSMKEY_NL_MISSING(info, HSMKEY_A_KEY_POLICY))
		return -EINVAL;
	key = hsmkey_nl_find(info);
	if (IS_ERR(key))
		return PTR_ERR(key);
	err = hsmkey_policy_parse(info->attrs[HSMKEY_A_KEY_POLICY], key->type,
				  &policy, info->extack);
	if (!err)
		err = hsmkey_key_set_policy(key, &policy);
	if (!err)
		hsmkey_nl_event(HSMKEY_EVENT_POLICY, &key->kid, 0);
	hsmkey_key_put(key);
	return err;
}

static int hsmkey_nl_fill_key(struct sk_buff *skb, u32 portid, u32 seq,
			      int flags, struct hsmkey_key *key)
{
	void *hdr;

	struct hsmkey_policy policy;
	struct hsmkey_usage used;

	hdr = genlmsg_put(skb, portid, seq, &hsmkey_genl_family, flags,
			  HSMKEY_CMD_KEY_GET);
	if (!hdr)
		return -EMSGSIZE;
	mutex_lock(&key->lock);
	policy = key->policy;
	mutex_unlock(&key->lock);
	hsmkey_key_usage(key, &used);
	if (nla_put(skb, HSMKEY_A_KEY_ID, HSMKEY_ID_LEN, key->kid.id) ||
	    nla_put_u32(skb, HSMKEY_A_KEY_VERSION, key->kid.version) ||
	    nla_put_string(skb, HSMKEY_A_KEY_NAME, key->name) ||
	    nla_put_u32(skb, HSMKEY_A_KEY_TYPE, key->type) ||
	    nla_put_u32(skb, HSMKEY_A_KEY_STATE, READ_ONCE(key->state)) ||
	    nla_put_u32(skb, HSMKEY_A_KEY_BINDINGS,
			atomic_read(&key->bindings)) ||
	    hsmkey_policy_fill(skb, HSMKEY_A_KEY_POLICY, &policy) ||
	    (key->has_owner &&
	     nla_put(skb, HSMKEY_A_KEY_OWNER, HSMKEY_OWNER_LEN, key->owner)) ||
	    nla_put_u64_64bit(skb, HSMKEY_A_KEY_BYTES, used.bytes,
			      HSMKEY_A_PAD) ||
	    nla_put_u64_64bit(skb, HSMKEY_A_KEY_REQUESTS, used.requests,
			      HSMKEY_A_PAD) ||
	    nla_put_u64_64bit(skb, HSMKEY_A_KEY_BINDS,
			      atomic64_read(&key->binds), HSMKEY_A_PAD) ||
	    nla_put_u64_64bit(skb, HSMKEY_A_KEY_DENIES,
			      atomic64_read(&key->denies), HSMKEY_A_PAD)) {
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

static int hsmkey_nl_put_stat(struct sk_buff *skb, int attr, atomic64_t *v)
{
	return nla_put_u64_64bit(skb, attr, atomic64_read(v), HSMKEY_A_PAD);
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
	    nla_put_string(msg, HSMKEY_A_INFO_VERSION, HSMKEY_VERSION) ||
	    nla_put_u32(msg, HSMKEY_A_INFO_NKEYS, hsmkey_keys_count()) ||
	    nla_put_string(msg, HSMKEY_A_INFO_INNER_XTS,
			   hsmkey_skcipher_inner_driver(HSMKEY_MODE_XTS)) ||
	    nla_put_string(msg, HSMKEY_A_INFO_INNER_CBC,
			   hsmkey_skcipher_inner_driver(HSMKEY_MODE_CBC)) ||
	    nla_put_string(msg, HSMKEY_A_INFO_INNER_GCM,
			   hsmkey_aead_inner_driver()) ||
	    nla_put_u32(msg, HSMKEY_A_INFO_HOLDER, hsmkey_dev_holder_pid()) ||
	    hsmkey_nl_put_stat(msg, HSMKEY_A_INFO_BINDS, &hsmkey_stats.binds) ||
	    hsmkey_nl_put_stat(msg, HSMKEY_A_INFO_DENIES,
			       &hsmkey_stats.denies) ||
	    hsmkey_nl_put_stat(msg, HSMKEY_A_INFO_REVOKES,
			       &hsmkey_stats.revokes) ||
	    hsmkey_nl_put_stat(msg, HSMKEY_A_INFO_EXPIRIES,
			       &hsmkey_stats.expiries) ||
	    hsmkey_nl_put_stat(msg, HSMKEY_A_INFO_LIMITS,
			       &hsmkey_stats.limits) ||
	    hsmkey_nl_put_stat(msg, HSMKEY_A_INFO_EVENTS, &hsmkey_event_seq)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

/*
 * Audit anchors, one per keystore instance (the owner its daemon records
 * on its keys), so that daemons on different state directories each keep
 * their own.  genl_mutex serialises the handler, the only user.
 */
#define HSMKEY_AUDIT_ANCHORS	16

static struct hsmkey_audit_anchor {
	bool used;
	u8 owner[HSMKEY_OWNER_LEN];
	u64 seq;
	u8 head[HSMKEY_AUDIT_HEAD_LEN];
} hsmkey_audit_anchors[HSMKEY_AUDIT_ANCHORS];

/* @owner's anchor; with @create, a free slot for it (NULL when full). */
static struct hsmkey_audit_anchor *hsmkey_anchor_find(const u8 *owner, bool create)
{
	struct hsmkey_audit_anchor *free = NULL;
	int i;

	for (i = 0; i < HSMKEY_AUDIT_ANCHORS; i++) {
		struct hsmkey_audit_anchor *a = &hsmkey_audit_anchors[i];

		if (a->used && !memcmp(a->owner, owner, HSMKEY_OWNER_LEN))
			return a;
		if (!a->used && !free)
			free = a;
	}
	if (!create || !free)
		return NULL;
	free->used = true;
	memcpy(free->owner, owner, HSMKEY_OWNER_LEN);
	free->seq = 0;
	memset(free->head, 0, sizeof(free->head));
	return free;
}

static int hsmkey_nl_audit_anchor(struct sk_buff *skb, struct genl_info *info)
{
	static const struct hsmkey_audit_anchor none;
	struct nlattr *seq = info->attrs[HSMKEY_A_AUDIT_SEQ];
	struct nlattr *head = info->attrs[HSMKEY_A_AUDIT_HEAD];
	struct nlattr *owner_attr = info->attrs[HSMKEY_A_KEY_OWNER];
	u8 owner[HSMKEY_OWNER_LEN] = { 0 };
	const struct hsmkey_audit_anchor *a;
	struct sk_buff *msg;
	void *hdr;
	int err;

	if (owner_attr)
		memcpy(owner, nla_data(owner_attr), HSMKEY_OWNER_LEN);
	if (seq || head) {
		struct hsmkey_audit_anchor *w;

		err = hsmkey_nl_admin(skb, info);
		if (err)
			return err;
		if (HSMKEY_NL_MISSING(info, HSMKEY_A_AUDIT_SEQ) ||
		    HSMKEY_NL_MISSING(info, HSMKEY_A_AUDIT_HEAD))
			return -EINVAL;
		w = hsmkey_anchor_find(owner, false);
		if (w && nla_get_u64(seq) < w->seq) {
			NL_SET_ERR_MSG_ATTR(info->extack, seq,
					    "the audit sequence number cannot go backwards");
			return -ESTALE;
		}
		if (!w)
			w = hsmkey_anchor_find(owner, true);
		if (!w) {
			NL_SET_ERR_MSG_ATTR(info->extack, owner_attr,
					    "no room for the audit anchor of another keystore");
			return -ENOSPC;
		}
		w->seq = nla_get_u64(seq);
		memcpy(w->head, nla_data(head), HSMKEY_AUDIT_HEAD_LEN);
	}
	a = hsmkey_anchor_find(owner, false) ?: &none;
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &hsmkey_genl_family, 0,
				HSMKEY_CMD_AUDIT_ANCHOR);
	if (!hdr ||
	    nla_put_u64_64bit(msg, HSMKEY_A_AUDIT_SEQ, a->seq, HSMKEY_A_PAD) ||
	    nla_put(msg, HSMKEY_A_AUDIT_HEAD, HSMKEY_AUDIT_HEAD_LEN, a->head) ||
	    nla_put(msg, HSMKEY_A_KEY_OWNER, HSMKEY_OWNER_LEN, owner)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

static const struct genl_small_ops hsmkey_nl_ops[] = {
	{
		.cmd = HSMKEY_CMD_KEY_ADD,
		.doit = hsmkey_nl_key_add,
	},
	{
		.cmd = HSMKEY_CMD_KEY_REVOKE,
		.doit = hsmkey_nl_key_revoke,
	},
	{
		.cmd = HSMKEY_CMD_KEY_GET,
		.doit = hsmkey_nl_key_get,
		.dumpit = hsmkey_nl_key_dump,
	},
	{
		.cmd = HSMKEY_CMD_INFO,
		.doit = hsmkey_nl_info,
	},
	{
		.cmd = HSMKEY_CMD_KEY_REMOVE,
		.doit = hsmkey_nl_key_remove,
	},
	{
		.cmd = HSMKEY_CMD_KEY_DISABLE,
		.doit = hsmkey_nl_key_disable,
	},
	{
		.cmd = HSMKEY_CMD_KEY_ENABLE,
		.doit = hsmkey_nl_key_enable,
	},
	{
		.cmd = HSMKEY_CMD_KEY_SET_POLICY,
		.doit = hsmkey_nl_key_set_policy,
	},
	{
		.cmd = HSMKEY_CMD_AUDIT_ANCHOR,
		.doit = hsmkey_nl_audit_anchor,
	},
};

static const struct genl_multicast_group hsmkey_nl_mcgrps[] = {
	{ .name = HSMKEY_GENL_MCGRP_EVENTS, .flags = HSMKEY_MCGRP_FLAGS },
};

static struct genl_family hsmkey_genl_family __ro_after_init = {
	.name = HSMKEY_GENL_NAME,
	.version = HSMKEY_GENL_VERSION,
	.maxattr = HSMKEY_A_MAX,
	.policy = hsmkey_nl_policy,
	.netnsok = false,
	.module = THIS_MODULE,
	.small_ops = hsmkey_nl_ops,
	.n_small_ops = ARRAY_SIZE(hsmkey_nl_ops),
	.resv_start_op = HSMKEY_CMD_KEY_ADD,
	.mcgrps = hsmkey_nl_mcgrps,
	.n_mcgrps = ARRAY_SIZE(hsmkey_nl_mcgrps),
};

int hsmkey_netlink_init(void)
{
	int err = genl_register_family(&hsmkey_genl_family);

	if (!err)
		WRITE_ONCE(hsmkey_nl_registered, true);
	return err;
}

void hsmkey_netlink_exit(void)
{
	WRITE_ONCE(hsmkey_nl_registered, false);
	genl_unregister_family(&hsmkey_genl_family);
}
