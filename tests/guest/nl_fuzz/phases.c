// SPDX-License-Identifier: GPL-2.0
/*
 * Phases of the run: the holder's and the other socket's messages, and the
 * holder's resynchronisation with the key table between them.
 */
#include "nl_fuzz.h"

struct msg sbuf;		/* for bookkeeping, not to clobber mbuf */

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
void resync(void)
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
void sweep(void)
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

void holder_phase(unsigned long count)
{
	run_messages(R_HOLDER, hfd, count);
	resync();
}

void other_phase(unsigned long count)
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
