// SPDX-License-Identifier: GPL-2.0
/*
 * Per-key policy: parsed from HSMKEY_KEY_A_POLICY, reported back in
 * replies, and evaluated at bind time (see the errno table in
 * uapi/linux/hsmkey.h).  Pure functions of their arguments, so that KUnit
 * can drive them with any caller and any time.
 */
#include <linux/cred.h>
#include <linux/user_namespace.h>
#include "policy.h"

static int hsmkey_policy_ids_ok(const struct nlattr *attr,
				struct netlink_ext_ack *extack)
{
	/* Absent means "anyone"; present must name someone. */
	if (!nla_len(attr)) {
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "an empty id list would allow everyone: omit it instead");
		return -EINVAL;
	}
	if (nla_len(attr) % sizeof(u32)) {
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "id list length is not a multiple of 4");
		return -EINVAL;
	}
	return 0;
}

/* Seconds since the epoch: beyond 2^63 they would read as negative. */
static struct netlink_range_validation hsmkey_policy_time_range = {
	.max = HSMKEY_TIME_MAX,
};

const struct nla_policy hsmkey_policy_nl[HSMKEY_POLICY_A_MAX + 1] = {
	[HSMKEY_POLICY_A_UIDS] = NLA_POLICY_VALIDATE_FN(NLA_BINARY,
						 hsmkey_policy_ids_ok,
						 HSMKEY_POLICY_IDS_MAX * 4),
	[HSMKEY_POLICY_A_GIDS] = NLA_POLICY_VALIDATE_FN(NLA_BINARY,
						 hsmkey_policy_ids_ok,
						 HSMKEY_POLICY_IDS_MAX * 4),
	[HSMKEY_POLICY_A_ALGS] = NLA_POLICY_MASK(NLA_U32, HSMKEY_ALG_XTS |
					  HSMKEY_ALG_CBC | HSMKEY_ALG_GCM),
	[HSMKEY_POLICY_A_NOT_BEFORE] = NLA_POLICY_FULL_RANGE(NLA_U64,
						&hsmkey_policy_time_range),
	[HSMKEY_POLICY_A_NOT_AFTER] = NLA_POLICY_FULL_RANGE(NLA_U64,
						&hsmkey_policy_time_range),
	[HSMKEY_POLICY_A_MAX_BYTES] = { .type = NLA_U64 },
	[HSMKEY_POLICY_A_MAX_REQUESTS] = { .type = NLA_U64 },
	[HSMKEY_POLICY_A_MAX_BINDINGS] = { .type = NLA_U32 },
	[HSMKEY_POLICY_A_MIN_TAGLEN] = NLA_POLICY_RANGE(NLA_U32, 4, 16),
	[HSMKEY_POLICY_A_PAD] = { .type = NLA_REJECT },
};

u32 hsmkey_mode_alg(enum hsmkey_mode mode)
{
	switch (mode) {
	case HSMKEY_MODE_XTS:
		return HSMKEY_ALG_XTS;
	case HSMKEY_MODE_CBC:
		return HSMKEY_ALG_CBC;
	case HSMKEY_MODE_GCM:
		return HSMKEY_ALG_GCM;
	default:
		return 0;
	}
}

static bool hsmkey_type_is_gcm(u32 type)
{
	return type == HSMKEY_TYPE_AES_128_GCM ||
	       type == HSMKEY_TYPE_AES_256_GCM;
}

/*
 * No restriction, except what every GCM key has: a request limit (random
 * nonces) and full-length tags.
 */
void hsmkey_policy_default(struct hsmkey_policy *p, u32 type)
{
	memset(p, 0, sizeof(*p));
	if (hsmkey_type_is_gcm(type)) {
		p->max_requests = HSMKEY_GCM_MAX_REQUESTS;
		p->min_taglen = HSMKEY_GCM_MIN_TAGLEN;
	}
}

static u32 hsmkey_policy_ids(const struct nlattr *attr, u32 *ids)
{
	if (!attr)
		return 0;
	memcpy(ids, nla_data(attr), nla_len(attr));
	return nla_len(attr) / sizeof(u32);
}

/* @nest has passed hsmkey_policy_nl; the result replaces *@p on success. */
int hsmkey_policy_parse(const struct nlattr *nest, u32 type,
			struct hsmkey_policy *p, struct netlink_ext_ack *extack)
{
	struct nlattr *tb[HSMKEY_POLICY_A_MAX + 1];
	struct hsmkey_policy np;
	int err;

	err = nla_parse_nested(tb, HSMKEY_POLICY_A_MAX, nest, hsmkey_policy_nl,
			       extack);
	if (err)
		return err;

