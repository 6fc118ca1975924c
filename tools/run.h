/* SPDX-License-Identifier: GPL-2.0 */
/* Running cryptsetup and dmsetup: see run.c. */
#ifndef HSMKEY_RUN_H
#define HSMKEY_RUN_H

#include <stddef.h>

/* Exit status of @argv, or 127 when it cannot run. */
int run(char *const argv[]);
/* The same with its standard output in @out (at most @size - 1 bytes). */
int run_capture(char *const argv[], char *out, size_t size);
/* A descriptor (no close-on-exec) holding @len bytes, for /proc/self/fd. */
int memfd_with(const char *what, const void *buf, size_t len);

#endif
