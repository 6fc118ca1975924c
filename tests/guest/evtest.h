/* SPDX-License-Identifier: GPL-2.0 */
/* Listening to the hsmkey "events" group in the guest tests. */
#ifndef HSMKEY_EVTEST_H
#define HSMKEY_EVTEST_H

#include <sys/time.h>
#include "nltest.h"

/* Events: a listener on the "events" group sees a key's life. */
struct ev {
	uint32_t type, version, uid, pid, err;
	uint64_t seq, suppressed;
	uint8_t id[HSMKEY_ID_LEN];
	char comm[16];
};

struct evlog {
	struct ev ev[32];
	int n;
	uint8_t raw[16384];
	size_t rawlen;
};

static inline int ev_collect(struct nl_msg *msg, void *arg)
{
	struct evlog *log = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct nlattr *tb[HSMKEY_EVENT_A_MAX + 1];
	struct ev *e;

	if (log->rawlen + nlh->nlmsg_len <= sizeof(log->raw)) {
		memcpy(log->raw + log->rawlen, nlh, nlh->nlmsg_len);
		log->rawlen += nlh->nlmsg_len;
	}
	if (log->n == 32 || genlmsg_parse(nlh, 0, tb, HSMKEY_EVENT_A_MAX, NULL) < 0 ||
	    !tb[HSMKEY_EVENT_A_TYPE] || !tb[HSMKEY_EVENT_A_KEY_ID] ||
	    nla_len(tb[HSMKEY_EVENT_A_KEY_ID]) != HSMKEY_ID_LEN)
		return NL_SKIP;
	e = &log->ev[log->n++];
	memset(e, 0, sizeof(*e));
#define EV_GET(attr, get) (tb[attr] ? get(tb[attr]) : 0)
	e->type = nla_get_u32(tb[HSMKEY_EVENT_A_TYPE]);
	e->seq = EV_GET(HSMKEY_EVENT_A_SEQ, nla_get_u64);
	e->suppressed = EV_GET(HSMKEY_EVENT_A_SUPPRESSED, nla_get_u64);
	e->version = EV_GET(HSMKEY_EVENT_A_KEY_VERSION, nla_get_u32);
	e->uid = EV_GET(HSMKEY_EVENT_A_UID, nla_get_u32);
	e->pid = EV_GET(HSMKEY_EVENT_A_PID, nla_get_u32);
	e->err = EV_GET(HSMKEY_EVENT_A_ERRNO, nla_get_u32);
#undef EV_GET
	memcpy(e->id, nla_data(tb[HSMKEY_EVENT_A_KEY_ID]), HSMKEY_ID_LEN);
	if (tb[HSMKEY_EVENT_A_COMM])
		snprintf(e->comm, sizeof(e->comm), "%s", nla_get_string(tb[HSMKEY_EVENT_A_COMM]));
	return NL_OK;
}

/* A socket joined to the events group (@grp: resolved in the initial netns). */
static inline struct nl_sock *ev_listen(int grp, int *err)
{
	struct timeval tv = { .tv_sec = 2 };
	struct nl_sock *sk = nl_socket_alloc();

	*err = 0;
	if (!sk || genl_connect(sk)) {
		*err = -ECONNREFUSED;
		return sk;
	}
	nl_socket_disable_seq_check(sk);
	setsockopt(nl_socket_get_fd(sk), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP,
		       &grp, sizeof(grp)))
		*err = -errno;
	return sk;
}

static inline int ev_group(void)
{
	struct nl_sock *sk = nl_socket_alloc();
	int grp = genl_connect(sk) ? -1 :
		  genl_ctrl_resolve_grp(sk, HSMKEY_GENL_NAME, HSMKEY_GENL_MCGRP_EVENTS);

	nl_socket_free(sk);
	return grp;
}

static inline int ev_any_seq(struct nl_msg *msg, void *arg)
{
	(void)msg;
	(void)arg;
	return NL_OK;
}

/* Read until @want events arrived or the socket has been quiet 2 s. */
static inline void ev_read(struct nl_sock *sk, struct evlog *log, int want)
{
	struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);

	/* Events are not replies: they carry no sequence number of ours. */
	nl_cb_set(cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, ev_any_seq, NULL);
	nl_cb_set(cb, NL_CB_MSG_IN, NL_CB_CUSTOM, ev_collect, log);
	while (log->n < want && nl_recvmsgs(sk, cb) >= 0)
		;
	nl_cb_put(cb);
}

#endif
