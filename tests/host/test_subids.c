// SPDX-License-Identifier: GPL-2.0
/*
 * Subordinate uid ranges (daemon/subids.c): which uid counts as whose for
 * the control socket's per-user limits, from files of subuid(5)'s form,
 * good and bad, and their changes; from hsmkeyd's own user namespace, no
 * uid counts as another's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "subids.h"
#include "kselftest_harness.h"

/* Whose limits @uid counts in, connecting from a user namespace (pid 0: none to look at). */
#define OWNER(uid)	subids_owner(&self->s, (uid), 0)

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
	if (!f || fputs(text, f) < 0 || fchmod(fileno(f), 0644) || fclose(f) || rename(tmp, path))
		abort();
}

TEST_F(subids, owners_by_name_and_uid)
{
	put(self->path, "# rootless containers\n\nnobody:100000:65536\n1000:200000:10\n");
	subids_refresh(&self->s, self->path);
	EXPECT_EQ(65534, OWNER(100000));
	EXPECT_EQ(65534, OWNER(165535));
	EXPECT_EQ(165536, OWNER(165536));	/* one past the range */
	EXPECT_EQ(99999, OWNER(99999));
	EXPECT_EQ(1000, OWNER(200009));
	EXPECT_EQ(200010, OWNER(200010));
	EXPECT_EQ(5, OWNER(5));
	/* From this process's namespace (hsmkeyd's): a user of its own. */
	EXPECT_EQ(100000, subids_owner(&self->s, 100000, getpid()));
}

TEST_F(subids, a_login_in_a_range_is_its_own_user)
{
	/* nobody (65534) is a login of /etc/passwd; 65533 is not, on Debian. */
	put(self->path, "1000:65530:10\n");
	subids_refresh(&self->s, self->path);
	EXPECT_EQ(65534, OWNER(65534));
	EXPECT_EQ(1000, OWNER(65533));
}

TEST_F(subids, numbers_as_newuidmap_reads_them)
{
	put(self->path, "1000:0x186a0:0x10\n1001:0200000:8\n1002: 300000:1\n");
	subids_refresh(&self->s, self->path);
	EXPECT_EQ(1000, OWNER(100015));
	EXPECT_EQ(100016, OWNER(100016));
	EXPECT_EQ(1001, OWNER(65536));		/* octal */
	EXPECT_EQ(200000, OWNER(200000));
	EXPECT_EQ(1002, OWNER(300000));		/* blanks before, as strtoul takes */
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
	    "1000:+-5:10\n"
	    "1000:370000:-10\n"
	    "1000:380000:99999999999\n"
	    "1001:390000:1\n");		/* the one good line, last */
	subids_refresh(&self->s, self->path);
	EXPECT_EQ(1U, self->s.n);
	EXPECT_EQ(300005, OWNER(300005));
	EXPECT_EQ(310005, OWNER(310005));
	EXPECT_EQ(4294967291U, OWNER(4294967291U));
	EXPECT_EQ(340000, OWNER(340000));
	EXPECT_EQ(360000, OWNER(360000));
	EXPECT_EQ(370000, OWNER(370000));
	EXPECT_EQ(4, OWNER(4));
	EXPECT_EQ(1001, OWNER(390000));
	EXPECT_EQ(390001, OWNER(390001));
}

TEST_F(subids, read_again_when_changed)
{
	subids_refresh(&self->s, self->path);		/* missing: none */
	EXPECT_EQ(400000, OWNER(400000));
	put(self->path, "1000:400000:10\n");
	subids_refresh(&self->s, self->path);
	EXPECT_EQ(1000, OWNER(400000));
	put(self->path, "1001:400000:10\n");
	subids_refresh(&self->s, self->path);
	EXPECT_EQ(1001, OWNER(400000));
	unlink(self->path);
	subids_refresh(&self->s, self->path);		/* gone: none */
	EXPECT_EQ(400000, OWNER(400000));
	put(self->path, "1000:400000:10\n");
	subids_refresh(&self->s, self->path);
	subids_refresh(&self->s, "");			/* configured away: none */
	EXPECT_EQ(400000, OWNER(400000));
}

TEST_F(subids, unusable_keeps_the_ranges_before)
{
	char fifo[128];

	put(self->path, "1000:500000:10\n");
	subids_refresh(&self->s, self->path);
	ASSERT_EQ(1000, OWNER(500000));
	/* A directory, a FIFO (never waited on): not read, the ranges kept. */
	subids_refresh(&self->s, self->dir);
	EXPECT_EQ(1000, OWNER(500000));
	snprintf(fifo, sizeof(fifo), "%s/fifo", self->dir);
	ASSERT_EQ(0, mkfifo(fifo, 0600));
	subids_refresh(&self->s, fifo);
	EXPECT_EQ(1000, OWNER(500000));
	unlink(fifo);
	/* Writable by others, or over the size limit: refused, the ranges kept. */
	put(self->path, "1001:500000:10\n");
	ASSERT_EQ(0, chmod(self->path, 0666));
	subids_refresh(&self->s, self->path);
	EXPECT_EQ(1000, OWNER(500000));
	ASSERT_EQ(0, chmod(self->path, 0644));
	ASSERT_EQ(0, truncate(self->path, SUBIDS_MAX_SIZE + 1));
	subids_refresh(&self->s, self->path);
	EXPECT_EQ(1000, OWNER(500000));
	/* Good again: read. */
	put(self->path, "1001:500000:10\n");
	subids_refresh(&self->s, self->path);
	EXPECT_EQ(1001, OWNER(500000));
}

TEST_HARNESS_MAIN
