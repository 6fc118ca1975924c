// SPDX-License-Identifier: GPL-2.0
/*
 * A flood of kernel events must cost the daemon a bounded amount of work:
 * however many gaps the event sequence shows, one reconciliation runs at a
 * time and at most one more waits (each re-reads every key under the
 * mutation lock); refused tokens are counted, not recorded one by one.
 *
 * events.c is included (its event handler is private to it); the rest of
 * the daemon is linked as built.  The host has no hsmkey.ko, so the
 * reconciliation itself finds the module absent and ends at once.
 */
#include "../../daemon/events.c"
#include "kselftest_harness.h"

FIXTURE(daemon) {
	struct daemon d;
};

FIXTURE_SETUP(daemon)
{
	memset(&self->d, 0, sizeof(self->d));
	pthread_mutex_init(&self->d.mutate, NULL);
	pthread_mutex_init(&self->d.lock, NULL);
}

FIXTURE_TEARDOWN(daemon)
{
	pthread_mutex_destroy(&self->d.mutate);
	pthread_mutex_destroy(&self->d.lock);
}

/* Events @from, @from + 2, ...: each after the first leaves a gap. */
static void gapped_events(struct daemon *d, uint64_t from, int n, uint32_t type)
{
	struct kernel_event e = { .type = type };

	for (int i = 0; i < n; i++) {
		e.seq = from + 2 * (uint64_t)i;
		on_kernel_event(&e, d);
	}
}

/* How many reconciliations the event loop would queue now, asked @times. */
static int queued(struct daemon *d, int times)
{
	int n = 0;

	while (times--)
		n += control_reconcile_due(d);
	return n;
}

TEST_F(daemon, a_thousand_gaps_queue_one_reconciliation)
{
	self->d.last_kseq = 1;
	gapped_events(&self->d, 3, 1000, HSMKEY_EVENT_ADD);
	EXPECT_EQ(1, queued(&self->d, 1000));
}

TEST_F(daemon, gaps_while_one_runs_queue_one_more)
{
	self->d.last_kseq = 1;
	gapped_events(&self->d, 3, 10, HSMKEY_EVENT_ADD);
	ASSERT_EQ(1, queued(&self->d, 1));
	/* It runs (a worker); meanwhile more gaps: nothing more is queued ... */
	gapped_events(&self->d, 100, 1000, HSMKEY_EVENT_ADD);
	EXPECT_EQ(0, queued(&self->d, 1000));
	control_reconcile(&self->d);
	/* ... until it ends: then exactly one more. */
	EXPECT_EQ(1, queued(&self->d, 1000));
	control_reconcile(&self->d);
	EXPECT_EQ(0, queued(&self->d, 1000));
}

TEST_F(daemon, events_in_sequence_queue_none)
{
	struct kernel_event e = { .type = HSMKEY_EVENT_ADD };

	for (e.seq = 1; e.seq <= 1000; e.seq++)
		on_kernel_event(&e, &self->d);
	EXPECT_EQ(0, queued(&self->d, 10));
}

TEST_F(daemon, a_denial_flood_is_one_count)
{
	struct kernel_event e = { .type = HSMKEY_EVENT_DENY, .uid = 1000, .err = EKEYREJECTED };

	for (e.seq = 1; e.seq <= 100000; e.seq++)
		on_kernel_event(&e, &self->d);
	EXPECT_EQ(100000, self->d.denials);
	EXPECT_EQ(100000, self->d.denial_last.seq);
	/* The interval is not over: nothing recorded yet. */
	EXPECT_LT(0, control_denials_flush(&self->d, false));
	EXPECT_EQ(100000, self->d.denials);
	/* Recorded as one, and counting starts again. */
	EXPECT_EQ(-1, control_denials_flush(&self->d, true));
	EXPECT_EQ(0, self->d.denials);
	EXPECT_EQ(0, queued(&self->d, 10));
}

TEST_HARNESS_MAIN