	hsmkey_policy_default(&np, type);
	np.nuids = hsmkey_policy_ids(tb[HSMKEY_POLICY_A_UIDS], np.uids);
	np.ngids = hsmkey_policy_ids(tb[HSMKEY_POLICY_A_GIDS], np.gids);
	if (tb[HSMKEY_POLICY_A_ALGS])
		np.algs = nla_get_u32(tb[HSMKEY_POLICY_A_ALGS]);
	if (tb[HSMKEY_POLICY_A_NOT_BEFORE])
		np.not_before = nla_get_u64(tb[HSMKEY_POLICY_A_NOT_BEFORE]);
	if (tb[HSMKEY_POLICY_A_NOT_AFTER])
		np.not_after = nla_get_u64(tb[HSMKEY_POLICY_A_NOT_AFTER]);
	if (tb[HSMKEY_POLICY_A_MAX_BYTES])
		np.max_bytes = nla_get_u64(tb[HSMKEY_POLICY_A_MAX_BYTES]);
	if (tb[HSMKEY_POLICY_A_MAX_REQUESTS] &&
	    nla_get_u64(tb[HSMKEY_POLICY_A_MAX_REQUESTS]))
		np.max_requests = nla_get_u64(tb[HSMKEY_POLICY_A_MAX_REQUESTS]);
	if (tb[HSMKEY_POLICY_A_MAX_BINDINGS])
		np.max_bindings = nla_get_u32(tb[HSMKEY_POLICY_A_MAX_BINDINGS]);
	if (tb[HSMKEY_POLICY_A_MIN_TAGLEN] && !hsmkey_type_is_gcm(type)) {
		NL_SET_ERR_MSG_ATTR(extack, tb[HSMKEY_POLICY_A_MIN_TAGLEN],
				    "a minimum tag length is for GCM keys only");
		return -EINVAL;
	}
	if (tb[HSMKEY_POLICY_A_MIN_TAGLEN])
		np.min_taglen = nla_get_u32(tb[HSMKEY_POLICY_A_MIN_TAGLEN]);

	if (np.not_before && np.not_after && np.not_before > np.not_after) {
		NL_SET_ERR_MSG_ATTR(extack, tb[HSMKEY_POLICY_A_NOT_AFTER],
				    "not-after is before not-before");
		return -EINVAL;
	}
	if (hsmkey_type_is_gcm(type) &&
	    np.max_requests > HSMKEY_GCM_MAX_REQUESTS) {
		NL_SET_ERR_MSG_ATTR(extack, tb[HSMKEY_POLICY_A_MAX_REQUESTS],
				    "a GCM key allows at most 2^32 requests");
		return -EINVAL;
	}
	*p = np;
	return 0;
}

int hsmkey_policy_fill(struct sk_buff *skb, int attr,
		       const struct hsmkey_policy *p)
{
	struct nlattr *nest = nla_nest_start(skb, attr);

	if (!nest)
		return -EMSGSIZE;
	if ((p->nuids && nla_put(skb, HSMKEY_POLICY_A_UIDS, p->nuids * sizeof(u32),
				 p->uids)) ||
	    (p->ngids && nla_put(skb, HSMKEY_POLICY_A_GIDS, p->ngids * sizeof(u32),
				 p->gids)) ||
	    nla_put_u32(skb, HSMKEY_POLICY_A_ALGS, p->algs) ||
	    nla_put_u64_64bit(skb, HSMKEY_POLICY_A_NOT_BEFORE, p->not_before,
			      HSMKEY_POLICY_A_PAD) ||
	    nla_put_u64_64bit(skb, HSMKEY_POLICY_A_NOT_AFTER, p->not_after,
			      HSMKEY_POLICY_A_PAD) ||
	    nla_put_u64_64bit(skb, HSMKEY_POLICY_A_MAX_BYTES, p->max_bytes,
			      HSMKEY_POLICY_A_PAD) ||
	    nla_put_u64_64bit(skb, HSMKEY_POLICY_A_MAX_REQUESTS, p->max_requests,
			      HSMKEY_POLICY_A_PAD) ||
	    nla_put_u32(skb, HSMKEY_POLICY_A_MAX_BINDINGS, p->max_bindings) ||
	    (p->min_taglen &&
	     nla_put_u32(skb, HSMKEY_POLICY_A_MIN_TAGLEN, p->min_taglen))) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

static bool hsmkey_policy_caller_ok(const struct hsmkey_policy *p,
				    const struct hsmkey_caller *c)
{
	u32 i;

	if (!p->nuids && !p->ngids)
		return true;
	for (i = 0; i < p->nuids; i++)
		if (uid_eq(c->euid, make_kuid(&init_user_ns, p->uids[i])))
			return true;
	for (i = 0; i < p->ngids; i++) {
		kgid_t gid = make_kgid(&init_user_ns, p->gids[i]);

		if (gid_valid(gid) && c->in_group(gid, c->arg))
			return true;
	}
	return false;
}

/*
 * May @caller bind a key with policy @p for @mode at @now, when the key
 * has @bindings already?  The policy part of the errno table, in its order.
 */
int hsmkey_policy_check(const struct hsmkey_policy *p, enum hsmkey_mode mode,
			time64_t now, unsigned int bindings,
			const struct hsmkey_caller *caller)
{
	if (p->algs && !(p->algs & hsmkey_mode_alg(mode)))
		return -EKEYREJECTED;
	if ((p->not_before && now < (time64_t)p->not_before) ||
	    (p->not_after && now >= (time64_t)p->not_after))
		return -EKEYEXPIRED;
	if (!hsmkey_policy_caller_ok(p, caller))
		return -EACCES;
	if (p->max_bindings && bindings >= p->max_bindings)
		return -EUSERS;
	return 0;
}
