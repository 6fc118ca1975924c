/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _HSMKEY_NETLINK_H
#define _HSMKEY_NETLINK_H

int hsmkey_netlink_init(void);
void hsmkey_netlink_enable(void);
void hsmkey_netlink_exit(void);

#endif
