// SPDX-License-Identifier: GPL-2.0
/*
 * Single mutations of valid messages: a flipped bit, a wrong length or type
 * at any nesting level.
 */
#include "nl_fuzz.h"

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

void mutate(struct msg *m)
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
