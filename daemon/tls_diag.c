// SPDX-License-Identifier: GPL-2.0
/*
 * A TCP socket's kTLS configuration, as the kernel reports it through
 * sock_diag (INET_DIAG_ULP_INFO: "tls", then TLS_INFO_TXCONF and
 * TLS_INFO_RXCONF).  ktls.c asks after it has set a socket up with session
 * tokens: only TLS_CONF_SW in both directions means that hsmkey.ko's
 * gcm(aes), and no NIC, holds the session keys.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tls.h>
#include "tls_diag.h"
#include "util.h"

#define DIAG_TIMEOUT_MS	5000

struct diag_request {
	struct nlmsghdr nlh;
	struct inet_diag_req_v2 r;
};

/* The request for @fd's own entry: its addresses, ports and cookie. */
static int diag_request(int fd, struct diag_request *q)
{
	struct sockaddr_storage me, peer;
	socklen_t ml = sizeof(me), pl = sizeof(peer), cl;
	uint64_t cookie;

	if (getsockname(fd, (struct sockaddr *)&me, &ml) ||
	    getpeername(fd, (struct sockaddr *)&peer, &pl))
		return -errno;
	cl = sizeof(cookie);
	if (me.ss_family != AF_INET && me.ss_family != AF_INET6)
		return -EAFNOSUPPORT;
	/* The cookie names this socket and no other (the kernel checks it). */
	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &cl))
		return -errno;
	memset(q, 0, sizeof(*q));
	q->nlh.nlmsg_len = sizeof(*q);
	q->nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q->nlh.nlmsg_flags = NLM_F_REQUEST;
	q->r.sdiag_family = me.ss_family;
	q->r.sdiag_protocol = IPPROTO_TCP;
	q->r.idiag_states = ~0U;
	q->r.idiag_ext = 1 << (INET_DIAG_INFO - 1);
	q->r.id.idiag_cookie[0] = (uint32_t)cookie;
	q->r.id.idiag_cookie[1] = (uint32_t)(cookie >> 32);
	if (me.ss_family == AF_INET) {
		const struct sockaddr_in *a = (void *)&me, *b = (void *)&peer;

		q->r.id.idiag_sport = a->sin_port;
		q->r.id.idiag_dport = b->sin_port;
		memcpy(q->r.id.idiag_src, &a->sin_addr, 4);
		memcpy(q->r.id.idiag_dst, &b->sin_addr, 4);
	} else {
		const struct sockaddr_in6 *a = (void *)&me, *b = (void *)&peer;

		q->r.id.idiag_sport = a->sin6_port;
		q->r.id.idiag_dport = b->sin6_port;
		memcpy(q->r.id.idiag_src, &a->sin6_addr, 16);
		memcpy(q->r.id.idiag_dst, &b->sin6_addr, 16);
	}
	return 0;
}

/* The attributes in [@a, @end): the first of @type, or NULL. */
static const struct nlattr *attr_find(const struct nlattr *a, const void *end, int type)
{
	while ((const char *)a + NLA_HDRLEN <= (const char *)end && a->nla_len >= NLA_HDRLEN &&
	       (const char *)a + a->nla_len <= (const char *)end) {
		if ((a->nla_type & NLA_TYPE_MASK) == type)
			return a;
		a = (const void *)((const char *)a + NLA_ALIGN(a->nla_len));
	}
	return NULL;
}

static const void *attr_end(const struct nlattr *a)
{
	return (const char *)a + a->nla_len;
}

static const void *attr_data(const struct nlattr *a)
{
	return (const char *)a + NLA_HDRLEN;
}

