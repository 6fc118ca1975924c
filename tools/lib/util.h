/* SPDX-License-Identifier: GPL-2.0 */
#ifndef HSMKEY_UTIL_H
#define HSMKEY_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Log to stderr, which is the journal under systemd.  Never log secrets. */
void log_init(const char *ident, bool verbose);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(3, __VA_ARGS__)
#define log_warn(...)  log_msg(4, __VA_ARGS__)
#define log_info(...)  log_msg(6, __VA_ARGS__)
#define log_debug(...) log_msg(7, __VA_ARGS__)
/* Log and return -err in one line: return log_errno(r, "...: %s", ...). */
#define log_errno(err, ...) (log_error(__VA_ARGS__), -abs(err))

void wipe(void *p, size_t n);
/*
 * Pages for secrets: locked in memory (a warning naming @what if they
 * cannot be), left out of core dumps; NULL if none.  Free them with
 * secret_pages_free(), after wiping what they hold.
 */
void *secret_pages(size_t size, const char *what);
/* The same, but NULL (nothing logged) if they cannot be locked. */
void *secret_pages_locked(size_t size);
void secret_pages_free(void *p, size_t size);
/* CLOCK_MONOTONIC: deadlines, timeouts and ages, never wall time. */
int64_t monotonic_ms(void);
uint64_t monotonic_ns(void);
uint64_t fnv1a64(const void *p, size_t n);	/* a table's hash, not a MAC */
void hex_encode(const uint8_t *in, size_t n, char *out);	/* out: 2n+1 */
int hex_decode(const char *in, uint8_t *out, size_t n);	/* exactly n bytes */

int read_full(int fd, void *buf, size_t n);	/* bytes read or -errno */
/* @n bytes of getrandom(2), an interrupted or short read gone on with: 0 or -errno. */
int random_full(void *buf, size_t n);
int write_full(int fd, const void *buf, size_t n);
int write_file_atomic(int dirfd, const char *name, const void *buf, size_t n,
		      unsigned int mode);

#ifdef HSMKEY_CRASH_POINTS
/* Test builds: die (stop, wait) here if $HSMKEY_CRASH_POINT names this point. */
void crash_point(const char *name);
#else
static inline void crash_point(const char *name)
{
	(void)name;
}
#endif

bool valid_name(const char *s);
/* A DNS name: letters, digits, hyphens, dots; "*." leading at most. */
#define DNS_NAME_MAX	253
bool valid_dns_name(const char *s);
/* "45s", "30m", "12h", "7d" or plain seconds, 1 s to 3650 days: -EINVAL else. */
int parse_duration(const char *s, long long *out);

void notify(const char *state);	/* sd_notify(3)'s protocol, if $NOTIFY_SOCKET */	/* key and volume names: [A-Za-z0-9._-], 1..63 */

/* Key types, by OpenSSL's names. */
int key_type_from_name(const char *name);	/* enum hsmkey_key_type, key.h's identity types, or -EINVAL */
const char *key_type_name(int type);
unsigned int key_type_len(int type);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
