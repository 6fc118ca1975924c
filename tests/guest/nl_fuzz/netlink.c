// SPDX-License-Identifier: GPL-2.0
/*
 * Talking to the kernel: a socket with extended ACKs, one request and its
 * whole reply (ACK, error or dump), attribute walking, and the family's id.
 */
#include "nl_fuzz.h"

uint16_t family_id;
uint32_t next_seq = 1;
static uint8_t rbuf[256 * 1024] __attribute__((aligned(8)));

int nl_open(void)
{
	struct timeval tv = { .tv_sec = 5 };
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int one = 1, rcvbuf = 1 << 20, sndbuf = 512 << 10;
	int fd;

	fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC);
	if (fd < 0)
		return -1;
	/* A reply that does not come within 5 s is a failure, not a hang. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	/* Errors name the bad attribute; acks need not echo 64 KiB back. */
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	/* The largest message (MSG_MAX) must fit the send buffer. */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	return fd;
}

/* The extack message of an error, for diagnostics. */
static void ext_msg(const struct nlmsghdr *nlh, struct reply *r)
{
	const struct nlmsgerr *e = NLMSG_DATA(nlh);
	size_t off = sizeof(*e), len;
	const struct nlattr *a;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += NLMSG_ALIGN(e->msg.nlmsg_len) - NLMSG_HDRLEN;
	len = nlh->nlmsg_len - NLMSG_HDRLEN;
	while (off + NLA_HDRLEN <= len) {
		a = (const struct nlattr *)((const uint8_t *)e + off);
		if (a->nla_len < NLA_HDRLEN || off + a->nla_len > len)
			return;
		if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
			snprintf(r->ext, sizeof(r->ext), "%.*s",
				 (int)(a->nla_len - NLA_HDRLEN),
				 (const char *)a + NLA_HDRLEN);
			return;
		}
		off += NLA_ALIGN(a->nla_len);
	}
}

/*
 * Send @m and read until its ACK, error or (dumps) DONE.  Returns 0 when
 * the final message came, with its errno in r->err; -1 on a send error or
 * a timeout (r->err then holds -errno of that).
 */
int nl_transact(int fd, struct msg *m, data_cb cb, void *ctx,
		struct reply *r)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct nlmsghdr *nlh = msg_nlh(m);
	uint32_t seq = next_seq++;

	memset(r, 0, sizeof(*r));
	nlh->nlmsg_len = (uint32_t)m->len;
	nlh->nlmsg_seq = seq;
	nlh->nlmsg_pid = 0;
	if (sendto(fd, m->buf, m->len, 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0) {
		r->err = -errno;
		return -1;
	}
	for (;;) {
		ssize_t n = recv(fd, rbuf, sizeof(rbuf), 0);
		int left = (int)n;
		struct nlmsghdr *h;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r->err = -errno;
			return -1;
		}
		for (h = (struct nlmsghdr *)rbuf; NLMSG_OK(h, left);
		     h = NLMSG_NEXT(h, left)) {
			/* Leftovers of an earlier, timed-out request. */
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(int)))
					r->bad_type = true;
				else
					r->err = e->error;
				ext_msg(h, r);
				return 0;
			}
			if (h->nlmsg_type == NLMSG_DONE) {
				if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int)))
					r->err = *(const int *)NLMSG_DATA(h);
				return 0;
			}
			if (h->nlmsg_type != family_id &&
			    h->nlmsg_type != GENL_ID_CTRL) {
				r->bad_type = true;
				continue;
			}
			r->ndata++;
			if (cb)
				cb(h, ctx);
		}
	}
}

const void *attr_data(const struct nlattr *a)
{
	return (const uint8_t *)a + NLA_HDRLEN;
}

size_t attr_len(const struct nlattr *a)
{
	return a->nla_len - NLA_HDRLEN;
}

uint64_t attr_num(const struct nlattr *a)
{
	uint64_t v = 0;
	uint32_t v32 = 0;

	if (attr_len(a) == 8)
		memcpy(&v, attr_data(a), 8);
	else if (attr_len(a) == 4) {
		memcpy(&v32, attr_data(a), 4);
		v = v32;
	}
	return v;
}

/* The genetlink payload of a data message. */
const uint8_t *genl_attrs(const struct nlmsghdr *nlh, size_t *len)
{
	if (nlh->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN)) {
		*len = 0;
		return NULL;
	}
	*len = nlh->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);
	return (const uint8_t *)NLMSG_DATA(nlh) + GENL_HDRLEN;
}

static void family_cb(const struct nlmsghdr *nlh, void *ctx)
{
	const struct nlattr *a;
	const uint8_t *p;
	size_t len;

	p = genl_attrs(nlh, &len);
	for_each_attr(a, p, len)
		if (a->nla_type == CTRL_ATTR_FAMILY_ID && attr_len(a) >= 2)
			memcpy(ctx, attr_data(a), 2);
}

struct msg mbuf;		/* the message being built and sent */

/* The family's id, from the controller; 0 if it is not registered. */
uint16_t resolve_family(int fd)
{
	struct reply r;
	uint16_t id = 0;

	msg_init(&mbuf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0);
	msg_genl(&mbuf)->version = 1;
	msg_str(&mbuf, CTRL_ATTR_FAMILY_NAME, HSMKEY_GENL_NAME);
	if (nl_transact(fd, &mbuf, family_cb, &id, &r) || r.err)
		return 0;
	return id;
}
