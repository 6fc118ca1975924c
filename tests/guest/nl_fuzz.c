// SPDX-License-Identifier: GPL-2.0
/*
 * nl_fuzz: a protocol-aware fuzzer for the "hsmkey" generic netlink family.
 *
 *   nl_fuzz [-n MESSAGES] [-s SEED]
 *
 * Runs as root in the test VM with hsmkey.ko loaded.  It registers on
 * /dev/hsmkey like hsmkeyd would, provisions a few real keys, and then sends
 * at least MESSAGES generated messages in phases, from four roles:
 *
 *   holder   the registered socket (may change keys)
 *   other    a second root socket, not registered (must never change keys)
 *   nobody   a child that dropped to uid/gid 65534 and opened its own socket
 *   inherit  the same child, sending on a socket root opened (sometimes the
 *            registered one itself)
 *
 * Messages are ~30% valid commands on known keys, ~20% single mutations of
 * valid commands, the rest random attribute sets in each command's attribute
 * space.  Invariants are checked as they go and reported as TAP, one line
 * each.  The same seed gives the same sequence of messages as long as the
 * kernel answers the same way (the transport key, and so the wrapped bytes,
 * differ from run to run).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <openssl/evp.h>
#include <linux/hsmkey.h>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef NLM_F_CAPPED
#define NLM_F_CAPPED 0x100
#endif
#ifndef NLM_F_ACK_TLVS
#define NLM_F_ACK_TLVS 0x200
#endif
#ifndef NLMSGERR_ATTR_MSG
#define NLMSGERR_ATTR_MSG 1
#endif

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ */
/* TAP and bookkeeping                                                 */
/* ------------------------------------------------------------------ */

/* The TAP lines, in order; the plan is their number. */
enum tap_line {
	T_SETUP,
	T_ERRNO,	/* 1: every reply is an ACK with 0 or a known errno */
	T_NOBODY,	/* 2: unprivileged: never 0, table unchanged */
	T_OTHER,	/* 3: unregistered root: no change succeeds */
	T_ANCHOR,	/* 4: audit anchors never go backwards */
	T_REVOKE,	/* 5: revocation is final */
	T_COVERAGE,	/* 6: every handler answered 0 at least once */
	T_FINAL,	/* 7: INFO and a dump still work; enough messages */
	T_CLEANUP,
	T_NLINES
};

static const char *const tap_name[T_NLINES] = {
	[T_SETUP]	= "setup: /dev/hsmkey registered, keys provisioned",
	[T_ERRNO]	= "every reply is an ACK with 0 or an expected errno",
	[T_NOBODY]	= "uid 65534 never succeeds and changes no key",
	[T_OTHER]	= "an unregistered root socket never changes a key",
	[T_ANCHOR]	= "audit anchors never go backwards",
	[T_REVOKE]	= "revocation cannot be undone",
	[T_COVERAGE]	= "every handler answered 0 at least once",
	[T_FINAL]	= "INFO answers, a final dump parses, all messages sent",
	[T_CLEANUP]	= "cleanup removed every key the fuzzer added",
};

static unsigned long fails[T_NLINES];

/* Count a failure of @line; print only the first few so logs stay short. */
static void __attribute__((format(printf, 2, 3)))
fail(enum tap_line line, const char *fmt, ...)
{
	va_list ap;

	if (fails[line]++ >= 8)
		return;
	printf("# FAIL (test %d): ", (int)line + 1);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void __attribute__((format(printf, 1, 2))) diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* Deterministic randomness: splitmix64, so a seed replays a run.      */
/* ------------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd64(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform enough in [0, n); 0 for n == 0. */
static uint32_t rnd(uint32_t n)
{
	return n ? (uint32_t)(rnd64() % n) : 0;
}

static bool pct(unsigned int p)
{
	return rnd(100) < p;
}

static void rnd_bytes(void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n) {
		uint64_t v = rnd64();
		size_t k = n < 8 ? n : 8;

		memcpy(p, &v, k);
		p += k;
		n -= k;
	}
}

/* ------------------------------------------------------------------ */
/* Roles and errno statistics                                          */
/* ------------------------------------------------------------------ */

enum role { R_HOLDER, R_OTHER, R_NOBODY, R_INHERIT, R_NROLES };

static const char *const role_name[R_NROLES] = {
	"holder", "other", "nobody", "inherit",
};

#define NERR 160	/* errno buckets; the last one is "anything else" */

static uint64_t hist[R_NROLES][NERR];
static uint64_t sent[R_NROLES];
static uint64_t timeouts[R_NROLES];

/* The errnos a reply may carry at all (invariant 1). */
static const int known_errnos[] = {
	EINVAL, ERANGE, E2BIG, EMSGSIZE, ENOKEY, EKEYREVOKED, EKEYREJECTED,
	EBADMSG, EEXIST, EPERM, EBUSY, ESTALE, ENOSPC, EOPNOTSUPP, ENOENT,
	ENOMEM, EALREADY,
};

static bool errno_known(int e)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(known_errnos); i++)
		if (known_errnos[i] == e)
			return true;
	return false;
}

/*
 * Errnos that only a handler returns, after pre_doit's permission check:
 * seen by a sender without the right, they mean the check was skipped.
 */
static bool errno_from_handler(int e)
{
	switch (e) {
	case ENOKEY: case EKEYREVOKED: case EKEYREJECTED: case EBADMSG:
	case EEXIST: case ESTALE: case ENOSPC: case E2BIG: case EALREADY:
		return true;
	default:
		return false;
	}
}

/* Errnos attribute validation gives before any permission check. */
static bool errno_validation(int e)
{
	return e == EINVAL || e == ERANGE || e == EOPNOTSUPP || e == EMSGSIZE;
}

static const char *errno_name(int e)
{
	static char buf[16];

	switch (e) {
	case 0: return "0";
	case EINVAL: return "EINVAL";
	case ERANGE: return "ERANGE";
	case E2BIG: return "E2BIG";
	case EMSGSIZE: return "EMSGSIZE";
	case ENOKEY: return "ENOKEY";
	case EKEYREVOKED: return "EKEYREVOKED";
	case EKEYREJECTED: return "EKEYREJECTED";
	case EBADMSG: return "EBADMSG";
	case EEXIST: return "EEXIST";
	case EPERM: return "EPERM";
	case EBUSY: return "EBUSY";
	case ESTALE: return "ESTALE";
	case ENOSPC: return "ENOSPC";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ENOENT: return "ENOENT";
	case ENOMEM: return "ENOMEM";
	case EALREADY: return "EALREADY";
	case EAGAIN: return "EAGAIN";
	default:
		snprintf(buf, sizeof(buf), "E%d", e);
		return buf;
	}
}

static void hist_add(uint64_t *h, int e)
{
	h[e >= 0 && e < NERR - 1 ? e : NERR - 1]++;
}

static void hist_print(const char *who, const uint64_t *h, uint64_t n)
{
	char line[1024];
	size_t off = 0;
	int e;

	off += snprintf(line, sizeof(line), "errnos %s (%" PRIu64 " sent):",
			who, n);
	for (e = 0; e < NERR && off < sizeof(line) - 40; e++)
		if (h[e])
			off += snprintf(line + off, sizeof(line) - off,
					" %s=%" PRIu64,
					e == NERR - 1 ? "other" : errno_name(e),
					h[e]);
	diag("%s", line);
}

/* ------------------------------------------------------------------ */
/* Building messages                                                   */
/* ------------------------------------------------------------------ */

/* Big enough for a batch of 300 entries; attribute lengths are 16 bits. */
#define MSG_MAX		(160 * 1024)
#define NEST_MAX	8

struct msg {
	size_t len;
	int depth;
	size_t nest[NEST_MAX];
	bool valid;		/* built by the valid generator, unmutated */
	uint8_t buf[MSG_MAX] __attribute__((aligned(8)));
};

static struct nlmsghdr *msg_nlh(struct msg *m)
{
	return (struct nlmsghdr *)m->buf;
}

static struct genlmsghdr *msg_genl(struct msg *m)
{
	return (struct genlmsghdr *)(m->buf + NLMSG_HDRLEN);
}

static void msg_init(struct msg *m, uint16_t family, uint8_t cmd,
		     uint16_t flags)
{
	struct nlmsghdr *nlh = msg_nlh(m);
	struct genlmsghdr *g = msg_genl(m);

	memset(m->buf, 0, NLMSG_HDRLEN + GENL_HDRLEN);
	nlh->nlmsg_type = family;
	/* Every message wants an answer: a missing one is a failure. */
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	g->cmd = cmd;
	g->version = HSMKEY_GENL_VERSION;
	m->len = NLMSG_HDRLEN + GENL_HDRLEN;
	m->depth = 0;
	m->valid = false;
}

/* Raw bytes at the end; silently dropped when the buffer is full. */
static void msg_raw(struct msg *m, const void *data, size_t len)
{
	if (m->len + len > MSG_MAX)
		return;
	if (data)
		memcpy(m->buf + m->len, data, len);
	else
		rnd_bytes(m->buf + m->len, len);
	m->len += len;
}

/* An attribute of @len bytes from @data (random bytes if NULL), padded. */
static void msg_put(struct msg *m, uint16_t type, const void *data, size_t len)
{
	struct nlattr nla;
	size_t pad;

	if (len > 0xffff - NLA_HDRLEN)
		len = 0xffff - NLA_HDRLEN;
	pad = NLA_ALIGN(len) - len;
	if (m->len + NLA_HDRLEN + len + pad > MSG_MAX)
		return;
	nla.nla_len = (uint16_t)(NLA_HDRLEN + len);
	nla.nla_type = type;
	msg_raw(m, &nla, sizeof(nla));
	msg_raw(m, data, len);
	memset(m->buf + m->len, 0, pad);
	m->len += pad;
}

static void msg_u32(struct msg *m, uint16_t type, uint32_t v)
{
	msg_put(m, type, &v, sizeof(v));
}

static void msg_u64(struct msg *m, uint16_t type, uint64_t v)
{
	msg_put(m, type, &v, sizeof(v));
}

static void msg_str(struct msg *m, uint16_t type, const char *s)
{
	msg_put(m, type, s, strlen(s) + 1);
}

/* A number in @len bytes: exact, or cut/extended to test length checks. */
static void msg_num(struct msg *m, uint16_t type, uint64_t v, size_t len)
{
	uint8_t b[64];

	if (len > sizeof(b)) {
		msg_put(m, type, NULL, len);
		return;
	}
	rnd_bytes(b, sizeof(b));
	memcpy(b, &v, len < 8 ? len : 8);
	msg_put(m, type, b, len);
}

/* A nest with exactly @type: without NLA_F_NESTED, strict parsing refuses it. */
static void nest_start_raw(struct msg *m, uint16_t type)
{
	struct nlattr nla = { .nla_len = NLA_HDRLEN, .nla_type = type };

	if (m->depth >= NEST_MAX || m->len + NLA_HDRLEN > MSG_MAX) {
		m->depth++;	/* keep start/end balanced */
		return;
	}
	m->nest[m->depth++] = m->len;
	msg_raw(m, &nla, sizeof(nla));
}

/* A well-formed nest: the module parses strictly, NLA_F_NESTED is required. */
static void nest_start(struct msg *m, uint16_t type)
{
	nest_start_raw(m, type | NLA_F_NESTED);
}

/* A random nest: now and then without NLA_F_NESTED. */
static void nest_start_fuzz(struct msg *m, uint16_t type)
{
	if (pct(5))
		nest_start_raw(m, type & ~NLA_F_NESTED);
	else
		nest_start(m, type);
}

