// SPDX-License-Identifier: GPL-2.0
/*
 * Setup (register on /dev/hsmkey, provision keys), the final checks (INFO
 * and a dump still answer) and cleanup of every key the fuzzer added.
 */
#include "nl_fuzz.h"

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

bool registered;		/* cleanup() has something to do */

int setup(int *devfd)
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
void final_checks(unsigned long want)
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

void cleanup(int devfd)
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