/* From one inet_diag_msg: the TLS configuration, both directions. */
static int parse_entry(const struct nlmsghdr *h, struct tls_diag *out)
{
	const struct inet_diag_msg *m = NLMSG_DATA(h);
	const struct nlattr *ulp, *name, *tls, *tx, *rx;
	const void *end = (const char *)h + h->nlmsg_len;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return -EPROTO;
	ulp = attr_find((const void *)(m + 1), end, INET_DIAG_ULP_INFO);
	if (!ulp)
		return -ENOENT;		/* no ULP on the socket */
	name = attr_find(attr_data(ulp), attr_end(ulp), INET_ULP_INFO_NAME);
	if (!name || name->nla_len != NLA_HDRLEN + sizeof("tls") ||
	    memcmp(attr_data(name), "tls", sizeof("tls")))
		return -ENOENT;
	tls = attr_find(attr_data(ulp), attr_end(ulp), INET_ULP_INFO_TLS);
	if (!tls)
		return -EPROTO;
	tx = attr_find(attr_data(tls), attr_end(tls), TLS_INFO_TXCONF);
	rx = attr_find(attr_data(tls), attr_end(tls), TLS_INFO_RXCONF);
	if (!tx || !rx || tx->nla_len < NLA_HDRLEN + 2 || rx->nla_len < NLA_HDRLEN + 2)
		return -EPROTO;
	memcpy(&out->txconf, attr_data(tx), 2);
	memcpy(&out->rxconf, attr_data(rx), 2);
	return 0;
}

/* One message from the kernel (port 0) into @buf: its length, or -errno. */
static ssize_t diag_recv(int nl, char *buf, size_t len)
{
	struct sockaddr_nl from;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr m = { .msg_name = &from, .msg_namelen = sizeof(from),
			    .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	do {
		n = recvmsg(nl, &m, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* Not the kernel's, or cut short: the socket is not to be trusted further. */
	if (m.msg_namelen != sizeof(from) || from.nl_pid != 0 || (m.msg_flags & MSG_TRUNC))
		return -EBADMSG;
	return n;
}

/*
 * Read the one answer to request @seq (an entry, then DONE, or an error)
 * by @deadline (ms, CLOCK_MONOTONIC): replies to earlier requests that
 * came too late are skipped, but not for ever.
 */
static int diag_read(int nl, uint32_t seq, int64_t deadline, struct tls_diag *out)
{
	char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
	int r = -ENOENT, found = 0;

	for (;;) {
		ssize_t n = diag_recv(nl, buf, sizeof(buf));
		struct nlmsghdr *h;

		if (n < 0)
			return (int)n;
		for (h = (void *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != seq)
				continue;	/* an earlier request's, late */
			if (h->nlmsg_type == NLMSG_DONE)
				return found ? r : -ENOENT;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				return e->error ? e->error : -EPROTO;
			}
			if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY && !found) {
				r = parse_entry(h, out);
				found = 1;
			}
		}
		if (found)
			return r;	/* a single-socket request has no DONE */
		if (monotonic_ms() >= deadline)
			return -ETIMEDOUT;
	}
}

/*
 * The calling thread's sock_diag socket, kept from one call to the next
 * (opening and closing one costs as much as the request).  Connected to
 * the kernel, so that no other socket's message is queued on it; replies
 * are matched to their request by sequence number.
 */
static __thread int diag_nl = -1;
static __thread uint32_t diag_seq;

static int diag_socket(void)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = DIAG_TIMEOUT_MS / 1000 };

	if (diag_nl >= 0)
		return diag_nl;
	diag_nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (diag_nl < 0)
		return -errno;
	if (connect(diag_nl, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		int r = -errno;

		close(diag_nl);
		diag_nl = -1;
		return r;
	}
	setsockopt(diag_nl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return diag_nl;
}

int tls_diag(int fd, struct tls_diag *out)
{
	struct diag_request q;
	int nl, r;

	r = diag_request(fd, &q);
	if (r)
		return r;
	nl = diag_socket();
	if (nl < 0)
		return nl;
	q.nlh.nlmsg_seq = ++diag_seq;
	if (send(nl, &q, sizeof(q), 0) < 0)
		r = -errno;
	else
		r = diag_read(nl, q.nlh.nlmsg_seq, monotonic_ms() + DIAG_TIMEOUT_MS, out);
	/*
	 * Kept after a whole answer (-ENOENT: no such socket, or no ULP;
	 * -EPROTO: malformed); dropped after anything else.
	 */
	if (r && r != -ENOENT && r != -EPROTO) {
		close(nl);
		diag_nl = -1;
	}
	return r;
}
