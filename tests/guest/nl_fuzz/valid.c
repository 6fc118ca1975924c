// SPDX-License-Identifier: GPL-2.0
/*
 * Valid commands on known keys, each with the intent it carries, so the
 * holder can follow its effect on the table.
 */
#include "nl_fuzz.h"

const char *const vop_name[V_NOPS] = {
	"random", "ADD", "ADD(batch)", "ADD(xts equal halves)", "REVOKE",
	"REMOVE", "DISABLE", "ENABLE", "ENABLE(revoked)", "SET_POLICY",
	"GET", "GET(dump)", "INFO", "AUDIT_GET", "AUDIT_SET",
};

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
void put_new_key(struct msg *m, struct tkey *k, uint8_t kind,
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

size_t keys_unpinned(void)
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
enum vop pick_vop(void)
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
void build_valid(struct msg *m, struct intent *in, enum vop op,
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
