// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel's events group (see kernel.h): a socket of its own that
 * joins it, and the reading of events, which takes only what the kernel
 * itself sent.
 */
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include "kernel.h"
#include "kernel_internal.h"
#include "util.h"

static const struct nla_policy event_policy[HSMKEY_EVENT_A_MAX + 1] = {
	[HSMKEY_EVENT_A_TYPE] = { .type = NLA_U32 },
	[HSMKEY_EVENT_A_SEQ] = { .type = NLA_U64 },
	[HSMKEY_EVENT_A_SUPPRESSED] = { .type = NLA_U64 },
	[HSMKEY_EVENT_A_KEY_ID] = { .minlen = HSMKEY_ID_LEN, .maxlen = HSMKEY_ID_LEN },
	[HSMKEY_EVENT_A_KEY_VERSION] = { .type = NLA_U32 },
	[HSMKEY_EVENT_A_UID] = { .type = NLA_U32 },
	[HSMKEY_EVENT_A_PID] = { .type = NLA_U32 },
	[HSMKEY_EVENT_A_COMM] = { .type = NLA_NUL_STRING },
	[HSMKEY_EVENT_A_ERRNO] = { .type = NLA_U32 },
};

int kernel_events_open(struct kernel **out)
{
	struct kernel *k;
	int grp, r, size = 1 << 20;

	r = kernel_open(&k);
	if (r)
		return r;
	grp = genl_ctrl_resolve_grp(k->sk, HSMKEY_GENL_NAME, HSMKEY_GENL_MCGRP_EVENTS);
	if (grp < 0 || nl_socket_add_membership(k->sk, grp)) {
		kernel_close(k);
		return -EPERM;
	}
	nl_socket_disable_seq_check(k->sk);
	nl_socket_set_nonblocking(k->sk);
	/* Room for bursts; an overrun still shows as a gap in the sequence. */
	setsockopt(nl_socket_get_fd(k->sk), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	*out = k;
	return 0;
}

int kernel_events_fd(struct kernel *k)
{
	return nl_socket_get_fd(k->sk);
}

struct event_call {
	int (*fn)(const struct kernel_event *e, void *arg);
	void *arg;
	int family;
	uint32_t forged, forged_port;	/* messages not from the kernel */
};

/*
 * Every message, before libnl looks at it: only the kernel (port 0)
 * speaks for the module.  Any local process may send a netlink unicast to
 * this socket's port; a forged event would be written into the audit log
 * as the kernel's, or open a false gap in its sequence (an "events-lost"
 * record and a reconciliation), and a forged error or overrun message
 * would make the daemon leave the events group.
 */
static int from_kernel(struct nl_msg *msg, void *arg)
{
	const struct sockaddr_nl *src = nlmsg_get_src(msg);
	struct event_call *c = arg;

	if (src && src->nl_pid == 0 && nlmsg_hdr(msg)->nlmsg_type == c->family)
		return NL_OK;
	if (!c->forged++)
		c->forged_port = src ? src->nl_pid : 0;
	return NL_SKIP;
}

static int on_event(struct nl_msg *msg, void *arg)
{
	struct event_call *c = arg;
	struct nlattr *tb[HSMKEY_EVENT_A_MAX + 1];
	struct kernel_event e = { 0 };

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, HSMKEY_EVENT_A_MAX,
			  (struct nla_policy *)event_policy) < 0 ||
	    !tb[HSMKEY_EVENT_A_TYPE] || !tb[HSMKEY_EVENT_A_SEQ] || !tb[HSMKEY_EVENT_A_KEY_ID])
		return NL_SKIP;
	e.type = nla_get_u32(tb[HSMKEY_EVENT_A_TYPE]);
	e.seq = nla_get_u64(tb[HSMKEY_EVENT_A_SEQ]);
	memcpy(e.id, nla_data(tb[HSMKEY_EVENT_A_KEY_ID]), HSMKEY_ID_LEN);
	if (tb[HSMKEY_EVENT_A_SUPPRESSED])
		e.suppressed = nla_get_u64(tb[HSMKEY_EVENT_A_SUPPRESSED]);
	if (tb[HSMKEY_EVENT_A_KEY_VERSION])
		e.version = nla_get_u32(tb[HSMKEY_EVENT_A_KEY_VERSION]);
	if (tb[HSMKEY_EVENT_A_UID])
		e.uid = nla_get_u32(tb[HSMKEY_EVENT_A_UID]);
	if (tb[HSMKEY_EVENT_A_PID])
		e.pid = nla_get_u32(tb[HSMKEY_EVENT_A_PID]);
	if (tb[HSMKEY_EVENT_A_ERRNO])
		e.err = nla_get_u32(tb[HSMKEY_EVENT_A_ERRNO]);
	if (tb[HSMKEY_EVENT_A_COMM])
		snprintf(e.comm, sizeof(e.comm), "%s",
			 nla_get_string(tb[HSMKEY_EVENT_A_COMM]));
	c->fn(&e, c->arg);
	return NL_OK;
}

static int any_seq(struct nl_msg *msg, void *arg)
{
	(void)msg;
	(void)arg;
	return NL_OK;
}

int kernel_events_read(struct kernel *k, int (*fn)(const struct kernel_event *e, void *arg),
		       void *arg)
{
	struct event_call c = { .fn = fn, .arg = arg, .family = k->family };
	struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
	static time_t warned;
	int r;

	if (!cb)
		return -ENOMEM;
	/* Events are not replies: they carry no sequence number of ours. */
	nl_cb_set(cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, any_seq, NULL);
	nl_cb_set(cb, NL_CB_MSG_IN, NL_CB_CUSTOM, from_kernel, &c);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_event, &c);
	do
		r = nl_recvmsgs(k->sk, cb);
	while (r >= 0);
	nl_cb_put(cb);
	/* At most one warning a minute: the sender could flood the log too. */
	if (c.forged && time(NULL) - warned >= 60) {
		warned = time(NULL);
		log_warn("ignored %u message(s) on the kernel's events socket that did not come from the kernel (first from netlink port %u)",
			 c.forged, c.forged_port);
	}
	/* libnl reports the socket's ENOBUFS as NLE_NOMEM. */
	if (r == -NLE_NOMEM)
		return -ENOBUFS;
	return r == -NLE_AGAIN ? 0 : -EIO;
}
