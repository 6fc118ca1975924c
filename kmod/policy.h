/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _HSMKEY_POLICY_H
#define _HSMKEY_POLICY_H

#include <linux/types.h>
#include <linux/uidgid.h>
#include <net/netlink.h>
#include <linux/hsmkey.h>

enum hsmkey_mode {
	HSMKEY_MODE_NONE,
	HSMKEY_MODE_XTS,
	HSMKEY_MODE_CBC,
	HSMKEY_MODE_GCM,
};

/*
 * struct hsmkey_policy - who may bind a key version, for what, and when
 *
 * Ids are in the initial user namespace.  Zero in a limit means none.
 */
struct hsmkey_policy {
	u32 nuids;
	u32 ngids;
	u32 uids[HSMKEY_POLICY_IDS_MAX];
	u32 gids[HSMKEY_POLICY_IDS_MAX];
	u32 algs;			/* HSMKEY_ALG_*; 0: all that fit */
	u32 max_bindings;
	u32 min_taglen;			/* GCM: shortest tag allowed */
	u64 not_before;			/* seconds, CLOCK_REALTIME */
	u64 not_after;
	u64 max_bytes;
	u64 max_requests;
};

/* Who is binding: the effective uid and a group membership test. */
struct hsmkey_caller {
	kuid_t euid;
	bool (*in_group)(kgid_t gid, void *arg);
	void *arg;
};

extern const struct nla_policy hsmkey_policy_nl[HSMKEY_POLICY_A_MAX + 1];

void hsmkey_policy_default(struct hsmkey_policy *p, u32 type);
int hsmkey_policy_parse(const struct nlattr *nest, u32 type,
			struct hsmkey_policy *p, struct netlink_ext_ack *extack);
int hsmkey_policy_fill(struct sk_buff *skb, int attr,
		       const struct hsmkey_policy *p);
int hsmkey_policy_check(const struct hsmkey_policy *p, enum hsmkey_mode mode,
			time64_t now, unsigned int bindings,
			const struct hsmkey_caller *caller);
u32 hsmkey_mode_alg(enum hsmkey_mode mode);

#endif