/*
 * Close the innermost nest.  A nest over 64 KiB cannot say its length:
 * it gets the low 16 bits, which is one more way to be malformed.
 */
static void nest_end(struct msg *m)
{
	struct nlattr *nla;

	if (--m->depth >= NEST_MAX)
		return;
	nla = (struct nlattr *)(m->buf + m->nest[m->depth]);
	nla->nla_len = (uint16_t)(m->len - m->nest[m->depth]);
}

/* Room left for attributes that must stay in a 16-bit nest length. */
static size_t nest_used(const struct msg *m)
{
	return m->depth ? m->len - m->nest[0] : 0;
}

/* ------------------------------------------------------------------ */
/* Talking to the kernel                                               */
/* ------------------------------------------------------------------ */

static uint16_t family_id;
static uint32_t next_seq = 1;
static uint8_t rbuf[256 * 1024] __attribute__((aligned(8)));

struct reply {
	int err;		/* 0 or -errno, from the ACK, error or DONE */
	int ndata;		/* data messages before it */
	bool bad_type;		/* a message of an unexpected type came */
	char ext[160];		/* extack message, if any */
};

/* Called for each data message of a reply. */
typedef void (*data_cb)(const struct nlmsghdr *nlh, void *ctx);

static int nl_open(void)
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
static int nl_transact(int fd, struct msg *m, data_cb cb, void *ctx,
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

/* Walk the attributes of [p, p + len). */
#define for_each_attr(a, p, len)					\
	for (a = (const struct nlattr *)(p);				\
	     (const uint8_t *)(a) + NLA_HDRLEN <= (const uint8_t *)(p) + (len) && \
	     a->nla_len >= NLA_HDRLEN &&					\
	     (const uint8_t *)(a) + a->nla_len <= (const uint8_t *)(p) + (len); \
	     a = (const struct nlattr *)((const uint8_t *)(a) + NLA_ALIGN(a->nla_len)))

static const void *attr_data(const struct nlattr *a)
{
	return (const uint8_t *)a + NLA_HDRLEN;
}

static size_t attr_len(const struct nlattr *a)
{
	return a->nla_len - NLA_HDRLEN;
}

static uint64_t attr_num(const struct nlattr *a)
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
static const uint8_t *genl_attrs(const struct nlmsghdr *nlh, size_t *len)
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

static struct msg mbuf;		/* the message being built and sent */

/* The family's id, from the controller; 0 if it is not registered. */
static uint16_t resolve_family(int fd)
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

/* ------------------------------------------------------------------ */
/* Keys the fuzzer knows about                                         */
/* ------------------------------------------------------------------ */

/*
 * Key ids the fuzzer makes: "nlfz", a run tag from the seed, a kind byte
 * and a counter.  The magic finds leftovers of a crashed run and every key
 * a mutated (but still accepted) ADD created.
 */
#define ID_MAGIC	"nlfz"
#define KIND_PINNED	0x50	/* carries a pool owner: keeps its anchor */
#define KIND_NORMAL	0x4e
#define KEYS_MAX	200	/* keys of ours alive at once, about */
#define TRACK_MAX	1024
#define OWNERS		4

struct tkey {
	uint8_t id[HSMKEY_ID_LEN];
	uint32_t version;
	uint32_t type;
	uint32_t state;
};

static uint8_t run_tag[4];
static uint32_t id_counter;
static struct tkey keys[TRACK_MAX];	/* ours, present in the table */
static size_t nkeys;

/* Key versions the holder saw revoked: final while they stay present. */
static struct tkey revoked[4 * TRACK_MAX];
static size_t nrevoked;

/* Audit anchors of the fuzzer's keystores (owners). */
static struct owner {
	uint8_t id[HSMKEY_OWNER_LEN];
	uint64_t seen;			/* highest sequence number seen */
	uint8_t head[HSMKEY_AUDIT_HEAD_LEN];	/* of the last accepted set */
	bool have_head;
} owners[OWNERS];

static uint8_t transport_key[HSMKEY_TRANSPORT_KEY_LEN];

static bool id_ours(const uint8_t *id)
{
	return !memcmp(id, ID_MAGIC, 4);
}

static bool id_pinned(const uint8_t *id)
{
	return id_ours(id) && id[8] == KIND_PINNED;
}

static void new_id(uint8_t *id, uint8_t kind)
{
	uint32_t c = ++id_counter;

	memcpy(id, ID_MAGIC, 4);
	memcpy(id + 4, run_tag, 4);
	id[8] = kind;
	memcpy(id + 9, &c, 3);
	rnd_bytes(id + 12, 4);
}

static unsigned int type_keylen(uint32_t type)
{
	static const unsigned int len[] = { 0, 32, 64, 16, 32, 16, 32 };

	return type < ARRAY_SIZE(len) ? len[type] : 0;
}

static bool type_gcm(uint32_t type)
{
	return type == HSMKEY_TYPE_AES_128_GCM || type == HSMKEY_TYPE_AES_256_GCM;
}

static uint32_t type_alg(uint32_t type)
{
	if (type_gcm(type))
		return HSMKEY_ALG_GCM;
	return type <= HSMKEY_TYPE_AES_256_XTS ? HSMKEY_ALG_XTS : HSMKEY_ALG_CBC;
}

static int kid_cmp(const uint8_t *ida, uint32_t va, const uint8_t *idb,
		   uint32_t vb)
{
	int c = memcmp(ida, idb, HSMKEY_ID_LEN);

	if (c)
		return c;
	return va < vb ? -1 : va > vb;
}

static struct tkey *key_find(const uint8_t *id, uint32_t version)
{
	size_t i;

	for (i = 0; i < nkeys; i++)
		if (!kid_cmp(keys[i].id, keys[i].version, id, version))
			return &keys[i];
	return NULL;
}

static void key_track(const uint8_t *id, uint32_t version, uint32_t type,
		      uint32_t state)
{
	struct tkey *k = key_find(id, version);

	if (!k) {
		if (nkeys >= TRACK_MAX)
			return;
		k = &keys[nkeys++];
	}
	memcpy(k->id, id, HSMKEY_ID_LEN);
	k->version = version;
	k->type = type;
	k->state = state;
}

static void key_untrack(const uint8_t *id, uint32_t version)
{
	struct tkey *k = key_find(id, version);

	if (k)
		*k = keys[--nkeys];
}

static bool revoked_has(const uint8_t *id, uint32_t version)
{
	size_t i;

	for (i = 0; i < nrevoked; i++)
		if (!kid_cmp(revoked[i].id, revoked[i].version, id, version))
			return true;
	return false;
}

static void revoked_add(const uint8_t *id, uint32_t version)
{
	if (revoked_has(id, version) || nrevoked >= ARRAY_SIZE(revoked))
		return;
	memcpy(revoked[nrevoked].id, id, HSMKEY_ID_LEN);
	revoked[nrevoked].version = version;
	nrevoked++;
}

/* A tracked key the fuzz may touch (never a pinned one), or NULL. */
static struct tkey *key_pick(bool want_revoked)
{
	size_t i, start, n = nkeys;

	if (!n)
		return NULL;
	start = rnd((uint32_t)n);
	for (i = 0; i < n; i++) {
		struct tkey *k = &keys[(start + i) % n];

		if (id_pinned(k->id))
			continue;
		if (want_revoked && k->state != HSMKEY_STATE_REVOKED)
			continue;
		return k;
	}
	return NULL;
}

/*
 * HSMKEY_KEY_A_WRAPPED: nonce || AES-256-GCM(verifier || material) || tag
 * under the transport key, with (id, version, type) as associated data.
 */
static int wrap_key(const uint8_t *id, uint32_t version, uint32_t type,
		    const uint8_t *plain, size_t plen, uint8_t *out)
{
	/* One context for the run: emulated CPUs make allocations dear. */
	static EVP_CIPHER_CTX *c;
	struct hsmkey_wrap_aad aad;
	int l = 0, l2 = 0, ok;

	if (!c)
		c = EVP_CIPHER_CTX_new();
	if (!c)
		return -1;
	memcpy(aad.key_id, id, HSMKEY_ID_LEN);
	aad.key_version = htonl(version);
	aad.key_type = htonl(type);
	rnd_bytes(out, HSMKEY_WRAP_NONCE_LEN);
	ok = EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN,
				 HSMKEY_WRAP_NONCE_LEN, NULL) &&
	     EVP_EncryptInit_ex(c, NULL, NULL, transport_key, out) &&
	     EVP_EncryptUpdate(c, NULL, &l, (const uint8_t *)&aad,
			       sizeof(aad)) &&
	     EVP_EncryptUpdate(c, out + HSMKEY_WRAP_NONCE_LEN, &l, plain,
			       (int)plen) &&
	     EVP_EncryptFinal_ex(c, out + HSMKEY_WRAP_NONCE_LEN + l, &l2) &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, HSMKEY_WRAP_TAG_LEN,
				 out + HSMKEY_WRAP_NONCE_LEN + plen);
	return ok ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Snapshots of the key table (KEY_GET dump by the holder)             */
/* ------------------------------------------------------------------ */

struct kent {
	uint8_t id[HSMKEY_ID_LEN];
	uint32_t version, type, state;
	uint64_t not_after;
	size_t len;
	uint8_t *attrs;		/* the reply's attribute bytes, as sent */
};

struct snap {
	struct kent *e;
	size_t n, cap;
	bool bad;		/* an entry without id or version */
};

static void snap_free(struct snap *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->e[i].attrs);
	free(s->e);
	memset(s, 0, sizeof(*s));
}

static uint64_t policy_not_after(const struct nlattr *nest)
{
	const struct nlattr *a;

	for_each_attr(a, attr_data(nest), attr_len(nest))
		if ((a->nla_type & NLA_TYPE_MASK) == HSMKEY_POLICY_A_NOT_AFTER)
			return attr_num(a);
	return 0;
}

static void snap_cb(const struct nlmsghdr *nlh, void *ctx)
{
	struct snap *s = ctx;
	const struct nlattr *a;
	const uint8_t *p;
	struct kent e = { 0 };
	int have = 0;
	size_t len;

	p = genl_attrs(nlh, &len);
	for_each_attr(a, p, len) {
		switch (a->nla_type & NLA_TYPE_MASK) {
		case HSMKEY_KEY_A_ID:
			if (attr_len(a) == HSMKEY_ID_LEN) {
				memcpy(e.id, attr_data(a), HSMKEY_ID_LEN);
				have |= 1;
			}
			break;
		case HSMKEY_KEY_A_VERSION:
			e.version = (uint32_t)attr_num(a);
			have |= 2;
			break;
		case HSMKEY_KEY_A_TYPE:
			e.type = (uint32_t)attr_num(a);
			break;
		case HSMKEY_KEY_A_STATE:
			e.state = (uint32_t)attr_num(a);
			break;
		case HSMKEY_KEY_A_POLICY:
			e.not_after = policy_not_after(a);
			break;
		}
	}
	if (have != 3) {
		s->bad = true;
		return;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 256;
		struct kent *ne = realloc(s->e, cap * sizeof(*ne));

		if (!ne) {
			s->bad = true;
			return;
		}
		s->e = ne;
		s->cap = cap;
	}
	e.len = len;
	e.attrs = malloc(len ? len : 1);
	if (!e.attrs) {
		s->bad = true;
		return;
	}
	memcpy(e.attrs, p, len);
	s->e[s->n++] = e;
}

static int kent_cmp(const void *a, const void *b)
{
	const struct kent *x = a, *y = b;

	return kid_cmp(x->id, x->version, y->id, y->version);
}

