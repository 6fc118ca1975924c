/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _HSMKEY_DEV_H
#define _HSMKEY_DEV_H

#include <net/netlink.h>
#include "keys.h"

int hsmkey_dev_init(void);
void hsmkey_dev_enable(void);
void hsmkey_dev_exit(void);
int hsmkey_dev_check(const struct sk_buff *skb, bool fail_safe,
		     struct netlink_ext_ack *extack);
u32 hsmkey_dev_holder_pid(void);
int hsmkey_dev_unwrap(const struct sk_buff *skb, const struct hsmkey_kid *kid,
		      u32 type, unsigned int keylen,
		      const struct nlattr *wrapped, u8 *verifier,
		      u8 *material, struct netlink_ext_ack *extack);

#endif
