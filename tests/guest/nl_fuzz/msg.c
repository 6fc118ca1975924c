// SPDX-License-Identifier: GPL-2.0
/*
 * Building generic netlink messages in one buffer: attributes, nests (also
 * deliberately malformed ones), so generators need not count bytes.
 */
#include "nl_fuzz.h"

struct nlmsghdr *msg_nlh(struct msg *m)
{
	return (struct nlmsghdr *)m->buf;
}

struct genlmsghdr *msg_genl(struct msg *m)
{
	return (struct genlmsghdr *)(m->buf + NLMSG_HDRLEN);
}

void msg_init(struct msg *m, uint16_t family, uint8_t cmd,
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
void msg_raw(struct msg *m, const void *data, size_t len)
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
void msg_put(struct msg *m, uint16_t type, const void *data, size_t len)
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

void msg_u32(struct msg *m, uint16_t type, uint32_t v)
{
	msg_put(m, type, &v, sizeof(v));
}

void msg_u64(struct msg *m, uint16_t type, uint64_t v)
{
	msg_put(m, type, &v, sizeof(v));
}

void msg_str(struct msg *m, uint16_t type, const char *s)
{
	msg_put(m, type, s, strlen(s) + 1);
}

/* A number in @len bytes: exact, or cut/extended to test length checks. */
void msg_num(struct msg *m, uint16_t type, uint64_t v, size_t len)
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
void nest_start(struct msg *m, uint16_t type)
{
	nest_start_raw(m, type | NLA_F_NESTED);
}

/* A random nest: now and then without NLA_F_NESTED. */
void nest_start_fuzz(struct msg *m, uint16_t type)
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
void nest_end(struct msg *m)
{
	struct nlattr *nla;

	if (--m->depth >= NEST_MAX)
		return;
	nla = (struct nlattr *)(m->buf + m->nest[m->depth]);
	nla->nla_len = (uint16_t)(m->len - m->nest[m->depth]);
}

/* Room left for attributes that must stay in a 16-bit nest length. */
size_t nest_used(const struct msg *m)
{
	return m->depth ? m->len - m->nest[0] : 0;
}
