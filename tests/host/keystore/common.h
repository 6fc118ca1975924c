/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the keystore tests share: file helpers and the "ks" fixture (a fresh
 * keystore in a private directory).  Included once, by test_keystore.c.
 */
#ifndef KS_TEST_COMMON_H
#define KS_TEST_COMMON_H

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include "embedded/internal.h"	/* kept(): white-box */
#include "util.h"
#include "kselftest_harness.h"

#include "files.h"

/* Is key @name's record kept for its next use, and trusted (kept.c)? */
static bool kept(const struct keystore *ks, const char *name)
{
	for (size_t i = 0; i < KS_KEPT; i++)
		if (ks->kept[i].rec && !strcmp(ks->kept[i].rec->meta.name, name))
			return ks->kept[i].settled;
	return false;
}

/* @path's bytes in a buffer of its own (the next call reuses it). */
static char *slurp(const char *path, size_t *len)
{
	static char buf[65536];
	ssize_t n = read_into(path, buf, sizeof(buf));

	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return buf;
}

FIXTURE(ks) {
	char dir[64];
	char path[128];
	struct keystore *ks;
	uint8_t material[64];
};

FIXTURE_SETUP(ks)
{
	strcpy(self->dir, "/tmp/hsmkey-ks-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	for (int i = 0; i < 64; i++)
		self->material[i] = (uint8_t)(i * 7 + 1);
}

FIXTURE_TEARDOWN(ks)
{
	char cmd[160];

	ks_close(self->ks);	/* NULL: a test closed it for good */
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	if (system(cmd))
		TH_LOG("cannot remove %s", cmd);
}

static char *copy_of(const char *path, size_t *len)
{
	char *text = slurp(path, len);
	char *copy = text ? malloc(*len + 1) : NULL;

	if (copy)
		memcpy(copy, text, *len + 1);
	return copy;
}

/*
 * Key store @name of tests/host/data (what an earlier release wrote) into
 * a new directory @dir (a mkdtemp() template): 0, or -1.
 */
static int copy_fixture(const char *name, char *dir)
{
	char cmd[600], self[256];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0 || !mkdtemp(dir))
		return -1;
	self[n] = '\0';
	*strrchr(self, '/') = '\0';	/* build/tests/host */
	snprintf(cmd, sizeof(cmd), "cp -r %s/../../../tests/host/data/%s/. %s && chmod 600 %s/master.key",
		 self, name, dir, dir);
	return system(cmd) ? -1 : 0;
}

static void replace_in(const char *path, const char *find, const char *repl)
{
	char out[65536], *text, *at;
	size_t len;

	text = slurp(path, &len);
	at = text ? strstr(text, find) : NULL;
	if (!at)
		return;
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - text), text, repl, at + strlen(find));
	spit(path, out, strlen(out));
}

#endif
