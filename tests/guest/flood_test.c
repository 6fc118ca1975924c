// SPDX-License-Identifier: GPL-2.0
/*
 * An unprivileged user floods setkey() with tokens for 20 s (FLOOD_SECONDS):
 * random ids that name no key, and a real key's id with a wrong verifier.
 * Meanwhile root is genuinely refused a disabled key, twice.  The listener
 * must still see both genuine denials; the flood may cost it no more than
 * the per-uid rate in events, unknown ids none at all; what was held back
 * is counted as suppressed, not as a gap in the sequence; and the kernel
 * log gets no rate-limit chatter.
 */
#include <sys/klog.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include "evtest.h"
#include "algtest.h"
#include "kselftest_harness.h"

struct flood_counts {
	uint64_t unknown, wrong;
};

struct tally {
	const uint8_t *real_id, *disabled_id;
	uint64_t first_seq, last_seq, gaps, events;
	uint64_t deny_nobody, deny_root_disabled, deny_other_id, suppressed;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int tally_event(struct nl_msg *msg, void *arg)
{
	struct nlattr *tb[HSMKEY_EVENT_A_MAX + 1];
	struct tally *t = arg;
	uint64_t seq;
	const uint8_t *id;
	uint32_t type, uid;

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, HSMKEY_EVENT_A_MAX, NULL) < 0 ||
	    !tb[HSMKEY_EVENT_A_SEQ] || !tb[HSMKEY_EVENT_A_TYPE] ||
	    !tb[HSMKEY_EVENT_A_KEY_ID] || !tb[HSMKEY_EVENT_A_UID])
		return NL_SKIP;
	seq = nla_get_u64(tb[HSMKEY_EVENT_A_SEQ]);
	type = nla_get_u32(tb[HSMKEY_EVENT_A_TYPE]);
	uid = nla_get_u32(tb[HSMKEY_EVENT_A_UID]);
	id = nla_data(tb[HSMKEY_EVENT_A_KEY_ID]);
	if (t->events && seq != t->last_seq + 1)
		t->gaps++;
	if (!t->events)
		t->first_seq = seq;
	t->last_seq = seq;
	t->events++;
	if (tb[HSMKEY_EVENT_A_SUPPRESSED])
		t->suppressed = nla_get_u64(tb[HSMKEY_EVENT_A_SUPPRESSED]);
	if (type != HSMKEY_EVENT_DENY)
		return NL_OK;
	if (memcmp(id, t->real_id, HSMKEY_ID_LEN) &&
	    memcmp(id, t->disabled_id, HSMKEY_ID_LEN))
		t->deny_other_id++;
	else if (uid == 65534)
		t->deny_nobody++;
	else if (uid == 0 && !memcmp(id, t->disabled_id, HSMKEY_ID_LEN))
		t->deny_root_disabled++;
	return NL_OK;
}

static void drain(struct nl_sock *sk, struct tally *t)
{
	struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
	struct timeval tv = { .tv_usec = 500000 };

	setsockopt(nl_socket_get_fd(sk), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	nl_cb_set(cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, ev_any_seq, NULL);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, tally_event, t);
	while (nl_recvmsgs(sk, cb) >= 0)
		;
	nl_cb_put(cb);
}

/* As nobody: refused tokens for @seconds; the counts go to @fd. */
static int flood(const struct nlt_key *real, double seconds, int fd)
{
	uint8_t tok[HSMKEY_TOKEN_LEN], bad[HSMKEY_TOKEN_LEN];
	struct flood_counts c = { 0 };
	double end;
	int tfm, i;

	if (nlt_drop_to_nobody())
		return 1;
	tfm = alg_open("xts(hsmaes)");
	if (tfm < 0)
		return 2;
	nlt_token(real, tok);
	end = now_s() + seconds;
	while (now_s() < end) {
		for (i = 0; i < 64; i++) {
			memcpy(bad, tok, sizeof(bad));
			if (i & 1) {
				rand_fill(bad + 8, HSMKEY_ID_LEN);	/* no such key */
				c.unknown += alg_setkey(tfm, bad, sizeof(bad)) == -ENOKEY;
			} else {
				rand_fill(bad + 32, HSMKEY_VERIFIER_LEN);
				c.wrong += alg_setkey(tfm, bad, sizeof(bad)) == -ENOKEY;
			}
		}
	}
	close(tfm);
	return write(fd, &c, sizeof(c)) == sizeof(c) ? 0 : 3;
}

/* Root is refused the disabled key: a denial that must be heard. */
static int genuine_denial(const struct nlt_key *k)
{
	uint8_t tok[HSMKEY_TOKEN_LEN];
	int tfm = alg_open("xts(hsmaes)"), r;

	if (tfm < 0)
		return tfm;
	nlt_token(k, tok);
	r = alg_setkey(tfm, tok, sizeof(tok));
	close(tfm);
	return r;
}

