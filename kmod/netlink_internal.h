/* SPDX-License-Identifier: GPL-2.0 */
/* What the files of the "hsmkey" generic netlink family share. */
#ifndef _HSMKEY_NETLINK_INTERNAL_H
#define _HSMKEY_NETLINK_INTERNAL_H

#include <net/genetlink.h>
#include <linux/hsmkey.h>

/* A required attribute is missing: say which, by number and by name. */
#define HSMKEY_NL_REQUIRE(extack, nest, tb, attr) ({			\
	struct netlink_ext_ack *_hk_ext = (extack);			\
	bool __missing = NL_REQ_ATTR_CHECK(_hk_ext, nest, tb, attr);	\
	if (__missing)							\
		NL_SET_ERR_MSG(_hk_ext, "missing attribute " #attr);	\
	__missing;							\
})

struct sk_buff *hsmkey_nl_reply_new(struct genl_info *info, u8 cmd, void **hdr);

/* netlink_session.c */
extern const struct nla_policy hsmkey_nl_session_policy[HSMKEY_SESSION_A_MAX + 1];
extern const struct nla_policy hsmkey_nl_session_get_policy[HSMKEY_SESSION_A_MAX + 1];
extern const struct nla_policy hsmkey_nl_session_handle_policy[HSMKEY_SESSION_A_MAX + 1];
int hsmkey_nl_session_add(struct sk_buff *skb, struct genl_info *info);
int hsmkey_nl_session_get(struct sk_buff *skb, struct genl_info *info);
int hsmkey_nl_session_revoke(struct sk_buff *skb, struct genl_info *info);
int hsmkey_nl_put_sessions(struct sk_buff *msg);

#endif
