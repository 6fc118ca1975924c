// SPDX-License-Identifier: GPL-2.0
/*
 * Replies and the invariants they are held to: known errnos only, no
 * success for the unprivileged or unregistered, audit anchors that never go
 * backwards, revocation that cannot be undone; coverage of each handler.
 */
#include "nl_fuzz.h"

const char *const cov_name[C_NCOV] = {
	"ADD", "REVOKE", "REMOVE", "DISABLE", "ENABLE", "SET_POLICY",
	"KEY_GET", "KEY_GET(dump)", "INFO", "AUDIT_GET", "AUDIT_SET",
};

uint64_t cov[C_NCOV];
int hfd = -1;			/* the registered socket */
int ofd = -1;			/* root, not registered */
uint64_t fuzz_sent;		/* generated messages, all roles */
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
void key_reply(const uint8_t *p, size_t len)
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
void check_reply(enum role role, struct msg *m, const struct intent *in,
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
int send_checked(enum role role, int fd, struct msg *m,
		 const struct intent *in, struct reply *r)
{
	bool root = role == R_HOLDER || role == R_OTHER;
	int rc = nl_transact(fd, m, root ? reply_cb : NULL, NULL, r);

	check_reply(role, m, in, rc, r);
	return rc ? rc : r->err;
}

/* One generated message: valid (30%), mutated valid (20%) or random. */
void gen_one(struct msg *m, struct intent *in, enum role role)
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
int holder_do(struct msg *m, enum vop op, struct tkey *target)
{
	struct intent in;
	struct reply r;

	build_valid(m, &in, op, target);
	return send_checked(R_HOLDER, hfd, m, &in, &r);
}
