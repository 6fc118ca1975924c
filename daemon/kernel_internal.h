/* SPDX-License-Identifier: GPL-2.0 */
/* One netlink socket to hsmkey.ko, shared by kernel.c and kernel_events.c. */
#ifndef HSMKEY_KERNEL_INTERNAL_H
#define HSMKEY_KERNEL_INTERNAL_H

#include <netlink/netlink.h>

struct kernel {
	struct nl_sock *sk;
	int family;
	char errmsg[256];
};

#endif
