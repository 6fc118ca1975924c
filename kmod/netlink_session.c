// SPDX-License-Identifier: GPL-2.0
/*
 * The kTLS session commands of the "hsmkey" family (uapi/linux/hsmkey.h,
 * "kTLS session tokens"): SESSION_ADD, SESSION_GET and SESSION_REVOKE, and
 * INFO's counts of session keys.  The family and its table of operations
 * are netlink.c's.
 */
#include <net/genetlink.h>
#include "dev.h"
#include "ktls.h"
#include "netlink_internal.h"
#include "session.h"

const struct nla_policy hsmkey_nl_session_policy[HSMKEY_SESSION_A_MAX + 1] = {
	[HSMKEY_SESSION_A_WRAPPED] = { .type = NLA_BINARY },
	[HSMKEY_SESSION_A_WRAPPED_2] = { .type = NLA_BINARY },
	[HSMKEY_SESSION_A_TTL] = NLA_POLICY_RANGE(NLA_U32, 1,
						  HSMKEY_SESSION_TTL_MAX),
};

/* GET's: one handle, or two. */
const struct nla_policy hsmkey_nl_session_get_policy[HSMKEY_SESSION_A_MAX + 1] = {
	[HSMKEY_SESSION_A_HANDLE] = { .type = NLA_U32 },
	[HSMKEY_SESSION_A_HANDLE_2] = { .type = NLA_U32 },
};

/* REVOKE's: one handle (a second would be refused, not ignored). */
const struct nla_policy hsmkey_nl_session_handle_policy[HSMKEY_SESSION_A_MAX + 1] = {
	[HSMKEY_SESSION_A_HANDLE] = { .type = NLA_U32 },
	[HSMKEY_SESSION_A_HANDLE_2] = { .type = NLA_REJECT },
};

/* The session key of attribute @attr at @material: its length. */
static int hsmkey_nl_session_key(struct sk_buff *skb, struct genl_info *info,
				 int attr, u8 *material)
{
	static const struct hsmkey_kid kid = { .id = HSMKEY_SESSION_WRAP_ID };
	struct nlattr *wrapped = info->attrs[attr];
	u8 verifier[HSMKEY_VERIFIER_LEN];
	unsigned int len;
	int err;

	if (HSMKEY_NL_REQUIRE(info->extack, NULL, info->attrs, attr))
		return -EINVAL;
	len = nla_len(wrapped) - HSMKEY_WRAP_LEN(0);
	if (nla_len(wrapped) < HSMKEY_WRAP_LEN(0) || (len != 16 && len != 32)) {
		NL_SET_ERR_MSG_ATTR(info->extack, wrapped,
				    "a session key is 16 or 32 bytes: HSMKEY_WRAP_LEN(16) or HSMKEY_WRAP_LEN(32)");
		return -EINVAL;
	}
	err = hsmkey_dev_unwrap(skb, &kid, len == 16 ? HSMKEY_TYPE_AES_128_GCM :
				HSMKEY_TYPE_AES_256_GCM, len, wrapped,
				verifier, material, info->extack);
	if (!err && memchr_inv(verifier, 0, sizeof(verifier))) {
		NL_SET_ERR_MSG_ATTR(info->extack, wrapped,
				    "a session key's verifier part must be zero");
		err = -EINVAL;
	}
	memzero_explicit(verifier, sizeof(verifier));
	if (err)
		memzero_explicit(material, len);
	return err ?: len;
}

/* The session key of attribute @attr into the table: its token's length. */
static int hsmkey_nl_session_one(struct sk_buff *skb, struct genl_info *info,
				 int attr, unsigned int ttl, u8 *token,
				 u32 *handle)
{
	u8 material[32];
	int len, err;

	len = hsmkey_nl_session_key(skb, info, attr, material);
	if (len < 0)
		return len;
	err = hsmkey_session_add(material, len, ttl, token, handle);
	memzero_explicit(material, sizeof(material));
	if (err == -ENOSPC)
		NL_SET_ERR_MSG(info->extack, "too many session keys in the table");
	if (err == -EAGAIN)
		NL_SET_ERR_MSG(info->extack, "a hibernation is being prepared");
	return err ?: len;
}

