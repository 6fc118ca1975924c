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
#include "compat.h"
#include "keys.h"
#include "netlink.h"
#include "skcipher.h"

static const struct nla_policy hsmkey_nl_policy[HSMKEY_A_MAX + 1] = {
	[HSMKEY_A_KEY_ID]	= NLA_POLICY_EXACT_LEN(HSMKEY_ID_LEN),
	[HSMKEY_A_KEY_VERSION]	= NLA_POLICY_MIN(NLA_U32, 1),
	[HSMKEY_A_KEY_NAME]	= { .type = NLA_NUL_STRING,
				    .len = HSMKEY_NAME_MAX - 1 },
	[HSMKEY_A_KEY_TYPE]	= NLA_POLICY_RANGE(NLA_U32, 1, HSMKEY_TYPE_MAX),
	[HSMKEY_A_KEY_VERIFIER]	= NLA_POLICY_EXACT_LEN(HSMKEY_VERIFIER_LEN),
	[HSMKEY_A_KEY_MATERIAL]	= NLA_POLICY_RANGE(NLA_BINARY, 16,
						   HSMKEY_MATERIAL_MAX),
	/* Reply-only attributes. */
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
static int hsmkey_nl_admin(struct sk_buff *skb, struct genl_info *info)
{
	if (netlink_capable(skb, CAP_SYS_ADMIN))
		return 0;
	NL_SET_ERR_MSG(info->extack, "changing hsmkey keys needs CAP_SYS_ADMIN");
	return -EPERM;
}

/* A required attribute is missing: name it in the extack message. */
#define HSMKEY_NL_MISSING(info, attr)					\
	({								\
		struct genl_info *__info = (info);			\
		int __attr = (attr);					\
		bool __miss = !__info->attrs[__attr];			\
		if (__miss) {						\
			NL_SET_ERR_ATTR_MISS(__info->extack, NULL, __attr); \
			NL_SET_ERR_MSG(__info->extack,			\
				       "missing attribute " #attr);	\
		}							\
		__miss;							\
	})

static void hsmkey_nl_kid(struct genl_info *info, struct hsmkey_kid *kid)
{
	memcpy(kid->id, nla_data(info->attrs[HSMKEY_A_KEY_ID]), HSMKEY_ID_LEN);
	kid->version = nla_get_u32(info->attrs[HSMKEY_A_KEY_VERSION]);
}

static int hsmkey_nl_key_add(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *mat = info->attrs[HSMKEY_A_KEY_MATERIAL];
	struct hsmkey_key *key;
	struct hsmkey_kid kid;
	unsigned int keylen;
	u32 type;
	int err;

	err = hsmkey_nl_admin(skb, info);
	if (err)
		return err;
	if (HSMKEY_NL_MISSING(info, HSMKEY_A_KEY_ID) ||
	    HSMKEY_NL_MISSING(info, HSMKEY_A_KEY_VERSION) ||
	    HSMKEY_NL_MISSING(info, HSMKEY_A_KEY_NAME) ||
	    HSMKEY_NL_MISSING(info, HSMKEY_A_KEY_TYPE) ||
	    HSMKEY_NL_MISSING(info, HSMKEY_A_KEY_VERIFIER) ||
	    HSMKEY_NL_MISSING(info, HSMKEY_A_KEY_MATERIAL))
		return -EINVAL;

	type = nla_get_u32(info->attrs[HSMKEY_A_KEY_TYPE]);
	keylen = hsmkey_type_keylen(type);
	if (nla_len(mat) != keylen) {
		NL_SET_ERR_MSG_ATTR(info->extack, mat,
				    "material length does not match key type");
		return -EINVAL;
	}
	if (hsmkey_type_mode(type) == HSMKEY_MODE_XTS &&
	    !crypto_memneq(nla_data(mat), nla_data(mat) + keylen / 2,
			   keylen / 2)) {
		NL_SET_ERR_MSG_ATTR(info->extack, mat,
				    "XTS key halves are equal");
		return -EKEYREJECTED;
	}

	hsmkey_nl_kid(info, &kid);
	key = hsmkey_key_create(&kid, nla_data(info->attrs[HSMKEY_A_KEY_NAME]),
				type, nla_data(info->attrs[HSMKEY_A_KEY_VERIFIER]),
				nla_data(mat));
	if (IS_ERR(key))
		return PTR_ERR(key);
	err = hsmkey_key_insert(key);
	if (err) {
		if (err == -EEXIST)
			NL_SET_ERR_MSG(info->extack,
				       "key id and version already present");
		hsmkey_key_revoke(key);
		hsmkey_key_put(key);
	}
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

static int hsmkey_nl_fill_key(struct sk_buff *skb, u32 portid, u32 seq,
			      int flags, struct hsmkey_key *key)
{
	void *hdr;

	hdr = genlmsg_put(skb, portid, seq, &hsmkey_genl_family, flags,
			  HSMKEY_CMD_KEY_GET);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put(skb, HSMKEY_A_KEY_ID, HSMKEY_ID_LEN, key->kid.id) ||
	    nla_put_u32(skb, HSMKEY_A_KEY_VERSION, key->kid.version) ||
	    nla_put_string(skb, HSMKEY_A_KEY_NAME, key->name) ||
	    nla_put_u32(skb, HSMKEY_A_KEY_TYPE, key->type) ||
	    nla_put_u32(skb, HSMKEY_A_KEY_STATE, READ_ONCE(key->state)) ||
	    nla_put_u32(skb, HSMKEY_A_KEY_BINDINGS,
			atomic_read(&key->bindings))) {
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
			   hsmkey_skcipher_inner_driver(HSMKEY_MODE_CBC))) {
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