static bool log_has(const char *needle)
{
	int n = klogctl(10, NULL, 0);	/* SYSLOG_ACTION_SIZE_BUFFER */
	char *buf = n > 0 ? malloc(n + 1) : NULL;
	bool found;

	if (!buf)
		return false;
	n = klogctl(3, buf, n);		/* SYSLOG_ACTION_READ_ALL */
	buf[n > 0 ? n : 0] = '\0';
	found = strstr(buf, needle) != NULL;
	free(buf);
	return found;
}

TEST(nobody_cannot_drown_the_events)
{
	const char *env = getenv("FLOOD_SECONDS");
	double seconds = env ? atof(env) : 20, start;
	struct flood_counts c = { 0 };
	uint64_t unknown0, suppressed0;
	struct nlt_key real, off;
	struct tally tally = { 0 };
	struct nl_sock *listener;
	int fds[2], err, i;
	struct nlt t;
	pid_t pid;

	ASSERT_EQ(0, nlt_open(&t));
	nlt_key_random(&real, "flood-real", HSMKEY_TYPE_AES_256_XTS);
	nlt_key_random(&off, "flood-disabled", HSMKEY_TYPE_AES_256_XTS);
	ASSERT_EQ(0, nlt_add(&t, &real));
	ASSERT_EQ(0, nlt_add(&t, &off));
	ASSERT_EQ(0, nlt_disable(&t, &off));
	tally.real_id = real.id;
	tally.disabled_id = off.id;
	listener = ev_listen(ev_group(), &err);
	ASSERT_EQ(0, err);
	/* Read once the flood is over: room for what the limits let through. */
	err = 8 << 20;
	ASSERT_EQ(0, setsockopt(nl_socket_get_fd(listener), SOL_SOCKET, SO_RCVBUFFORCE,
				&err, sizeof(err)));
	ASSERT_EQ(0, nlt_info(&t));
	unknown0 = t.stat_denies_unknown;
	suppressed0 = t.stat_suppressed;

	ASSERT_EQ(0, pipe(fds));
	start = now_s();
	pid = fork();
	if (!pid)
		_exit(flood(&real, seconds, fds[1]));
	/* Two genuine denials, a quarter and three quarters in. */
	for (i = 1; i <= 3; i += 2) {
		while (now_s() < start + seconds * i / 4)
			usleep(20000);
		EXPECT_EQ(-EPERM, genuine_denial(&off));
	}
	ASSERT_EQ(sizeof(c), (size_t)read(fds[0], &c, sizeof(c)));
	EXPECT_EQ(0, waitpid(pid, &err, 0) == pid && WIFEXITED(err) ?
		  WEXITSTATUS(err) : -1);
	drain(listener, &tally);
	ASSERT_EQ(0, nlt_info(&t));

	TH_LOG("%.0f s: %llu unknown ids, %llu wrong verifiers; %llu events heard, %llu from nobody",
	       seconds, (unsigned long long)c.unknown, (unsigned long long)c.wrong,
	       (unsigned long long)tally.events, (unsigned long long)tally.deny_nobody);
	EXPECT_LT(1000, c.unknown + c.wrong) TH_LOG("the flood was too slow to mean anything");
	EXPECT_LT(0, tally.events) TH_LOG("the listener heard nothing (overran?)");
	EXPECT_EQ(2, tally.deny_root_disabled) TH_LOG("a genuine denial was drowned");
	EXPECT_EQ(0, tally.deny_other_id) TH_LOG("unknown ids must not make events");
	EXPECT_EQ(c.unknown, t.stat_denies_unknown - unknown0)
		TH_LOG("unknown ids must be counted");
	EXPECT_LE(tally.deny_nobody, (uint64_t)(HSMKEY_EVENT_DENY_RATE * (seconds + 2)));
	EXPECT_LE(HSMKEY_EVENT_DENY_RATE, tally.deny_nobody);
	EXPECT_EQ(c.wrong - tally.deny_nobody, t.stat_suppressed - suppressed0)
		TH_LOG("what the limit held back is counted as suppressed");
	EXPECT_EQ(0, tally.gaps) TH_LOG("suppression must not look like loss");
	EXPECT_EQ(t.stat_events, tally.last_seq);
	EXPECT_FALSE(log_has("callbacks suppressed"));
	EXPECT_EQ(0, nlt_remove(&t, &real));
	EXPECT_EQ(0, nlt_remove(&t, &off));
	nl_socket_free(listener);
	nlt_close(&t);
}

TEST_HARNESS_MAIN