/* ADD's reply: the token and handle of each key added. */
static int hsmkey_nl_session_added(struct genl_info *info, const u8 *token,
				   int len, u32 handle, const u8 *token2,
				   int len2, u32 handle2)
{
	struct sk_buff *msg;
	void *hdr;

	msg = hsmkey_nl_reply_new(info, HSMKEY_CMD_SESSION_ADD, &hdr);
	if (!msg)
		return -ENOMEM;
	if (!hdr || nla_put(msg, HSMKEY_SESSION_A_TOKEN, len, token) ||
	    nla_put_u32(msg, HSMKEY_SESSION_A_HANDLE, handle) ||
	    (len2 && (nla_put(msg, HSMKEY_SESSION_A_TOKEN_2, len2, token2) ||
		      nla_put_u32(msg, HSMKEY_SESSION_A_HANDLE_2, handle2)))) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

/* One session key, or two (WRAPPED_2): both or neither. */
int hsmkey_nl_session_add(struct sk_buff *skb, struct genl_info *info)
{
	unsigned int ttl = HSMKEY_SESSION_TTL_DEFAULT;
	u8 token[32], token2[32];
	u32 handle, handle2 = 0;
	int len, len2 = 0, err;

	if (!hsmkey_ktls_enabled()) {
		NL_SET_ERR_MSG(info->extack,
			       "session tokens need the module parameter ktls=1");
		return -EOPNOTSUPP;
	}
	if (info->attrs[HSMKEY_SESSION_A_TTL])
		ttl = nla_get_u32(info->attrs[HSMKEY_SESSION_A_TTL]);
	len = hsmkey_nl_session_one(skb, info, HSMKEY_SESSION_A_WRAPPED, ttl,
				    token, &handle);
	if (len < 0)
		return len;
	if (info->attrs[HSMKEY_SESSION_A_WRAPPED_2]) {
		len2 = hsmkey_nl_session_one(skb, info,
					     HSMKEY_SESSION_A_WRAPPED_2, ttl,
					     token2, &handle2);
		if (len2 < 0) {
			hsmkey_session_revoke(handle);	/* waiting: withdrawn */
			memzero_explicit(token, sizeof(token));
			return len2;
		}
	}
	err = hsmkey_nl_session_added(info, token, len, handle, token2, len2,
				      handle2);
	if (err) {	/* no one has the tokens: withdrawn, not left waiting */
		hsmkey_session_revoke(handle);
		if (len2)
			hsmkey_session_revoke(handle2);
	}
	memzero_explicit(token, sizeof(token));
	memzero_explicit(token2, sizeof(token2));
	return err;
}

/* HSMKEY_SESSION_A_HANDLE, required. */
static int hsmkey_nl_session_handle(struct genl_info *info, u32 *handle)
{
	if (HSMKEY_NL_REQUIRE(info->extack, NULL, info->attrs,
			      HSMKEY_SESSION_A_HANDLE))
		return -EINVAL;
	*handle = nla_get_u32(info->attrs[HSMKEY_SESSION_A_HANDLE]);
	return 0;
}

/* @attr's handle is not in the table. */
static int hsmkey_nl_session_gone(struct genl_info *info, int attr)
{
	NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[attr],
			    "no session key of that handle in the table");
	return -ENOENT;
}

/* The attributes of GET's reply about one key. */
struct hsmkey_nl_session_attrs {
	int handle, state, records;
};

static const struct hsmkey_nl_session_attrs hsmkey_nl_session_first = {
	HSMKEY_SESSION_A_HANDLE, HSMKEY_SESSION_A_STATE,
	HSMKEY_SESSION_A_RECORDS,
};

static const struct hsmkey_nl_session_attrs hsmkey_nl_session_second = {
	HSMKEY_SESSION_A_HANDLE_2, HSMKEY_SESSION_A_STATE_2,
	HSMKEY_SESSION_A_RECORDS_2,
};

/* GET's reply: the state and requests of one key. */
static int hsmkey_nl_session_put(struct sk_buff *msg,
				 const struct hsmkey_nl_session_attrs *a,
				 u32 handle, int state, u64 records)
{
	return nla_put_u32(msg, a->handle, handle) ?:
	       nla_put_u32(msg, a->state, state) ?:
	       nla_put_u64_64bit(msg, a->records, records,
				 HSMKEY_SESSION_A_PAD);
}

/*
 * What became of a session key (and of HANDLE_2's, if given): its state
 * and its tfm's requests.
 */
int hsmkey_nl_session_get(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *second = info->attrs[HSMKEY_SESSION_A_HANDLE_2];
	struct sk_buff *msg;
	u64 records = 0, records2 = 0;
	u32 handle, handle2 = 0;
	int state, state2 = 0;
	void *hdr;

	state = hsmkey_nl_session_handle(info, &handle);
	if (state)
		return state;
	state = hsmkey_session_state(handle, &records);
	if (second) {
		handle2 = nla_get_u32(second);
		state2 = hsmkey_session_state(handle2, &records2);
	}
	if (state < 0)
		return hsmkey_nl_session_gone(info, HSMKEY_SESSION_A_HANDLE);
	if (state2 < 0)
		return hsmkey_nl_session_gone(info, HSMKEY_SESSION_A_HANDLE_2);
	msg = hsmkey_nl_reply_new(info, HSMKEY_CMD_SESSION_GET, &hdr);
	if (!msg)
		return -ENOMEM;
	if (!hdr || hsmkey_nl_session_put(msg, &hsmkey_nl_session_first, handle,
					  state, records) ||
	    (second && hsmkey_nl_session_put(msg, &hsmkey_nl_session_second,
					     handle2, state2, records2))) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

/* A waiting session key withdrawn, a spent one's connection stopped. */
int hsmkey_nl_session_revoke(struct sk_buff *skb, struct genl_info *info)
{
	u32 handle;
	int err;

	err = hsmkey_nl_session_handle(info, &handle);
	if (err)
		return err;
	if (hsmkey_session_revoke(handle))
		return hsmkey_nl_session_gone(info, HSMKEY_SESSION_A_HANDLE);
	return 0;
}

/* INFO's HSMKEY_INFO_A_SESSIONS and _SESSIONS_BOUND. */
int hsmkey_nl_put_sessions(struct sk_buff *msg)
{
	unsigned int bound, waiting = hsmkey_session_count(&bound);

	return nla_put_u32(msg, HSMKEY_INFO_A_SESSIONS, waiting) ?:
	       nla_put_u32(msg, HSMKEY_INFO_A_SESSIONS_BOUND, bound);
}
