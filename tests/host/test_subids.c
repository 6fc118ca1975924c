// SPDX-License-Identifier: GPL-2.0
/*
 * Subordinate uid ranges (daemon/subids.c): which uid counts as whose for
 * the control socket's per-user limits, from files of subuid(5)'s form,
 * good and bad, and their changes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "subids.h"
#include "kselftest_harness.h"

FIXTURE(subids) {
	char dir[64], path[96];
	struct subids s;
};

FIXTURE_SETUP(subids)
{
	snprintf(self->dir, sizeof(self->dir), "/tmp/hsmkey-subids.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->path, sizeof(self->path), "%s/subuid", self->dir);
	memset(&self->s, 0, sizeof(self->s));
}

FIXTURE_TEARDOWN(subids)
{
	char tmp[128];

	subids_free(&self->s);
	unlink(self->path);
	snprintf(tmp, sizeof(tmp), "%s.new", self->path);
	unlink(tmp);
	rmdir(self->dir);
}

/* @text as @path's new content, by a rename (a new inode, as useradd writes it). */
static void put(const char *path, const char *text)
{
	char tmp[128];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) || rename(tmp, path))
		abort();
}

TEST_F(subids, owners_by_name_and_uid)
{
	put(self->path, "# rootless containers\n\nnobody:100000:65536\n1000:200000:10\n");
	subids_refresh(&self->s, self->path);
	EXPECT_EQ(65534, subids_owner(&self->s, 100000));
	EXPECT_EQ(65534, subids_owner(&self->s, 165535));
	EXPECT_EQ(165536, subids_owner(&self->s, 165536));	/* one past the range */
	EXPECT_EQ(99999, subids_owner(&self->s, 99999));
	EXPECT_EQ(1000, subids_owner(&self->s, 200009));
	EXPECT_EQ(200010, subids_owner(&self->s, 200010));
	EXPECT_EQ(5, subids_owner(&self->s, 5));
}

TEST_F(subids, roots_ranges_and_bad_lines_charge_nobody)
{
	put(self->path,
	    "0:300000:10\n"			/* root's: users of their own */
	    "root:310000:10\n"
	    "1000:4294967290:6\n"		/* past the last uid */
	    "1000:4294967295:1\n"		/* (uid_t)-1 is no uid */
	    "1000:320000:0\n"			/* empty */
	    "1000:-1:10\n"
	    "1000:abc:10\n"
	    "1000:330000:10:extra\n"
	    "1000:340000\n"
	    ":350000:10\n"
	    "no-such-user-hsmkey:360000:10\n"
	    "1000: 370000:10\n"
	    "1000:380000:99999999999\n"
	    "1001:390000:1\n");		/* the one good line, last */
	subids_refresh(&self->s, self->path);
	EXPECT_EQ(1U, self->s.n);
	EXPECT_EQ(300005, subids_owner(&self->s, 300005));
	EXPECT_EQ(310005, subids_owner(&self->s, 310005));
	EXPECT_EQ(4294967291U, subids_owner(&self->s, 4294967291U));
	EXPECT_EQ(340000, subids_owner(&self->s, 340000));
	EXPECT_EQ(360000, subids_owner(&self->s, 360000));
	EXPECT_EQ(370000, subids_owner(&self->s, 370000));
	EXPECT_EQ(1001, subids_owner(&self->s, 390000));
	EXPECT_EQ(390001, subids_owner(&self->s, 390001));
}

TEST_F(subids, read_again_when_changed)
{
	subids_refresh(&self->s, self->path);		/* missing: none */
	EXPECT_EQ(400000, subids_owner(&self->s, 400000));
	put(self->path, "1000:400000:10\n");
	subids_refresh(&self->s, self->path);
	EXPECT_EQ(1000, subids_owner(&self->s, 400000));
	put(self->path, "1001:400000:10\n");
	subids_refresh(&self->s, self->path);
	EXPECT_EQ(1001, subids_owner(&self->s, 400000));
	unlink(self->path);
	subids_refresh(&self->s, self->path);		/* gone: none */
	EXPECT_EQ(400000, subids_owner(&self->s, 400000));
	put(self->path, "1000:400000:10\n");
	subids_refresh(&self->s, self->path);
	subids_refresh(&self->s, "");			/* configured away: none */
	EXPECT_EQ(400000, subids_owner(&self->s, 400000));
}

TEST_F(subids, unreadable_keeps_the_ranges_before)
{
	char big[128];

	put(self->path, "1000:500000:10\n");
	subids_refresh(&self->s, self->path);
	ASSERT_EQ(1000, subids_owner(&self->s, 500000));
	/* Another path that is a directory: not read, the ranges kept. */
	subids_refresh(&self->s, self->dir);
	EXPECT_EQ(1000, subids_owner(&self->s, 500000));
	EXPECT_TRUE(self->s.failing);
	/* Over the size limit: refused, the ranges kept. */
	snprintf(big, sizeof(big), "%s", self->path);
	ASSERT_EQ(0, truncate(big, SUBIDS_MAX_SIZE + 1));
	subids_refresh(&self->s, self->path);
	EXPECT_EQ(1000, subids_owner(&self->s, 500000));
	/* Good again: read, and no longer failing. */
	put(self->path, "1001:500000:10\n");
	subids_refresh(&self->s, self->path);
	EXPECT_EQ(1001, subids_owner(&self->s, 500000));
	EXPECT_FALSE(self->s.failing);
}

TEST_HARNESS_MAIN
