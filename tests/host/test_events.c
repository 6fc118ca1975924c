// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's listener on the kernel's events group, from the attacker's
 * side: any local process can send a netlink unicast to the listener's
 * port.  Whatever it sends must be dropped unread: a forged event would be
 * audited as the kernel's (or open a false gap in the sequence), a forged
 * error or "done" would make the daemon leave the group.
 *
 * The file under test is included: struct kernel is private to it, and on
 * a host without hsmkey.ko there is no family to open a listener with, so
 * the test builds one on a plain generic netlink socket.
 */
#include "../../daemon/kernel.c"
#include "../../daemon/kernel_events.c"
#include "kselftest_harness.h"

#define FAKE_FAMILY 0x7777	/* a family id no kernel message carries here */

enum forgery { EVENT, EVENT_OTHER_FAMILY, ERROR, DONE };

FIXTURE(listener) {
	struct kernel k;
	struct nl_sock *attacker;
	unsigned int delivered;
};

FIXTURE_VARIANT(listener) {
	enum forgery what;
};

FIXTURE_VARIANT_ADD(listener, forged_event) { .what = EVENT };
FIXTURE_VARIANT_ADD(listener, forged_event_of_another_family) { .what = EVENT_OTHER_FAMILY };
FIXTURE_VARIANT_ADD(listener, forged_error) { .what = ERROR };
FIXTURE_VARIANT_ADD(listener, forged_done) { .what = DONE };

FIXTURE_SETUP(listener)
{
	self->k.sk = nl_socket_alloc();
	ASSERT_NE(NULL, self->k.sk);
	ASSERT_EQ(0, nl_connect(self->k.sk, NETLINK_GENERIC));
	self->k.family = FAKE_FAMILY;
	nl_socket_disable_seq_check(self->k.sk);
	nl_socket_set_nonblocking(self->k.sk);
	self->attacker = nl_socket_alloc();
	ASSERT_NE(NULL, self->attacker);
	ASSERT_EQ(0, nl_connect(self->attacker, NETLINK_GENERIC));
	nl_socket_set_peer_port(self->attacker, nl_socket_get_local_port(self->k.sk));
}

FIXTURE_TEARDOWN(listener)
{
	nl_socket_free(self->attacker);
	nl_socket_free(self->k.sk);
}

static int count_event(const struct kernel_event *e, void *arg)
{
	(void)e;
	(*(unsigned int *)arg)++;
	return 0;
}

static struct nl_msg *forge(enum forgery what)
{
	static const uint8_t id[HSMKEY_ID_LEN] = { 0x42 };
	struct nl_msg *msg = nlmsg_alloc();
	struct nlmsgerr *err;

	if (!msg)
		return NULL;
	switch (what) {
	case EVENT:
	case EVENT_OTHER_FAMILY:
		/* A revoke far ahead in the sequence: a false "events lost". */
		if (!genlmsg_put(msg, NL_AUTO_PORT, 0, what == EVENT ? FAKE_FAMILY : FAKE_FAMILY + 1,
				 0, 0, HSMKEY_CMD_EVENT, HSMKEY_GENL_VERSION) ||
		    nla_put_u32(msg, HSMKEY_EVENT_A_TYPE, HSMKEY_EVENT_REVOKE) ||
		    nla_put_u64(msg, HSMKEY_EVENT_A_SEQ, 1000000) ||
		    nla_put(msg, HSMKEY_EVENT_A_KEY_ID, HSMKEY_ID_LEN, id) ||
		    nla_put_string(msg, HSMKEY_EVENT_A_COMM, "forged"))
			goto bad;
		return msg;
	case ERROR:
		err = nlmsg_data(nlmsg_put(msg, NL_AUTO_PORT, 0, NLMSG_ERROR, sizeof(*err), 0));
		err->error = -EIO;
		return msg;
	case DONE:
		if (!nlmsg_put(msg, NL_AUTO_PORT, 0, NLMSG_DONE, 0, 0))
			goto bad;
		return msg;
	}
bad:
	nlmsg_free(msg);
	return NULL;
}

TEST_F(listener, drops_what_the_kernel_did_not_send)
{
	struct nl_msg *msg = forge(variant->what);

	ASSERT_NE(NULL, msg);
	ASSERT_LE(0, nl_send(self->attacker, msg)) TH_LOG("the forged message was not sent");
	nlmsg_free(msg);
	EXPECT_EQ(0, kernel_events_read(&self->k, count_event, &self->delivered))
		TH_LOG("case %d: the forged message made the listener fail (it would leave the group)",
		       variant->what);
	EXPECT_EQ(0, self->delivered)
		TH_LOG("case %d: a forged message was delivered as a kernel event", variant->what);
}

TEST_HARNESS_MAIN
