// SPDX-License-Identifier: GPL-2.0
/*
 * Snapshots of the key table: a KEY_GET dump by the holder, parsed into
 * sorted entries, so phases can check that a role changed nothing.
 */
#include "nl_fuzz.h"

void snap_free(struct snap *s)
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

int kent_cmp(const void *a, const void *b)
{
	const struct kent *x = a, *y = b;

	return kid_cmp(x->id, x->version, y->id, y->version);
}

void hex(char *out, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

/* The whole key table, sorted by id and version; false on failure. */
bool snapshot(struct snap *s)
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
bool snap_same(const struct snap *a, const struct snap *b)
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
