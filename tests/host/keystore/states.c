// SPDX-License-Identifier: GPL-2.0
/*
 * Key states: the transition rules, deletion scheduling and its
 * cancellation (revocation survives it), and usage counts that persist.
 */
#include "common.h"

TEST_F(ks, pending_deletion_persists)
{
	struct ks_key got;

	ASSERT_EQ(0, ks_create(self->ks, "k1", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	ASSERT_EQ(0, ks_set_state_at(self->ks, "k1", KS_PENDING_DELETION, 1234567));
	ks_close(self->ks);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	ASSERT_EQ(0, ks_get(self->ks, "k1", true, &got));
	EXPECT_EQ(KS_PENDING_DELETION, got.state);
	EXPECT_EQ(1234567, got.delete_at);
	ASSERT_EQ(0, ks_set_state(self->ks, "k1", KS_DISABLED));
	ASSERT_EQ(0, ks_get(self->ks, "k1", false, &got));
	EXPECT_EQ(KS_DISABLED, got.state);
	EXPECT_EQ(0, got.delete_at);
}

/* The state rules of backend.h, each transition as a case. */
struct state_case {
	const char *what;
	int from;		/* reached by set_state from active */
	int to;
	int err;
};

static const struct state_case state_cases[] = {
	{ "revoked to active", KS_REVOKED, KS_ACTIVE, -EPERM },
	{ "revoked to disabled", KS_REVOKED, KS_DISABLED, -EPERM },
	{ "revoked to revoked", KS_REVOKED, KS_REVOKED, -EPERM },
	{ "revoked to pending deletion", KS_REVOKED, KS_PENDING_DELETION, 0 },
	{ "disabled to active", KS_DISABLED, KS_ACTIVE, 0 },
	{ "active to revoked", KS_ACTIVE, KS_REVOKED, 0 },
};

TEST_F(ks, state_rules)
{
	for (size_t i = 0; i < ARRAY_SIZE(state_cases); i++) {
		const struct state_case *c = &state_cases[i];
		char name[16];

		snprintf(name, sizeof(name), "s%zu", i);
		ASSERT_EQ(0, ks_create(self->ks, name, HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
		if (c->from != KS_ACTIVE)
			ASSERT_EQ(0, ks_set_state(self->ks, name, c->from));
		EXPECT_EQ(c->err, ks_set_state_at(self->ks, name, c->to, 100)) {
			TH_LOG("%s: expected %d", c->what, c->err);
		}
	}
}

/* The review's finding: revoke, schedule, cancel, enable left it active. */
TEST_F(ks, revocation_survives_a_cancelled_deletion)
{
	struct ks_key got;

	ASSERT_EQ(0, ks_create(self->ks, "k1", HSMKEY_TYPE_AES_256_XTS, NULL, NULL));
	ASSERT_EQ(0, ks_set_state(self->ks, "k1", KS_REVOKED));
	ASSERT_EQ(0, ks_set_state_at(self->ks, "k1", KS_PENDING_DELETION, 1000));
	ks_close(self->ks);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	ASSERT_EQ(0, ks_get(self->ks, "k1", false, &got));
	EXPECT_EQ(KS_REVOKED, got.prior_state);
	/* Old callers cancelled by setting "disabled": refused for a revoked key. */
	EXPECT_EQ(-EPERM, ks_set_state(self->ks, "k1", KS_DISABLED));
	EXPECT_EQ(-EPERM, ks_set_state(self->ks, "k1", KS_ACTIVE));
	ASSERT_EQ(0, ks_cancel_deletion(self->ks, "k1", &got));
	EXPECT_EQ(KS_REVOKED, got.state);
	EXPECT_EQ(-EPERM, ks_set_state(self->ks, "k1", KS_ACTIVE));
	ASSERT_EQ(0, ks_get(self->ks, "k1", true, &got));
	EXPECT_EQ(KS_REVOKED, got.state);
	EXPECT_EQ(-EINVAL, ks_cancel_deletion(self->ks, "k1", &got));
}

TEST_F(ks, cancel_restores_the_prior_state)
{
	static const int prior[] = { KS_ACTIVE, KS_DISABLED };
	struct ks_key got;

	for (size_t i = 0; i < ARRAY_SIZE(prior); i++) {
		ASSERT_EQ(0, ks_create(self->ks, i ? "c1" : "c0", HSMKEY_TYPE_AES_256_XTS,
				       NULL, NULL));
		if (prior[i] != KS_ACTIVE)
			ASSERT_EQ(0, ks_set_state(self->ks, "c1", prior[i]));
		ASSERT_EQ(0, ks_set_state_at(self->ks, i ? "c1" : "c0", KS_PENDING_DELETION, 5));
		/* Rescheduling keeps what was before the first schedule. */
		ASSERT_EQ(0, ks_set_state_at(self->ks, i ? "c1" : "c0", KS_PENDING_DELETION, 9));
		ASSERT_EQ(0, ks_cancel_deletion(self->ks, i ? "c1" : "c0", &got));
		EXPECT_EQ(prior[i], got.state) TH_LOG("case %zu", i);
		ASSERT_EQ(0, ks_get(self->ks, i ? "c1" : "c0", false, &got));
		EXPECT_EQ(prior[i], got.state) TH_LOG("case %zu", i);
		EXPECT_EQ(0, got.delete_at);
	}
}

TEST_F(ks, usage_persists_per_version_and_never_decreases)
{
	struct ks_key got;

	ASSERT_EQ(0, ks_create(self->ks, "u", HSMKEY_TYPE_AES_256_GCM, NULL, NULL));
	ASSERT_EQ(0, ks_rotate(self->ks, "u", NULL, NULL));
	ASSERT_EQ(0, ks_set_usage(self->ks, "u", 1, 4096, 3));
	ASSERT_EQ(0, ks_set_usage(self->ks, "u", 2, 100, 7));
	ASSERT_EQ(0, ks_set_usage(self->ks, "u", 1, 10, 1));	/* stale: ignored */
	EXPECT_EQ(-ENOENT, ks_set_usage(self->ks, "u", 3, 1, 1));
	ks_close(self->ks);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	ASSERT_EQ(0, ks_get_version(self->ks, "u", 1, true, &got));
	EXPECT_EQ(4096, got.used_bytes);
	EXPECT_EQ(3, got.used_requests);
	ASSERT_EQ(0, ks_get_version(self->ks, "u", 2, false, &got));
	EXPECT_EQ(100, got.used_bytes);
	EXPECT_EQ(7, got.used_requests);
	/* A rotation starts the new version at zero and keeps the old figures. */
	ASSERT_EQ(0, ks_rotate(self->ks, "u", NULL, &got));
	EXPECT_EQ(0, got.used_requests);
	ASSERT_EQ(0, ks_get_version(self->ks, "u", 2, false, &got));
	EXPECT_EQ(7, got.used_requests);
}
