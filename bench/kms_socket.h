/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What bench/kms_socket.c shares with its floor server (kms_floor.c): the
 * socket, the run's state, the reference servers' size limits and how a
 * reference client checks a reply.
 */
#ifndef HSMKEY_BENCH_KMS_SOCKET_H
#define HSMKEY_BENCH_KMS_SOCKET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ITEM		4096		/* a call's plaintext */
#define ECHO_MAX	(256 * 1024)	/* a reference server's largest message */

extern atomic_bool ks_stop;		/* the clients are to stop */
extern atomic_uint_fast64_t ks_done;	/* their calls, added when they stop */
extern const char *ks_path;		/* the socket */

/* A reference server (echo, floor), as its client sees it. */
struct reference {
	const char *what;	/* the error when a reply fails its check */
	size_t least;		/* the shortest message it takes */
	size_t reply;		/* a reply's length; 0: the message's */
	/* Is reply @n (from 0) right for @msg of @len bytes?  @prev: the one before, or NULL. */
	bool (*check)(const uint8_t *msg, size_t len, const uint8_t *reply, const uint8_t *prev,
		      uint64_t n);
};

extern const struct reference floor_reference;

__attribute__((noreturn)) void die(const char *what);
int unix_connect(const char *p);
/* Accept connections on ks_path for ever, each served by a thread running @conn(fd). */
__attribute__((noreturn)) void serve(void *(*conn)(void *));

__attribute__((noreturn)) void floor_server(const char *log);

#endif
