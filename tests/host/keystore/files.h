/* SPDX-License-Identifier: GPL-2.0 */
/*
 * File helpers the keystore tests share (test_keystore, test_tombstone):
 * a whole file into a caller's buffer, a file written whole, and a list
 * callback that counts keys.
 */
#ifndef KS_TEST_FILES_H
#define KS_TEST_FILES_H

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>
#include "embedded/keystore.h"
#include "util.h"

/* @path's bytes (up to @size - 1), NUL-terminated in @buf: the length, -1 if none. */
static inline ssize_t read_into(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	int n = fd < 0 ? -1 : read_full(fd, buf, size - 1);

	if (fd >= 0)
		close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static inline void spit(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd >= 0) {
		write_full(fd, text, len);
		close(fd);
	}
}

static inline int count_key(const struct ks_key *key, void *arg)
{
	(void)key;
	(*(int *)arg)++;
	return 0;
}

#endif
