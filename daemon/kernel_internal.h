/* SPDX-License-Identifier: GPL-2.0 */
/* One netlink socket to hsmkey.ko, shared by kernel.c and the files beside it. */
#ifndef HSMKEY_KERNEL_INTERNAL_H
#define HSMKEY_KERNEL_INTERNAL_H

#include <netlink/netlink.h>
#include <netlink/attr.h>
#include "key.h"

struct kernel {
	struct nl_sock *sk;
	int family;
	char errmsg[256];
};

/* kernel.c, for the files beside it (kernel_session.c). */
struct nl_msg *kernel_msg(struct kernel *k, int cmd, int flags);
int kernel_call(struct kernel *k, struct nl_msg *msg,
		int (*parse)(struct nlattr **tb, void *arg), void *arg);
int kernel_failsafe(struct kernel *k, struct nl_msg *msg);
/* @msg with @n keys, each wrapped under the transport key as attribute @attrs[i]. */
int kernel_change_wrapped(struct kernel *k, struct nl_msg *msg, const struct ks_key *keys,
			  const int *attrs, int n, int (*parse)(struct nlattr **tb, void *arg),
			  void *arg);

#endif
