// SPDX-License-Identifier: GPL-2.0
/*
 * Random messages: attribute sets drawn from each command's attribute space,
 * plausible enough to pass the outer checks and reach the inner ones.
 */
#include "nl_fuzz.h"

enum space cmd_space(uint8_t cmd)
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
uint16_t pick_type(unsigned int max)
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

/*
 * An end-to-end nest: a handle (rarely a live one: the fuzzer asks for
 * none), a point that is mostly not on the curve, a blob of a KW length.
 */
static void gen_e2e(struct msg *m, uint16_t type)
{
	static const size_t kw_len[] = { 24, 40, 72 };
	unsigned int i, n = rnd(5);
	uint8_t point[HSMKEY_E2E_POINT_LEN];

	nest_start_fuzz(m, type);
	for (i = 0; i < n; i++) {
		uint16_t t = pick_type(HSMKEY_E2E_A_MAX);

		switch (t) {
		case HSMKEY_E2E_A_HANDLE:
			msg_num(m, t, pct(50) ? rnd(8) : pick_u64(), pick_len(8));
			break;
		case HSMKEY_E2E_A_POINT:
			if (pct(10)) {
				put_blob(m, t, pick_len(sizeof(point)));
				break;
			}
			for (size_t j = 0; j < sizeof(point); j++)
				point[j] = (uint8_t)rnd(256);
			point[0] = pct(90) ? 0x04 : point[0];
			msg_put(m, t, point, sizeof(point));
			break;
		case HSMKEY_E2E_A_WRAPPED:
			put_blob(m, t, pct(80) ? kw_len[rnd(ARRAY_SIZE(kw_len))] : pick_len(40));
			break;
		default:
			put_blob(m, t, rnd(12));
		}
	}
	nest_end(m);
}

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
	case HSMKEY_KEY_A_E2E:
		if (depth < 3)
			gen_e2e(m, t);
		else
			put_blob(m, t, rnd(16));
		break;
	case HSMKEY_KEY_A_STATE:
	case HSMKEY_KEY_A_BINDINGS:
	case HSMKEY_KEY_A_DELIVERY:
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

void gen_random(struct msg *m, enum role role)
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