static void hex(char *out, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

/* ------------------------------------------------------------------ */
/* Valid commands                                                      */
/* ------------------------------------------------------------------ */

/* What a valid message asks for, so the holder can follow its effect. */
enum vop {
	V_NONE,		/* random or mutated: effect unknown */
	V_ADD,
	V_ADD_BATCH,
	V_ADD_XTS_EQUAL,	/* well-formed, but equal XTS halves */
	V_REVOKE,
	V_REMOVE,
	V_DISABLE,
	V_ENABLE,
	V_ENABLE_REVOKED,	/* must fail with -EKEYREVOKED */
	V_SET_POLICY,
	V_GET,
	V_DUMP,
	V_INFO,
	V_AUDIT_GET,
	V_AUDIT_SET,
	V_NOPS
};

static const char *const vop_name[V_NOPS] = {
	"random", "ADD", "ADD(batch)", "ADD(xts equal halves)", "REVOKE",
	"REMOVE", "DISABLE", "ENABLE", "ENABLE(revoked)", "SET_POLICY",
	"GET", "GET(dump)", "INFO", "AUDIT_GET", "AUDIT_SET",
};

#define BATCH_VALID_MAX 8

struct intent {
	enum vop op;
	int n;				/* keys of an add, or 1: the target */
	struct tkey k[BATCH_VALID_MAX];
};

/* Fixed times, so that a seed replays; none of them passes during a run. */
#define T_PAST		1000000000ULL	/* 2001 */
#define T_FUTURE	4102444800ULL	/* 2100 */

static void put_kid(struct msg *m, const struct tkey *k)
{
	msg_put(m, HSMKEY_KEY_A_ID, k->id, HSMKEY_ID_LEN);
	msg_u32(m, HSMKEY_KEY_A_VERSION, k->version);
}

static void put_ids(struct msg *m, uint16_t type)
{
	uint32_t ids[HSMKEY_POLICY_IDS_MAX];
	unsigned int i, n = 1 + rnd(HSMKEY_POLICY_IDS_MAX);

	for (i = 0; i < n; i++)
		ids[i] = pct(30) ? 65534 : pct(20) ? 0 : rnd(70000);
	msg_put(m, type, ids, n * sizeof(ids[0]));
}

/* A policy every key of @type accepts; no not-after that could pass. */
static void put_sane_policy(struct msg *m, uint32_t type)
{
	static const uint64_t after[] = { 0, T_FUTURE, HSMKEY_TIME_MAX };
	static const uint64_t bytes[] = { 0, 1, 1ULL << 40, UINT64_MAX };

	nest_start(m, HSMKEY_KEY_A_POLICY);
	if (pct(30))
		put_ids(m, HSMKEY_POLICY_A_UIDS);
	if (pct(30))
		put_ids(m, HSMKEY_POLICY_A_GIDS);
	if (pct(40))
		msg_u32(m, HSMKEY_POLICY_A_ALGS,
			pct(50) ? type_alg(type) : pct(50) ? 0 : 7);
	if (pct(40))
		msg_u64(m, HSMKEY_POLICY_A_NOT_BEFORE, pct(50) ? 0 : T_PAST);
	if (pct(40))
		msg_u64(m, HSMKEY_POLICY_A_NOT_AFTER, after[rnd(3)]);
	if (pct(30))
		msg_u64(m, HSMKEY_POLICY_A_MAX_BYTES, bytes[rnd(4)]);
	if (pct(30))
		msg_u64(m, HSMKEY_POLICY_A_MAX_REQUESTS,
			type_gcm(type) ? (pct(50) ? HSMKEY_GCM_MAX_REQUESTS :
					  rnd(3)) : bytes[rnd(4)]);
	if (pct(30))
		msg_u32(m, HSMKEY_POLICY_A_MAX_BINDINGS, pct(50) ? 0 : 1 + rnd(100));
	if (type_gcm(type) && pct(40))
		msg_u32(m, HSMKEY_POLICY_A_MIN_TAGLEN, 4 + rnd(13));
	nest_end(m);
}

static void put_name(struct msg *m, const uint8_t *id)
{
	char name[HSMKEY_NAME_MAX];
	size_t len, i;

	/* 1 to HSMKEY_NAME_MAX - 1 characters: the longest one fits. */
	snprintf(name, sizeof(name), "nlfz-%02x%02x%02x", id[9], id[10], id[11]);
	len = pct(10) ? HSMKEY_NAME_MAX - 1 : pct(10) ? 1 : strlen(name);
	for (i = strlen(name); i < len; i++)
		name[i] = (char)('a' + rnd(26));
	name[len] = '\0';
	msg_str(m, HSMKEY_KEY_A_NAME, name);
}

/*
 * One new key version's attributes, correctly wrapped; its record in *k.
 * @equal: an XTS key with equal halves, which the module must reject.
 * @owner: a pool owner's index, or -1 for none or a random one.
 */
static void put_new_key(struct msg *m, struct tkey *k, uint8_t kind,
			uint32_t type, bool equal, int owner)
{
	static const uint32_t versions[] = { 1, 2, 3, 7, 0xffffffffU };
	uint8_t plain[HSMKEY_VERIFIER_LEN + HSMKEY_MATERIAL_MAX];
	uint8_t wrapped[HSMKEY_WRAP_LEN(HSMKEY_MATERIAL_MAX)];
	uint8_t *mat = plain + HSMKEY_VERIFIER_LEN;
	unsigned int klen = type_keylen(type);

	new_id(k->id, kind);
	k->version = versions[rnd(ARRAY_SIZE(versions))];
	k->type = type;
	k->state = HSMKEY_STATE_ACTIVE;
	rnd_bytes(plain, sizeof(plain));
	if (type <= HSMKEY_TYPE_AES_256_XTS) {
		if (equal)
			memcpy(mat + klen / 2, mat, klen / 2);
		else if (!memcmp(mat, mat + klen / 2, klen / 2))
			mat[0] ^= 1;
	}
	if (wrap_key(k->id, k->version, type, plain, HSMKEY_VERIFIER_LEN + klen,
		     wrapped))
		fail(T_SETUP, "OpenSSL could not wrap a key");
	put_kid(m, k);
	put_name(m, k->id);
	msg_u32(m, HSMKEY_KEY_A_TYPE, type);
	msg_put(m, HSMKEY_KEY_A_WRAPPED, wrapped, HSMKEY_WRAP_LEN(klen));
	if (kind == KIND_NORMAL && pct(40))
		put_sane_policy(m, type);
	if (owner >= 0)
		msg_put(m, HSMKEY_KEY_A_OWNER, owners[owner].id,
			HSMKEY_OWNER_LEN);
	else if (pct(20)) {
		uint8_t o[HSMKEY_OWNER_LEN];

		/* An owner of this run's own, never one of another keystore. */
		memcpy(o, ID_MAGIC, 4);
		memcpy(o + 4, run_tag, 4);
		rnd_bytes(o + 8, 8);
		msg_put(m, HSMKEY_KEY_A_OWNER, o, sizeof(o));
	}
	if (pct(15))
		msg_u64(m, HSMKEY_KEY_A_USED_BYTES, pct(50) ? 0 : rnd64() >> 40);
	if (pct(15))
		msg_u64(m, HSMKEY_KEY_A_USED_REQUESTS, pct(50) ? 0 : rnd(1000));
	memset(plain, 0, sizeof(plain));
}

static size_t keys_unpinned(void)
{
	size_t i, n = 0;

	for (i = 0; i < nkeys; i++)
		n += !id_pinned(keys[i].id);
	return n;
}

/* The pool owner whose anchor is furthest from the end of the line. */
static int owner_lowest(void)
{
	int i, best = 0;

	for (i = 1; i < OWNERS; i++)
		if (owners[i].seen < owners[best].seen)
			best = i;
	return best;
}

/* Which valid command to send next, given what the table holds. */
static enum vop pick_vop(void)
{
	static const struct { enum vop op; unsigned int w; } tab[] = {
		{ V_ADD, 12 }, { V_ADD_BATCH, 4 }, { V_ADD_XTS_EQUAL, 1 },
		{ V_REVOKE, 6 }, { V_REMOVE, 7 }, { V_DISABLE, 8 },
		{ V_ENABLE, 8 }, { V_ENABLE_REVOKED, 4 }, { V_SET_POLICY, 10 },
		{ V_GET, 10 }, { V_DUMP, 2 }, { V_INFO, 6 },
		{ V_AUDIT_GET, 6 }, { V_AUDIT_SET, 8 },
	};
	unsigned int total = 0, r;
	size_t i;

	/* Stay below KEYS_MAX: long runs must not exhaust memory. */
	if (keys_unpinned() >= KEYS_MAX - BATCH_VALID_MAX && pct(60))
		return V_REMOVE;
	for (i = 0; i < ARRAY_SIZE(tab); i++)
		total += tab[i].w;
	r = rnd(total);
	for (i = 0; i < ARRAY_SIZE(tab); i++) {
		if (r < tab[i].w)
			return tab[i].op;
		r -= tab[i].w;
	}
	return V_INFO;
}

/* A target for @op: a disabled key to enable, a revoked one to remove... */
static struct tkey *pick_target(enum vop op)
{
	struct tkey *k = NULL;
	size_t i;

	if (op == V_ENABLE_REVOKED)
		return key_pick(true);
	for (i = 0; i < 4 && nkeys; i++) {
		k = key_pick(false);
		if (!k)
			return NULL;
		if (op == V_ENABLE && k->state == HSMKEY_STATE_DISABLED)
			break;
		if (op == V_REMOVE && k->state == HSMKEY_STATE_REVOKED)
			break;
		if ((op == V_DISABLE || op == V_SET_POLICY) &&
		    k->state == HSMKEY_STATE_ACTIVE)
			break;
	}
	return k;
}

/*
 * Build the valid command @op into @m; @target (may be NULL: pick one)
 * for the commands on a key version.  Falls back to another command when
 * @op needs a key and none is there.
 */
static void build_valid(struct msg *m, struct intent *in, enum vop op,
			struct tkey *target)
{
	struct tkey *k = target;
	int i, o;

	if (op >= V_REVOKE && op <= V_SET_POLICY && !k)
		k = pick_target(op);
	if (op >= V_REVOKE && op <= V_SET_POLICY && !k)
		op = keys_unpinned() < KEYS_MAX ? V_ADD : V_INFO;
	if (op == V_GET && !k)
		k = key_pick(false);
	memset(in, 0, sizeof(*in));
	in->op = op;
	if (k) {
		in->k[0] = *k;
		in->n = 1;
	}
	switch (op) {
	case V_ADD:
	case V_ADD_XTS_EQUAL:
		msg_init(m, family_id, HSMKEY_CMD_KEY_ADD, 0);
		put_new_key(m, &in->k[0], KIND_NORMAL,
			    op == V_ADD ? 1 + rnd(HSMKEY_TYPE_MAX) :
			    1 + rnd(2), op == V_ADD_XTS_EQUAL, -1);
		in->n = 1;
		break;
	case V_ADD_BATCH:
		msg_init(m, family_id, HSMKEY_CMD_KEY_ADD, 0);
		in->n = 1 + (int)rnd(BATCH_VALID_MAX);
		nest_start(m, HSMKEY_KEY_A_BATCH);
		for (i = 0; i < in->n; i++) {
			nest_start(m, (uint16_t)(i + 1));
			put_new_key(m, &in->k[i], KIND_NORMAL,
				    1 + rnd(HSMKEY_TYPE_MAX), false, -1);
			nest_end(m);
		}
		nest_end(m);
		break;
	case V_REVOKE:
	case V_REMOVE:
	case V_DISABLE:
	case V_ENABLE:
	case V_ENABLE_REVOKED:
		msg_init(m, family_id,
			 op == V_REVOKE ? HSMKEY_CMD_KEY_REVOKE :
			 op == V_REMOVE ? HSMKEY_CMD_KEY_REMOVE :
			 op == V_DISABLE ? HSMKEY_CMD_KEY_DISABLE :
			 HSMKEY_CMD_KEY_ENABLE, 0);
		put_kid(m, k);
		break;
	case V_SET_POLICY:
		msg_init(m, family_id, HSMKEY_CMD_KEY_SET_POLICY, 0);
		put_kid(m, k);
		put_sane_policy(m, k->type);
		break;
	case V_GET:
		msg_init(m, family_id, HSMKEY_CMD_KEY_GET, 0);
		if (k) {
			put_kid(m, k);
		} else {
			struct tkey none;

			/* No key yet: ask for one that is not there. */
			new_id(none.id, KIND_NORMAL);
			none.version = 1;
			put_kid(m, &none);
		}
		break;
	case V_DUMP:
		msg_init(m, family_id, HSMKEY_CMD_KEY_GET, NLM_F_DUMP);
		break;
	case V_INFO:
		msg_init(m, family_id, HSMKEY_CMD_INFO, 0);
		break;
	case V_AUDIT_GET:
		msg_init(m, family_id, HSMKEY_CMD_AUDIT_GET, 0);
		/* Without an owner: the all-zero keystore, read only. */
		if (pct(90))
			msg_put(m, HSMKEY_AUDIT_A_OWNER, owners[rnd(OWNERS)].id,
				HSMKEY_OWNER_LEN);
		break;
	case V_AUDIT_SET: {
		uint8_t head[HSMKEY_AUDIT_HEAD_LEN];
		uint64_t seq;

		o = owner_lowest();
		msg_init(m, family_id, HSMKEY_CMD_AUDIT_SET, 0);
		msg_put(m, HSMKEY_AUDIT_A_OWNER, owners[o].id, HSMKEY_OWNER_LEN);
		if (owners[o].have_head && pct(10)) {
			/* The same number and head again: accepted, no change. */
			seq = owners[o].seen;
			memcpy(head, owners[o].head, sizeof(head));
		} else {
			seq = owners[o].seen + 1 + rnd(3);
			rnd_bytes(head, sizeof(head));
		}
		msg_u64(m, HSMKEY_AUDIT_A_SEQ, seq);
		msg_put(m, HSMKEY_AUDIT_A_HEAD, head, sizeof(head));
		break;
	}
	default:
		msg_init(m, family_id, HSMKEY_CMD_INFO, 0);
		in->op = V_INFO;
		break;
	}
	m->valid = true;
}

/* ------------------------------------------------------------------ */
/* Random messages                                                     */
/* ------------------------------------------------------------------ */

/* The attribute space of a command, as the module parses it. */
enum space { SP_KEY, SP_INFO, SP_AUDIT, SP_NSPACES };

static enum space cmd_space(uint8_t cmd)
{
	if (cmd >= HSMKEY_CMD_KEY_ADD && cmd <= HSMKEY_CMD_KEY_GET)
		return SP_KEY;
	if (cmd == HSMKEY_CMD_INFO)
		return SP_INFO;
	if (cmd == HSMKEY_CMD_AUDIT_GET || cmd == HSMKEY_CMD_AUDIT_SET)
		return SP_AUDIT;
	return (enum space)rnd(SP_NSPACES);	/* no op: any space will do */
}

static uint32_t pick_u32(void)
{
	static const uint32_t v[] = {
		0, 1, 2, 3, 4, 5, 6, 7, 8, 15, 16, 17, 255, 256,
		0x7fffffffU, 0x80000000U, 0xfffffffeU, 0xffffffffU,
	};

	return pct(85) ? v[rnd(ARRAY_SIZE(v))] : (uint32_t)rnd64();
}

static uint64_t pick_u64(void)
{
	static const uint64_t v[] = {
		0, 1, 2, 0xffffffffULL, 0x100000000ULL, 0x100000001ULL,
		T_PAST, T_FUTURE, HSMKEY_TIME_MAX - 1, HSMKEY_TIME_MAX,
		HSMKEY_TIME_MAX + 1, 1ULL << 62, 1ULL << 63, UINT64_MAX - 1,
		UINT64_MAX,
	};

	return pct(85) ? v[rnd(ARRAY_SIZE(v))] : rnd64();
}

/* A length around @exact: mostly exact, else off by one, empty or huge. */
static size_t pick_len(size_t exact)
{
	switch (rnd(20)) {
	case 0: case 1:
		return exact ? exact - 1 : 0;
	case 2: case 3:
		return exact + 1;
	case 4:
		return 0;
	case 5:
		return 100 + rnd(1000);
	case 6:
		/* The largest an attribute can say: rare, it costs time. */
		return pct(20) ? 0xffff - NLA_HDRLEN - rnd(4) : 2000 + rnd(2000);
	default:
		return exact;
	}
}

/* A type near the space's range, now and then with flag bits set. */
static uint16_t pick_type(unsigned int max)
{
	uint16_t t;

	switch (rnd(20)) {
	case 0:
		t = (uint16_t)(max + 1 + rnd(3));	/* just past the end */
		break;
	case 1:
		t = (uint16_t)rnd(NLA_TYPE_MASK + 1);	/* anywhere */
		break;
	default:
		t = (uint16_t)rnd(max + 1);
	}
	if (pct(3))
		t |= NLA_F_NESTED;
	if (pct(2))
		t |= NLA_F_NET_BYTEORDER;
	return t;
}

/* Big blobs are filled cheaply: the value does not matter, the size does. */
static void put_blob(struct msg *m, uint16_t type, size_t len)
{
	static uint8_t big[0x10000];

	if (len <= 256) {
		msg_put(m, type, NULL, len);
		return;
	}
	memset(big, (int)rnd(256), len < sizeof(big) ? len : sizeof(big));
	msg_put(m, type, big, len);
}

static void gen_name(struct msg *m, uint16_t type)
{
	char s[HSMKEY_NAME_MAX + 8];
	size_t len;

	memset(s, 'n', sizeof(s));
	switch (rnd(8)) {
	case 0:	/* the longest that fits */
		s[HSMKEY_NAME_MAX - 1] = '\0';
		len = HSMKEY_NAME_MAX;
		break;
	case 1:	/* one too long */
		s[HSMKEY_NAME_MAX] = '\0';
		len = HSMKEY_NAME_MAX + 1;
		break;
	case 2:	/* no terminating NUL */
		len = 1 + rnd(HSMKEY_NAME_MAX);
		break;
	case 3:	/* empty attribute, or an empty string */
		len = rnd(2);
		s[0] = '\0';
		break;
	case 4:	/* an embedded NUL */
		len = 12;
		s[4] = '\0';
		s[11] = '\0';
		break;
	case 5:
		put_blob(m, type, pick_len(HSMKEY_NAME_MAX));
		return;
	default:
		len = (size_t)snprintf(s, sizeof(s), "fz%u", rnd(1000)) + 1;
	}
	msg_put(m, type, s, len);
}

static void gen_policy_attr(struct msg *m)
{
	uint16_t t = pick_type(HSMKEY_POLICY_A_MAX);
	uint32_t ids[HSMKEY_POLICY_IDS_MAX + 8];
	size_t n, i;

	switch (t & NLA_TYPE_MASK) {
	case HSMKEY_POLICY_A_UIDS:
	case HSMKEY_POLICY_A_GIDS:
		switch (rnd(6)) {
		case 0:	/* empty: would read as "no restriction" */
			n = 0;
			break;
		case 1:	/* one id too many */
			n = 4 * (HSMKEY_POLICY_IDS_MAX + 1);
			break;
		case 2:	/* not a multiple of 4 */
			n = 4 * (1 + rnd(HSMKEY_POLICY_IDS_MAX)) - 1 - rnd(3);
			break;
		default:
			n = 4 * (1 + rnd(HSMKEY_POLICY_IDS_MAX));
		}
		for (i = 0; i < ARRAY_SIZE(ids); i++)
			ids[i] = pct(50) ? 65534 : pick_u32();
		msg_put(m, t, ids, n);
		break;
	case HSMKEY_POLICY_A_ALGS:
		msg_num(m, t, pct(70) ? rnd(9) : pick_u32(), pick_len(4));
		break;
	case HSMKEY_POLICY_A_NOT_BEFORE:
	case HSMKEY_POLICY_A_NOT_AFTER:
	case HSMKEY_POLICY_A_MAX_BYTES:
	case HSMKEY_POLICY_A_MAX_REQUESTS:
		msg_num(m, t, pick_u64(), pick_len(8));
		break;
	case HSMKEY_POLICY_A_MAX_BINDINGS:
		msg_num(m, t, pick_u32(), pick_len(4));
		break;
	case HSMKEY_POLICY_A_MIN_TAGLEN:
		msg_num(m, t, pct(80) ? rnd(21) : pick_u32(), pick_len(4));
		break;
	default:
		put_blob(m, t, rnd(12));
	}
}

static void gen_policy(struct msg *m, uint16_t type)
{
	unsigned int i, n = rnd(8);

	nest_start_fuzz(m, type);
	for (i = 0; i < n; i++)
		gen_policy_attr(m);
	nest_end(m);
}

static void gen_key_attr(struct msg *m, int depth);

/* A batch entry that looks right but cannot unwrap (random ciphertext). */
static void gen_plausible_entry(struct msg *m)
{
	uint32_t type = pct(90) ? 1 + rnd(HSMKEY_TYPE_MAX) : rnd(9);
	struct tkey k;
	unsigned int skip = pct(20) ? rnd(5) : 99;

	new_id(k.id, KIND_NORMAL);
	k.version = pct(90) ? 1 : pick_u32();
	if (skip != 0)
		msg_put(m, HSMKEY_KEY_A_ID, k.id, HSMKEY_ID_LEN);
	if (skip != 1)
		msg_u32(m, HSMKEY_KEY_A_VERSION, k.version);
	if (skip != 2)
		msg_str(m, HSMKEY_KEY_A_NAME, "fz");
	if (skip != 3)
		msg_u32(m, HSMKEY_KEY_A_TYPE, type);
	if (skip != 4)
		msg_put(m, HSMKEY_KEY_A_WRAPPED, NULL,
			HSMKEY_WRAP_LEN(type_keylen(type) ?: 16));
	if (pct(10))
		gen_key_attr(m, 2);
}

/* HSMKEY_KEY_A_BATCH with 0 to 300 entries, around HSMKEY_BATCH_MAX. */
static void gen_batch(struct msg *m, uint16_t type)
{
	static const unsigned int counts[] = {
		0, 1, 2, 3, 8, HSMKEY_BATCH_MAX - 1, HSMKEY_BATCH_MAX,
		HSMKEY_BATCH_MAX + 1, 300,
	};
	unsigned int i, n = pct(60) ? counts[rnd(ARRAY_SIZE(counts))] : rnd(301);
	bool plausible = pct(70), overflow = pct(3);

	nest_start_fuzz(m, type);
	for (i = 0; i < n; i++) {
		/* Keep the nest's 16-bit length honest unless told not to. */
		if (!overflow && nest_used(m) > 0xffff - 1024)
			break;
		nest_start_fuzz(m, pct(95) ? (uint16_t)(i + 1) : pick_type(3));
		if (plausible && pct(95)) {
			gen_plausible_entry(m);
		} else {
			unsigned int j, na = rnd(5);

			for (j = 0; j < na; j++)
				gen_key_attr(m, 1);
		}
		nest_end(m);
	}
	nest_end(m);
}

/* One attribute of the KEY_* commands' space (depth: 0 top, 1+ nested). */
static void gen_key_attr(struct msg *m, int depth)
{
	static const size_t wrap_len[] = {
		HSMKEY_WRAP_LEN(16) - 1, HSMKEY_WRAP_LEN(16),
		HSMKEY_WRAP_LEN(32), HSMKEY_WRAP_LEN(64),
		HSMKEY_WRAP_LEN(64) + 1, 0, 1,
	};
	uint16_t t = pick_type(HSMKEY_KEY_A_MAX);
	struct tkey *k;

	switch (t & NLA_TYPE_MASK) {
	case HSMKEY_KEY_A_ID:
		/* Often a real key, so that random commands reach handlers. */
		k = pct(40) ? key_pick(false) : NULL;
		if (k && pct(90))
			msg_put(m, t, k->id, HSMKEY_ID_LEN);
		else
			put_blob(m, t, pick_len(HSMKEY_ID_LEN));
		break;
	case HSMKEY_KEY_A_OWNER:
		if (pct(30))
			msg_put(m, t, owners[rnd(OWNERS)].id, HSMKEY_OWNER_LEN);
		else
			put_blob(m, t, pick_len(HSMKEY_OWNER_LEN));
		break;
	case HSMKEY_KEY_A_VERSION:
		k = pct(40) ? key_pick(false) : NULL;
		msg_num(m, t, k ? k->version : pick_u32(), pick_len(4));
		break;
	case HSMKEY_KEY_A_TYPE:
		msg_num(m, t, pct(70) ? rnd(HSMKEY_TYPE_MAX + 3) : pick_u32(),
			pick_len(4));
		break;
	case HSMKEY_KEY_A_NAME:
		gen_name(m, t);
		break;
	case HSMKEY_KEY_A_WRAPPED:
		put_blob(m, t, pct(80) ? wrap_len[rnd(ARRAY_SIZE(wrap_len))] :
			 pick_len(HSMKEY_WRAP_LEN(32)));
		break;
	case HSMKEY_KEY_A_POLICY:
		if (depth < 3)
			gen_policy(m, t);
		else
			put_blob(m, t, rnd(16));
		break;
	case HSMKEY_KEY_A_BATCH:
		if (depth == 0)
			gen_batch(m, t);
		else
			put_blob(m, t, rnd(16));
		break;
	case HSMKEY_KEY_A_USED_BYTES:
	case HSMKEY_KEY_A_USED_REQUESTS:
	case HSMKEY_KEY_A_BYTES:
	case HSMKEY_KEY_A_REQUESTS:
	case HSMKEY_KEY_A_BINDS:
	case HSMKEY_KEY_A_DENIES:
		msg_num(m, t, pick_u64(), pick_len(8));
		break;
	case HSMKEY_KEY_A_STATE:
	case HSMKEY_KEY_A_BINDINGS:
		msg_num(m, t, pick_u32(), pick_len(4));
		break;
	default:	/* UNSPEC, PAD, out of range */
		put_blob(m, t, rnd(4) ? rnd(9) : pick_len(8));
	}
}

static void gen_info_attr(struct msg *m)
{
	uint16_t t = pick_type(HSMKEY_INFO_A_MAX);

	switch (rnd(4)) {
	case 0:
		msg_num(m, t, pick_u32(), pick_len(4));
		break;
	case 1:
		msg_num(m, t, pick_u64(), pick_len(8));
		break;
	case 2:
		msg_str(m, t, "hsmkey");
		break;
	default:
		put_blob(m, t, pick_len(8));
	}
}

static void gen_audit_attr(struct msg *m)
{
	uint16_t t = pick_type(HSMKEY_AUDIT_A_MAX);

	switch (t & NLA_TYPE_MASK) {
	case HSMKEY_AUDIT_A_OWNER:
		if (pct(50))
			msg_put(m, t, owners[rnd(OWNERS)].id, HSMKEY_OWNER_LEN);
		else
			put_blob(m, t, pick_len(HSMKEY_OWNER_LEN));
		break;
	case HSMKEY_AUDIT_A_SEQ:
		msg_num(m, t, pct(30) ? owners[rnd(OWNERS)].seen + rnd(3) :
			pick_u64(), pick_len(8));
		break;
	case HSMKEY_AUDIT_A_HEAD:
		put_blob(m, t, pick_len(HSMKEY_AUDIT_HEAD_LEN));
		break;
	default:
		put_blob(m, t, rnd(4) ? rnd(9) : pick_len(8));
	}
}

/*
 * Damage the end of a message: cut it (truncating its last attribute or
 * even the genetlink header) or append bytes that are no attribute.  The
 * netlink header's length always matches what is sent: a longer one is
 * dropped without an answer, a shorter one starts a second message.
 */
static void damage_tail(struct msg *m)
{
	size_t room;

	if (pct(5)) {
		room = m->len - NLMSG_HDRLEN;
		if (room)
			m->len -= 1 + rnd((uint32_t)(room < 64 ? room : 64));
	} else if (pct(5)) {
		msg_raw(m, NULL, pct(50) ? 1 + rnd(3) : 4 + rnd(29));
	}
}

static void gen_random(struct msg *m, enum role role)
{
	uint8_t cmd = (uint8_t)rnd(HSMKEY_CMD_MAX + 3);
	uint16_t flags = 0;
	enum space sp = cmd_space(cmd);
	unsigned int i, n = rnd(8);

	if (pct(10))
		flags |= NLM_F_DUMP;
	else if (pct(3))
		flags |= pct(50) ? NLM_F_ROOT : NLM_F_MATCH;
	msg_init(m, family_id, cmd, flags);
	if (pct(3))
		msg_genl(m)->version = (uint8_t)rnd(256);
	if (pct(2))
		msg_genl(m)->reserved = (uint16_t)(1 + rnd(0xffff));
	for (i = 0; i < n; i++) {
		if (sp == SP_KEY)
			gen_key_attr(m, 0);
		else if (sp == SP_INFO)
			gen_info_attr(m);
		else
			gen_audit_attr(m);
	}
	/*
	 * The holder's random AUDIT_SETs name one of the fuzzer's own
	 * keystores (the last attribute wins), so that they do not move the
	 * anchors of other keystores on this machine.  Owner 0 is left to
	 * the valid AUDIT_SETs, which need a number that can still grow.
	 */
	if (role == R_HOLDER && cmd == HSMKEY_CMD_AUDIT_SET)
		msg_put(m, HSMKEY_AUDIT_A_OWNER, owners[1 + rnd(OWNERS - 1)].id,
			HSMKEY_OWNER_LEN);
	damage_tail(m);
}

/* ------------------------------------------------------------------ */
/* Mutations of valid messages                                         */
/* ------------------------------------------------------------------ */

#define AREF_MAX 2048

struct aref {
	size_t off;
	int parent;		/* index of the enclosing attribute, or -1 */
};

/* What the attributes at one level hold, to know which ones nest. */
enum level { L_KEY, L_ENTRIES, L_FLAT };

static size_t collect(const struct msg *m, size_t off, size_t end, int parent,
		      enum level lv, struct aref *out, size_t n)
{
	while (off + NLA_HDRLEN <= end && n < AREF_MAX) {
		const struct nlattr *a = (const void *)(m->buf + off);
		uint16_t t = a->nla_type & NLA_TYPE_MASK;
		int me = (int)n;

		if (a->nla_len < NLA_HDRLEN || off + a->nla_len > end)
			break;
		out[n++] = (struct aref){ .off = off, .parent = parent };
		if (lv == L_ENTRIES)
			n = collect(m, off + NLA_HDRLEN, off + a->nla_len, me,
				    L_KEY, out, n);
		else if (lv == L_KEY && t == HSMKEY_KEY_A_POLICY)
			n = collect(m, off + NLA_HDRLEN, off + a->nla_len, me,
				    L_FLAT, out, n);
		else if (lv == L_KEY && t == HSMKEY_KEY_A_BATCH)
			n = collect(m, off + NLA_HDRLEN, off + a->nla_len, me,
				    L_ENTRIES, out, n);
		off += NLA_ALIGN(a->nla_len);
	}
	return n;
}

static struct nlattr *aref_attr(struct msg *m, const struct aref *r)
{
	return (struct nlattr *)(m->buf + r->off);
}

/* Flip one bit, mostly in the attributes, sometimes in cmd/version. */
static void mut_bitflip(struct msg *m)
{
	size_t lo = NLMSG_HDRLEN + GENL_HDRLEN, pos;

	if (pct(10) || m->len <= lo)
		pos = NLMSG_HDRLEN + rnd(GENL_HDRLEN);
	else
		pos = lo + rnd((uint32_t)(m->len - lo));
	m->buf[pos] ^= (uint8_t)(1u << rnd(8));
}

/*
 * Change attribute @i's length.  Either only its header lies, or its
 * payload really grows or shrinks at the end, and every enclosing
 * attribute and the message follow.
 */
static void mut_length(struct msg *m, struct aref *ar, size_t i)
{
	struct nlattr *a = aref_attr(m, &ar[i]);
	size_t end = ar[i].off + a->nla_len;
	int delta, j;

	if (pct(50)) {
		static const int d[] = { -4, -1, 1, 4, 64 };

		switch (rnd(4)) {
		case 0:
			a->nla_len = (uint16_t)rnd(NLA_HDRLEN + 1);
			break;
		case 1:
			a->nla_len = 0xffff;
			break;
		default:
			a->nla_len = (uint16_t)(a->nla_len + d[rnd(5)]);
		}
		return;
	}
	delta = pct(50) ? 1 + (int)rnd(8) : -(1 + (int)rnd(8));
	if (delta < 0 && -delta > (int)a->nla_len - (int)NLA_HDRLEN)
		delta = -((int)a->nla_len - (int)NLA_HDRLEN);
	if (delta > 0 && m->len + (size_t)delta > MSG_MAX)
		return;
	if (delta > 0) {
		memmove(m->buf + end + delta, m->buf + end, m->len - end);
		rnd_bytes(m->buf + end, (size_t)delta);
	} else {
		memmove(m->buf + end + delta, m->buf + end, m->len - end);
	}
	m->len = (size_t)((ssize_t)m->len + delta);
	for (j = (int)i; j >= 0; j = ar[j].parent) {
		struct nlattr *p = aref_attr(m, &ar[j]);

		p->nla_len = (uint16_t)(p->nla_len + delta);
	}
}

/* Give attribute @i another type of its space, or swap with a sibling. */
static void mut_type(struct msg *m, struct aref *ar, size_t n, size_t i)
{
	struct nlattr *a = aref_attr(m, &ar[i]);
	uint16_t flags = a->nla_type & ~NLA_TYPE_MASK;
	size_t j;

	if (pct(50)) {
		for (j = 0; j < n; j++) {
			struct nlattr *b = aref_attr(m, &ar[j]);
			uint16_t t;

			if (j == i || ar[j].parent != ar[i].parent ||
			    b->nla_type == a->nla_type)
				continue;
			t = a->nla_type;
			a->nla_type = b->nla_type;
			b->nla_type = t;
			return;
		}
	}
	a->nla_type = flags | pick_type(HSMKEY_KEY_A_MAX);
}

static void mutate(struct msg *m)
{
	static struct aref ar[AREF_MAX];
	size_t n, lo = NLMSG_HDRLEN + GENL_HDRLEN;
	enum level lv = cmd_space(msg_genl(m)->cmd) == SP_KEY ? L_KEY : L_FLAT;

	m->valid = false;
	n = collect(m, lo, m->len, -1, lv, ar, 0);
	if (!n) {
		mut_bitflip(m);
		return;
	}
	switch (rnd(3)) {
	case 0:
		mut_bitflip(m);
		break;
	case 1:
		mut_length(m, ar, rnd((uint32_t)n));
		break;
	default:
		mut_type(m, ar, n, rnd((uint32_t)n));
	}
}

/* ------------------------------------------------------------------ */
/* Replies and invariants                                              */
/* ------------------------------------------------------------------ */

/* Handlers, for coverage (invariant 6). */
enum cov {
	C_ADD, C_REVOKE, C_REMOVE, C_DISABLE, C_ENABLE, C_SET_POLICY,
	C_GET, C_DUMP, C_INFO, C_AUDIT_GET, C_AUDIT_SET, C_NCOV
};

static const char *const cov_name[C_NCOV] = {
	"ADD", "REVOKE", "REMOVE", "DISABLE", "ENABLE", "SET_POLICY",
	"KEY_GET", "KEY_GET(dump)", "INFO", "AUDIT_GET", "AUDIT_SET",
};

static uint64_t cov[C_NCOV];
static int hfd = -1;			/* the registered socket */
static int ofd = -1;			/* root, not registered */
static uint64_t fuzz_sent;		/* generated messages, all roles */
static unsigned long holder_notes;	/* valid holder commands that failed */

static bool is_dump(struct msg *m)
{
	return (msg_nlh(m)->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
}

static int cov_slot(uint8_t cmd, bool dump)
{
	switch (cmd) {
	case HSMKEY_CMD_KEY_ADD: return C_ADD;
	case HSMKEY_CMD_KEY_REVOKE: return C_REVOKE;
	case HSMKEY_CMD_KEY_REMOVE: return C_REMOVE;
	case HSMKEY_CMD_KEY_DISABLE: return C_DISABLE;
	case HSMKEY_CMD_KEY_ENABLE: return C_ENABLE;
	case HSMKEY_CMD_KEY_SET_POLICY: return C_SET_POLICY;
	case HSMKEY_CMD_KEY_GET: return dump ? C_DUMP : C_GET;
	case HSMKEY_CMD_INFO: return C_INFO;
	case HSMKEY_CMD_AUDIT_GET: return C_AUDIT_GET;
	case HSMKEY_CMD_AUDIT_SET: return C_AUDIT_SET;
	default: return -1;
	}
}

/* Commands that change key or anchor state. */
static bool cmd_mutating(uint8_t cmd)
{
	return (cmd >= HSMKEY_CMD_KEY_ADD && cmd <= HSMKEY_CMD_KEY_SET_POLICY) ||
	       cmd == HSMKEY_CMD_AUDIT_SET;
}

static struct owner *owner_find(const uint8_t *id)
{
	int i;

	for (i = 0; i < OWNERS; i++)
		if (!memcmp(owners[i].id, id, HSMKEY_OWNER_LEN))
			return &owners[i];
	return NULL;
}

/* An AUDIT_GET/SET reply: a pool owner's anchor must not move back. */
static void audit_reply(const uint8_t *p, size_t len)
{
	const struct nlattr *a, *seq = NULL, *head = NULL, *own = NULL;
	struct owner *o;
	uint64_t s;

	for_each_attr(a, p, len) {
		switch (a->nla_type & NLA_TYPE_MASK) {
		case HSMKEY_AUDIT_A_SEQ: seq = a; break;
		case HSMKEY_AUDIT_A_HEAD: head = a; break;
		case HSMKEY_AUDIT_A_OWNER: own = a; break;
		}
	}
	if (!seq || !head || !own || attr_len(seq) != 8 ||
	    attr_len(head) != HSMKEY_AUDIT_HEAD_LEN ||
	    attr_len(own) != HSMKEY_OWNER_LEN) {
		fail(T_ANCHOR, "audit reply without its three attributes");
		return;
	}
	o = owner_find(attr_data(own));
	if (!o)
		return;
	s = attr_num(seq);
	if (s < o->seen) {
		fail(T_ANCHOR, "anchor went back from %" PRIu64 " to %" PRIu64,
		     o->seen, s);
		return;
	}
	o->seen = s;
	memcpy(o->head, attr_data(head), HSMKEY_AUDIT_HEAD_LEN);
	o->have_head = s != 0;
}

/* A key in a reply: a key the holder saw revoked must still be revoked. */
static void key_reply(const uint8_t *p, size_t len)
{
	const struct nlattr *a;
	uint8_t id[HSMKEY_ID_LEN];
	uint32_t version = 0, state = 0;
	int have = 0;

	for_each_attr(a, p, len) {
		switch (a->nla_type & NLA_TYPE_MASK) {
		case HSMKEY_KEY_A_ID:
			if (attr_len(a) == HSMKEY_ID_LEN) {
				memcpy(id, attr_data(a), HSMKEY_ID_LEN);
				have |= 1;
			}
			break;
		case HSMKEY_KEY_A_VERSION:
			version = (uint32_t)attr_num(a);
			have |= 2;
			break;
		case HSMKEY_KEY_A_STATE:
			state = (uint32_t)attr_num(a);
			have |= 4;
			break;
		}
	}
	if (have != 7)
		return;
	if (state != HSMKEY_STATE_REVOKED && revoked_has(id, version)) {
		char h[2 * HSMKEY_ID_LEN + 1];

		hex(h, id, HSMKEY_ID_LEN);
		fail(T_REVOKE, "key %s v%u was revoked, now in state %u",
		     h, version, state);
	}
}

/* Every data message of a reply by a root role goes through here. */
static void reply_cb(const struct nlmsghdr *nlh, void *ctx)
{
	const struct genlmsghdr *g = NLMSG_DATA(nlh);
	const uint8_t *p;
	size_t len;

	(void)ctx;
	p = genl_attrs(nlh, &len);
	if (!p)
		return;
	if (g->cmd == HSMKEY_CMD_AUDIT_GET || g->cmd == HSMKEY_CMD_AUDIT_SET)
		audit_reply(p, len);
	else if (g->cmd == HSMKEY_CMD_KEY_GET)
		key_reply(p, len);
}

/* Follow the effect of a valid command the holder got 0 (or ENOKEY) for. */
static void holder_effect(const struct intent *in, int e)
{
	const struct tkey *k = &in->k[0];
	int i;

	if (e == ENOKEY && in->op >= V_REVOKE && in->op <= V_SET_POLICY) {
		key_untrack(k->id, k->version);	/* gone, by a mutated REMOVE */
		return;
	}
	if (e == EKEYREVOKED && in->n) {
		/* The module says so: from now on it must stay revoked. */
		revoked_add(k->id, k->version);
		if (key_find(k->id, k->version))
			key_find(k->id, k->version)->state = HSMKEY_STATE_REVOKED;
		return;
	}
	if (e)
		return;
	switch (in->op) {
	case V_ADD:
	case V_ADD_BATCH:
		for (i = 0; i < in->n; i++)
			key_track(in->k[i].id, in->k[i].version, in->k[i].type,
				  HSMKEY_STATE_ACTIVE);
		break;
	case V_REVOKE:
		revoked_add(k->id, k->version);
		key_track(k->id, k->version, k->type, HSMKEY_STATE_REVOKED);
		break;
	case V_REMOVE:
		key_untrack(k->id, k->version);
		break;
	case V_DISABLE:
		key_track(k->id, k->version, k->type, HSMKEY_STATE_DISABLED);
		break;
	case V_ENABLE:
		key_track(k->id, k->version, k->type, HSMKEY_STATE_ACTIVE);
		break;
	default:
		break;
	}
}

/* What the holder expects of a valid command, beyond "a known errno". */
static void holder_check(const struct intent *in, int e, const struct reply *r)
{
	int want = in->op == V_ADD_XTS_EQUAL ? EKEYREJECTED : 0;

	if (in->op == V_ENABLE_REVOKED) {
		/* ENOKEY: removed meanwhile by a mutated, accepted REMOVE. */
		if (!e)
			fail(T_REVOKE, "ENABLE of a revoked key succeeded");
		else if (e != EKEYREVOKED && e != ENOKEY)
			fail(T_REVOKE, "ENABLE of a revoked key: %s, not EKEYREVOKED",
			     errno_name(e));
		return;
	}
	/* Not an invariant (a mutated message may have changed the key). */
	if (e != want && holder_notes++ < 5)
		diag("note: valid %s from the holder got %s (%s)",
		     vop_name[in->op], errno_name(e), r->ext);
}

/*
 * Check a reply against the rules of @role.  @in->op is V_NONE unless the
 * message is a valid, unmutated command.
 */
static void check_reply(enum role role, struct msg *m, const struct intent *in,
			int rc, const struct reply *r)
{
	uint8_t cmd = msg_genl(m)->cmd;
	bool dump = is_dump(m), valid = m->valid && in->op != V_NONE;
	int e = -r->err, slot;

	sent[role]++;
	if (rc) {
		timeouts[role]++;
		fail(T_ERRNO, "%s: no answer to cmd %u (%s)", role_name[role],
		     cmd, errno_name(-r->err));
		return;
	}
	hist_add(hist[role], e);
	if (r->bad_type || r->err > 0 || (e && !errno_known(e)))
		fail(T_ERRNO, "%s: cmd %u got %s%s (%s)", role_name[role], cmd,
		     errno_name(e), r->bad_type ? " and a foreign message" : "",
		     r->ext);
	slot = cov_slot(cmd, dump);
	if (!e && slot >= 0)
		cov[slot]++;

	switch (role) {
	case R_NOBODY:
	case R_INHERIT:
		if (!e)
			fail(T_NOBODY, "%s: cmd %u%s succeeded", role_name[role],
			     cmd, dump ? " (dump)" : "");
		else if (valid && e != EPERM)
			fail(T_NOBODY, "%s: well-formed %s got %s, not EPERM (%s)",
			     role_name[role], vop_name[in->op], errno_name(e),
			     r->ext);
		else if (!errno_validation(e) && e != EPERM)
			fail(T_NOBODY, "%s: cmd %u got %s: %s (%s)",
			     role_name[role], cmd, errno_name(e),
			     errno_from_handler(e) ?
			     "past the permission check?" : "unexpected",
			     r->ext);
		break;
	case R_OTHER:
		if (!cmd_mutating(cmd))
			break;
		if (!e)
			fail(T_OTHER, "other: changing cmd %u succeeded", cmd);
		else if (valid && e != EBUSY)
			fail(T_OTHER, "other: well-formed %s got %s, not EBUSY (%s)",
			     vop_name[in->op], errno_name(e), r->ext);
		else if (!errno_validation(e) && e != EBUSY)
			fail(T_OTHER, "other: cmd %u got %s: %s (%s)",
			     cmd, errno_name(e), errno_from_handler(e) ?
			     "past the permission check?" : "unexpected",
			     r->ext);
		break;
	case R_HOLDER:
		if (valid) {
			holder_effect(in, e);
			holder_check(in, e, r);
		}
		break;
	default:
		break;
	}
}

/* Send @m from @role on @fd and check what comes back. */
static int send_checked(enum role role, int fd, struct msg *m,
			const struct intent *in, struct reply *r)
{
	bool root = role == R_HOLDER || role == R_OTHER;
	int rc = nl_transact(fd, m, root ? reply_cb : NULL, NULL, r);

	check_reply(role, m, in, rc, r);
	return rc ? rc : r->err;
}

/* One generated message: valid (30%), mutated valid (20%) or random. */
static void gen_one(struct msg *m, struct intent *in, enum role role)
{
	unsigned int r = rnd(100);

	if (r < 50) {
		build_valid(m, in, pick_vop(), NULL);
		if (r >= 30) {
			mutate(m);
			in->op = V_NONE;
		}
	} else {
		memset(in, 0, sizeof(*in));
		gen_random(m, role);
	}
}

/* Build, send and check one valid command from the holder. */
static int holder_do(struct msg *m, enum vop op, struct tkey *target)
{
	struct intent in;
	struct reply r;

	build_valid(m, &in, op, target);
	return send_checked(R_HOLDER, hfd, m, &in, &r);
}

/* ------------------------------------------------------------------ */
/* Snapshots, resynchronisation, phases                                */
/* ------------------------------------------------------------------ */

static struct msg sbuf;		/* for bookkeeping, not to clobber mbuf */

/* The whole key table, sorted by id and version; false on failure. */
static bool snapshot(struct snap *s)
{
	struct reply r;
	struct intent in;
	int rc;

	memset(s, 0, sizeof(*s));
	build_valid(&sbuf, &in, V_DUMP, NULL);
	rc = nl_transact(hfd, &sbuf, snap_cb, s, &r);
	check_reply(R_HOLDER, &sbuf, &in, rc, &r);
	if (rc || r.err || s->bad) {
		fail(T_FINAL, "key table dump failed: %s%s", errno_name(-r.err),
		     s->bad ? " (an entry without id or version)" : "");
		return false;
	}
	qsort(s->e, s->n, sizeof(s->e[0]), kent_cmp);
	for (size_t i = 0; i < s->n; i++)
		key_reply(s->e[i].attrs, s->e[i].len);
	return true;
}

/*
 * Byte-identical tables, or say where they differ.  The one change nobody
 * causes is tolerated: a key whose not-after has passed got revoked by the
 * expiry worker (resync() revokes the fuzzer's own before they get there;
 * this is for keys of others).
 */
static bool snap_same(const struct snap *a, const struct snap *b)
{
	uint64_t now = (uint64_t)time(NULL);
	char h[2 * HSMKEY_ID_LEN + 1];
	size_t i;

	if (a->n != b->n) {
		diag("table had %zu keys, now %zu", a->n, b->n);
		return false;
	}
	for (i = 0; i < a->n; i++) {
		if (a->e[i].len == b->e[i].len &&
		    !memcmp(a->e[i].attrs, b->e[i].attrs, a->e[i].len))
			continue;
		hex(h, a->e[i].id, HSMKEY_ID_LEN);
		if (kent_cmp(&a->e[i], &b->e[i])) {
			diag("key %s v%u is gone or another one came", h,
			     a->e[i].version);
			return false;
		}
		if (!id_ours(a->e[i].id) && b->e[i].not_after &&
		    b->e[i].not_after <= now &&
		    a->e[i].state != HSMKEY_STATE_REVOKED &&
		    b->e[i].state == HSMKEY_STATE_REVOKED) {
			diag("key %s v%u expired meanwhile (not ours)", h,
			     a->e[i].version);
			continue;
		}
		diag("key %s v%u changed (state %u -> %u)", h,
		     a->e[i].version, a->e[i].state, b->e[i].state);
		return false;
	}
	return true;
}

/* Revoke (from the holder) a key that would otherwise expire soon. */
static void revoke_expiring(const struct kent *e, uint64_t now)
{
	struct tkey k;

	if (e->state == HSMKEY_STATE_REVOKED || !e->not_after ||
	    e->not_after > now + 3600)
		return;
	memcpy(k.id, e->id, HSMKEY_ID_LEN);
	k.version = e->version;
	k.type = e->type;
	/*
	 * The expiry worker would revoke it at any moment, maybe while an
	 * unprivileged phase runs, and the table would seem to change.
	 */
	if (!holder_do(&sbuf, V_REVOKE, &k))
		revoked_add(k.id, k.version);
}

/*
 * After a holder phase: take the table as it is (a mutated command may
 * have done anything the holder may do), check that revoked keys stay
 * revoked, make it quiet (nothing left that expires), bounded (KEYS_MAX)
 * and check the anchors.
 */
static void resync(void)
{
	uint64_t now = (uint64_t)time(NULL);
	struct snap s;
	size_t i, j;
	int probes = 0;

	if (!snapshot(&s))
		return;
	/* Revoked keys no longer in the table were removed: forget them. */
	for (i = 0; i < nrevoked; ) {
		struct kent key = { 0 };

		memcpy(key.id, revoked[i].id, HSMKEY_ID_LEN);
		key.version = revoked[i].version;
		if (bsearch(&key, s.e, s.n, sizeof(s.e[0]), kent_cmp))
			i++;
		else
			revoked[i] = revoked[--nrevoked];
	}
	nkeys = 0;
	for (i = 0; i < s.n; i++) {
		const struct kent *e = &s.e[i];

		if (!id_ours(e->id))
			continue;
		key_track(e->id, e->version, e->type, e->state);
		if (e->state == HSMKEY_STATE_REVOKED)
			revoked_add(e->id, e->version);
		revoke_expiring(e, now);
	}
	/* Too many keys: remove the revoked ones first, then any. */
	for (j = 0; j < 2 && keys_unpinned() > KEYS_MAX; j++)
		for (i = nkeys; i-- > 0 && keys_unpinned() > KEYS_MAX - 20; ) {
			struct tkey k = keys[i];

			if (id_pinned(k.id) ||
			    (!j && k.state != HSMKEY_STATE_REVOKED))
				continue;
			holder_do(&sbuf, V_REMOVE, &k);
		}
	/* Revocation is final: ENABLE a few revoked keys. */
	for (i = 0; i < nkeys && probes < 3; i++)
		if (keys[i].state == HSMKEY_STATE_REVOKED && pct(50)) {
			struct tkey k = keys[i];

			holder_do(&sbuf, V_ENABLE_REVOKED, &k);
			probes++;
		}
	/* The anchors of our keystores, through audit_reply(). */
	for (i = 0; i < OWNERS; i++) {
		struct intent in;
		struct reply r;

		msg_init(&sbuf, family_id, HSMKEY_CMD_AUDIT_GET, 0);
		msg_put(&sbuf, HSMKEY_AUDIT_A_OWNER, owners[i].id,
			HSMKEY_OWNER_LEN);
		sbuf.valid = true;
		memset(&in, 0, sizeof(in));
		in.op = V_AUDIT_GET;
		if (send_checked(R_HOLDER, hfd, &sbuf, &in, &r))
			fail(T_ANCHOR, "AUDIT_GET failed: %s", errno_name(-r.err));
	}
	snap_free(&s);
}

/* Fuzz from a root role in this process. */
static void run_messages(enum role role, int fd, unsigned long count)
{
	struct intent in;
	struct reply r;
	unsigned long i;

	for (i = 0; i < count; i++) {
		gen_one(&mbuf, &in, role);
		send_checked(role, fd, &mbuf, &in, &r);
		fuzz_sent++;
	}
}

/* One of each handler, valid, so that coverage does not depend on luck. */
static void sweep(void)
{
	static const enum vop ops[] = {
		V_GET, V_INFO, V_AUDIT_GET, V_AUDIT_SET, V_SET_POLICY,
		V_DISABLE, V_ENABLE, V_REVOKE, V_ENABLE_REVOKED, V_REMOVE,
	};
	struct tkey k;
	struct intent in;
	struct reply r;
	size_t i;

	build_valid(&mbuf, &in, V_ADD, NULL);
	k = in.k[0];
	send_checked(R_HOLDER, hfd, &mbuf, &in, &r);
	fuzz_sent++;
	holder_do(&mbuf, V_DUMP, NULL);
	fuzz_sent++;
	for (i = 0; i < ARRAY_SIZE(ops); i++) {
		holder_do(&mbuf, ops[i], ops[i] == V_AUDIT_GET ||
			  ops[i] == V_AUDIT_SET || ops[i] == V_INFO ? NULL : &k);
		fuzz_sent++;
	}
}

static void holder_phase(unsigned long count)
{
	run_messages(R_HOLDER, hfd, count);
	resync();
}

static void other_phase(unsigned long count)
{
	struct snap before, after;

	if (!snapshot(&before))
		return;
	run_messages(R_OTHER, ofd, count);
	if (snapshot(&after)) {
		if (!snap_same(&before, &after))
			fail(T_OTHER, "the key table changed during an unregistered root phase");
		snap_free(&after);
	}
	snap_free(&before);
}

/* ------------------------------------------------------------------ */
/* The unprivileged child                                              */
/* ------------------------------------------------------------------ */

#define NOBODY 65534

/* What the child tells its parent over the pipe. */
struct child_report {
	int dropped;			/* 1: ran as uid/gid 65534 */
	uint64_t hist[2][NERR];		/* R_NOBODY, R_INHERIT */
	uint64_t sent[2];
	uint64_t timeouts[2];
	uint64_t fuzz_sent;
	unsigned long fails[T_NLINES];
};

static struct child_report report;

/* Become nobody for good: groups first, while we still may. */
static bool drop_privileges(void)
{
	uid_t r, e, s;

	if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY))
		return false;
	if (getresuid(&r, &e, &s) || r != NOBODY || e != NOBODY || s != NOBODY)
		return false;
	return getegid() == NOBODY && getgid() == NOBODY;
}

