// SPDX-License-Identifier: GPL-2.0
/*
 * The nonce pool (daemon/nonce.c): bytes never given out twice, across
 * refills, threads and fork() (a child must not give out what the parent
 * will; before the fork handling it did, byte for byte).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "nonce.h"
#include "kselftest_harness.h"

#define N12	(3 * NONCE_POOL / 12)	/* 12-byte nonces: three refills */

static int cmp12(const void *a, const void *b)
{
	return memcmp(a, b, 12);
}

/* Whether @n 12-byte draws in @d hold a repeat (sorts them). */
static int repeats(uint8_t (*d)[12], size_t n)
{
	qsort(d, n, 12, cmp12);
	for (size_t i = 1; i < n; i++)
		if (!memcmp(d[i - 1], d[i], 12))
			return 1;
	return 0;
}

TEST(no_repeats_across_refills)
{
	static uint8_t d[N12][12];
	static const uint8_t zero[12];

	for (size_t i = 0; i < N12; i++)
		ASSERT_EQ(0, nonce_bytes(d[i], 12));
	EXPECT_EQ(0, repeats(d, N12));
	EXPECT_NE(0, memcmp(d[0], zero, 12));
	EXPECT_NE(0, memcmp(d[N12 - 1], zero, 12));
}

TEST(too_long)
{
	uint8_t big[NONCE_POOL + 1];

	EXPECT_EQ(-EINVAL, nonce_bytes(big, sizeof(big)));
	EXPECT_EQ(0, nonce_bytes(big, NONCE_POOL));	/* a whole pool at once */
}

static void *draw(void *arg)
{
	uint8_t (*d)[12] = arg;

	for (size_t i = 0; i < N12; i++)
		if (nonce_bytes(d[i], 12))
			return arg;
	return NULL;
}

TEST(threads_draw_apart)
{
	static uint8_t d[2 * N12][12];
	pthread_t t;
	void *failed;

	ASSERT_EQ(0, pthread_create(&t, NULL, draw, d[N12]));
	EXPECT_EQ(NULL, draw(d));
	ASSERT_EQ(0, pthread_join(t, &failed));
	EXPECT_EQ(NULL, failed);
	EXPECT_EQ(0, repeats(d, 2 * N12));
}

TEST(fork_child_draws_apart)
{
	uint8_t mine[12], child[12] = { 0 };
	int p[2], status;
	pid_t pid;

	ASSERT_EQ(0, nonce_bytes(mine, 12));	/* the pool is filled, then copied */
	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		uint8_t n[12];

		_exit(nonce_bytes(n, 12) || write(p[1], n, 12) != 12);
	}
	ASSERT_EQ(12, read(p[0], child, 12));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status);
	ASSERT_EQ(0, nonce_bytes(mine, 12));	/* the parent's next */
	EXPECT_NE(0, memcmp(mine, child, 12));
	close(p[0]);
	close(p[1]);
}

TEST_HARNESS_MAIN
