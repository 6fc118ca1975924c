/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _HSMKEY_ANCHOR_H
#define _HSMKEY_ANCHOR_H

#include <net/netlink.h>
#include <linux/hsmkey.h>

struct hsmkey_anchor {
	u64 seq;
	u8 head[HSMKEY_AUDIT_HEAD_LEN];
};

void hsmkey_anchor_get(const u8 *owner, struct hsmkey_anchor *out);
int hsmkey_anchor_set(const u8 *owner, const struct hsmkey_anchor *in,
		      struct netlink_ext_ack *extack);

#endif