static bool write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/*
 * The child: drop to nobody, open a socket of its own (role nobody) and
 * use the root-opened @inherited one too (role inherit), then report.
 */
static void __attribute__((noreturn))
child_main(int wfd, int inherited, int devfd, uint64_t seed,
	   unsigned long count)
{
	struct intent in;
	struct reply r;
	unsigned long i;
	int own;

	rng_state = seed;
	/* Far from the parent's numbers, which may share a socket. */
	next_seq += 0x40000000U;
	memset(hist, 0, sizeof(hist));
	memset(sent, 0, sizeof(sent));
	memset(timeouts, 0, sizeof(timeouts));
	memset(fails, 0, sizeof(fails));
	memset(cov, 0, sizeof(cov));
	fuzz_sent = 0;
	close(devfd);
	report.dropped = drop_privileges();
	own = report.dropped ? nl_open() : -1;
	if (own < 0) {
		report.dropped = 0;
	} else {
		for (i = 0; i < count; i++) {
			bool mine = rnd(3) != 0;
			enum role role = mine ? R_NOBODY : R_INHERIT;

			gen_one(&mbuf, &in, role);
			send_checked(role, mine ? own : inherited, &mbuf, &in, &r);
			fuzz_sent++;
		}
	}
	for (i = 0; i < 2; i++) {
		memcpy(report.hist[i], hist[R_NOBODY + i], sizeof(report.hist[i]));
		report.sent[i] = sent[R_NOBODY + i];
		report.timeouts[i] = timeouts[R_NOBODY + i];
	}
	report.fuzz_sent = fuzz_sent;
	memcpy(report.fails, fails, sizeof(fails));
	fflush(stdout);
	_exit(write_all(wfd, &report, sizeof(report)) ? 0 : 1);
}

