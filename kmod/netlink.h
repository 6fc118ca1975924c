/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _HSMKEY_NETLINK_H
#define _HSMKEY_NETLINK_H

#include "keys.h"

int hsmkey_netlink_init(void);
void hsmkey_nl_event(u32 type, const struct hsmkey_kid *kid, int err);
void hsmkey_netlink_exit(void);

#endif