static void merge_report(const struct child_report *c)
{
	int i, e;

	for (i = 0; i < 2; i++) {
		for (e = 0; e < NERR; e++)
			hist[R_NOBODY + i][e] += c->hist[i][e];
		sent[R_NOBODY + i] += c->sent[i];
		timeouts[R_NOBODY + i] += c->timeouts[i];
	}
	for (i = 0; i < T_NLINES; i++)
		fails[i] += c->fails[i];
	fuzz_sent += c->fuzz_sent;
}

/* Run the child for one phase; false if it could not run or report. */
static bool run_child(int devfd, unsigned long count)
{
	/* Half the time the inherited socket is the registered one itself. */
	bool fresh = pct(50);
	int inherited = fresh ? nl_open() : hfd;
	uint64_t seed = rnd64();
	int p[2], status = 0;
	bool ok;
	pid_t pid;

	if (inherited < 0 || pipe(p)) {
		fail(T_NOBODY, "no socket or pipe for the child: %s",
		     strerror(errno));
		return false;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		child_main(p[1], inherited, devfd, seed, count);
	}
	close(p[1]);
	ok = pid > 0 && read_all(p[0], &report, sizeof(report));
	close(p[0]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	if (fresh)
		close(inherited);
	if (!ok || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fail(T_NOBODY, "the nobody child did not report (status %#x)",
		     status);
		return false;
	}
	merge_report(&report);
	if (!report.dropped) {
		fail(T_NOBODY, "the child could not become uid/gid %d", NOBODY);
		return false;
	}
	return true;
}

static void nobody_phase(int devfd, unsigned long count)
{
	struct snap before, after;

	if (!snapshot(&before))
		return;
	run_child(devfd, count);
	if (snapshot(&after)) {
		if (!snap_same(&before, &after))
			fail(T_NOBODY, "the key table changed during an unprivileged phase");
		snap_free(&after);
	}
	snap_free(&before);
}

/* ------------------------------------------------------------------ */
/* Setup, final checks, cleanup                                        */
/* ------------------------------------------------------------------ */

/* Send a valid ADD built by the caller into mbuf; true if it was added. */
static bool add_built(struct intent *in)
{
	struct reply r;

	mbuf.valid = true;
	if (!send_checked(R_HOLDER, hfd, &mbuf, in, &r))
		return true;
	diag("setup: ADD failed: %s (%s)", errno_name(-r.err), r.ext);
	return false;
}

/* REMOVE every key of ours (any run's); returns how many failed. */
static int remove_ours(int *removed)
{
	struct snap s;
	size_t i;
	int bad = 0;

	*removed = 0;
	if (!snapshot(&s))
		return 1;
	for (i = 0; i < s.n; i++) {
		struct tkey k;

		if (!id_ours(s.e[i].id))
			continue;
		memcpy(k.id, s.e[i].id, HSMKEY_ID_LEN);
		k.version = s.e[i].version;
		k.type = s.e[i].type;
		if (holder_do(&sbuf, V_REMOVE, &k))
			bad++;
		else
			(*removed)++;
	}
	snap_free(&s);
	return bad;
}

static bool registered;		/* cleanup() has something to do */

static int setup(int *devfd)
{
	struct hsmkey_register reg = { 0 };
	struct intent in;
	int i, stale;

	*devfd = open("/dev/" HSMKEY_DEVICE_NAME, O_RDWR);
	if (*devfd < 0) {
		diag("open /dev/%s: %s", HSMKEY_DEVICE_NAME, strerror(errno));
		return -1;
	}
	hfd = nl_open();
	ofd = nl_open();
	if (hfd < 0 || ofd < 0) {
		diag("netlink socket: %s", strerror(errno));
		return -1;
	}
	family_id = resolve_family(hfd);
	if (!family_id) {
		diag("generic netlink family %s not found", HSMKEY_GENL_NAME);
		return -1;
	}
	reg.nl_fd = hfd;
	if (ioctl(*devfd, HSMKEY_IOC_REGISTER, &reg)) {
		diag("HSMKEY_IOC_REGISTER: %s", strerror(errno));
		return -1;
	}
	memcpy(transport_key, reg.transport_key, sizeof(transport_key));
	memset(&reg, 0, sizeof(reg));
	registered = true;
	diag("family id %u, holder pid %d", family_id, (int)getpid());

	/* This run's keystores: "nlfz", run tag, 'o', index, random. */
	for (i = 0; i < OWNERS; i++) {
		memcpy(owners[i].id, ID_MAGIC, 4);
		memcpy(owners[i].id + 4, run_tag, 4);
		owners[i].id[8] = 'o';
		owners[i].id[9] = (uint8_t)i;
		rnd_bytes(owners[i].id + 10, 6);
	}
	/* Leftovers of a run that crashed would only collide. */
	if (remove_ours(&stale))
		return -1;
	if (stale)
		diag("removed %d keys left by an earlier run", stale);

	/* One pinned key per keystore: its anchor slot cannot be reused. */
	for (i = 0; i < OWNERS; i++) {
		memset(&in, 0, sizeof(in));
		in.op = V_ADD;
		in.n = 1;
		msg_init(&mbuf, family_id, HSMKEY_CMD_KEY_ADD, 0);
		put_new_key(&mbuf, &in.k[0], KIND_PINNED,
			    1 + (uint32_t)i % HSMKEY_TYPE_MAX, false, i);
		if (!add_built(&in))
			return -1;
	}
	/* One key of every type, in one batch. */
	memset(&in, 0, sizeof(in));
	in.op = V_ADD_BATCH;
	in.n = HSMKEY_TYPE_MAX;
	msg_init(&mbuf, family_id, HSMKEY_CMD_KEY_ADD, 0);
	nest_start(&mbuf, HSMKEY_KEY_A_BATCH);
	for (i = 0; i < HSMKEY_TYPE_MAX; i++) {
		nest_start(&mbuf, (uint16_t)(i + 1));
		put_new_key(&mbuf, &in.k[i], KIND_NORMAL, 1 + (uint32_t)i,
			    false, -1);
		nest_end(&mbuf);
	}
	nest_end(&mbuf);
	if (!add_built(&in))
		return -1;
	resync();
	diag("provisioned %zu keys", nkeys);
	return fails[T_SETUP] ? -1 : 0;
}

static bool info_ok;

static void info_cb(const struct nlmsghdr *nlh, void *ctx)
{
	const struct nlattr *a;
	const uint8_t *p;
	size_t len;
	int have = 0;
	uint32_t holder = 0, nk = 0;

	(void)ctx;
	p = genl_attrs(nlh, &len);
	for_each_attr(a, p, len) {
		switch (a->nla_type & NLA_TYPE_MASK) {
		case HSMKEY_INFO_A_VERSION:
			have |= 1;
			break;
		case HSMKEY_INFO_A_NKEYS:
			nk = (uint32_t)attr_num(a);
			have |= 2;
			break;
		case HSMKEY_INFO_A_HOLDER:
			holder = (uint32_t)attr_num(a);
			have |= 4;
			break;
		}
	}
	info_ok = have == 7;
	diag("INFO: %u keys, holder pid %u", nk, holder);
	if (info_ok && holder != (uint32_t)getpid())
		fail(T_FINAL, "INFO names holder pid %u, not %d", holder,
		     (int)getpid());
}

/* Invariant 7: the module still answers after all that. */
static void final_checks(unsigned long want)
{
	struct intent in;
	struct reply r;
	struct snap s;
	int rc;

	build_valid(&sbuf, &in, V_INFO, NULL);
	rc = nl_transact(hfd, &sbuf, info_cb, NULL, &r);
	check_reply(R_HOLDER, &sbuf, &in, rc, &r);
	if (rc || r.err || !info_ok)
		fail(T_FINAL, "INFO did not answer: %s", errno_name(-r.err));
	if (snapshot(&s)) {
		diag("final table: %zu keys", s.n);
		snap_free(&s);
	}
	if (fuzz_sent < want)
		fail(T_FINAL, "sent %" PRIu64 " messages, fewer than %lu",
		     fuzz_sent, want);
}

static void cleanup(int devfd)
{
	struct snap s;
	size_t i;
	int removed;

	if (remove_ours(&removed))
		fail(T_CLEANUP, "some REMOVEs failed");
	diag("cleanup removed %d keys", removed);
	if (snapshot(&s)) {
		for (i = 0; i < s.n; i++)
			if (id_ours(s.e[i].id))
				fail(T_CLEANUP, "a key of ours is still there");
		snap_free(&s);
	} else {
		fail(T_CLEANUP, "no dump after cleanup");
	}
	close(ofd);
	close(devfd);
	close(hfd);
}

/* ------------------------------------------------------------------ */
/* main                                                                */
/* ------------------------------------------------------------------ */

static void report_stats(void)
{
	char line[512];
	size_t off = 0;
	int i;

	for (i = 0; i < R_NROLES; i++) {
		hist_print(role_name[i], hist[i], sent[i]);
		if (timeouts[i])
			diag("%s: %" PRIu64 " timeouts", role_name[i],
			     timeouts[i]);
	}
	for (i = 0; i < C_NCOV; i++) {
		off += snprintf(line + off, sizeof(line) - off, " %s=%" PRIu64,
				cov_name[i], cov[i]);
		if (!cov[i])
			fail(T_COVERAGE, "no 0 reply for %s", cov_name[i]);
	}
	diag("handlers answering 0:%s", line);
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-n MESSAGES] [-s SEED]\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	static const enum role pattern[] = {
		R_HOLDER, R_OTHER, R_HOLDER, R_NOBODY, R_HOLDER,
		R_NOBODY, R_HOLDER, R_OTHER, R_HOLDER, R_NOBODY,
	};
	unsigned long want = 100000, per, phase;
	struct timespec t0, t1;
	bool setup_ok;
	uint64_t seed;
	char *end;
	int opt, devfd = -1, i;

	clock_gettime(CLOCK_REALTIME, &t0);
	seed = (uint64_t)t0.tv_sec * 1000000000ULL + (uint64_t)t0.tv_nsec;
	/* The harness's default for this kernel (fewer under KASAN). */
	if (getenv("NL_FUZZ_N"))
		want = strtoul(getenv("NL_FUZZ_N"), NULL, 0);
	while ((opt = getopt(argc, argv, "n:s:")) != -1) {
		switch (opt) {
		case 'n':
			want = strtoul(optarg, &end, 0);
			if (*end || !*optarg)
				usage(argv[0]);
			break;
		case 's':
			seed = strtoull(optarg, &end, 0);
			if (*end || !*optarg)
				usage(argv[0]);
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc)
		usage(argv[0]);

	printf("1..%d\n", T_NLINES);
	printf("# seed %" PRIu64 "\n", seed);
	fflush(stdout);
	rng_state = seed;
	rnd_bytes(run_tag, sizeof(run_tag));
	clock_gettime(CLOCK_MONOTONIC, &t0);

	setup_ok = !setup(&devfd);
	if (!setup_ok) {
		fails[T_SETUP]++;
		if (registered)
			cleanup(devfd);
	} else {
		/* Phases small enough to interleave, big enough to be cheap. */
		per = want / 50;
		per = per < 20 ? 20 : per > 2000 ? 2000 : per;
		sweep();
		for (phase = 0; fuzz_sent < want || phase < 4; phase++) {
			unsigned long left = fuzz_sent < want ? want - fuzz_sent : 0;
			unsigned long count = left && left < per ? left : per;

			switch (pattern[phase % ARRAY_SIZE(pattern)]) {
			case R_HOLDER:
				holder_phase(count);
				break;
			case R_OTHER:
				other_phase(count);
				break;
			default:
				nobody_phase(devfd, count);
			}
		}
		final_checks(want);
		report_stats();
		cleanup(devfd);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	diag("%" PRIu64 " generated messages, %.1f s",
	     fuzz_sent, (double)(t1.tv_sec - t0.tv_sec) +
	     (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);

	for (i = 0; i < T_NLINES; i++) {
		if (!setup_ok && i != T_SETUP)
			printf("not ok %d - %s # setup failed\n", i + 1,
			       tap_name[i]);
		else if (fails[i])
			printf("not ok %d - %s (%lu failures)\n", i + 1,
			       tap_name[i], fails[i]);
		else
			printf("ok %d - %s\n", i + 1, tap_name[i]);
	}
	fflush(stdout);
	for (i = 0; i < T_NLINES; i++)
		if (fails[i] || !setup_ok)
			return 1;
	return 0;
}
