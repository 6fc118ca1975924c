/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What bench/kms_socket.c shares with its floor server (kms_floor.c): the
 * socket, the run's state and the reference servers' size limits.
 */
#ifndef HSMKEY_BENCH_KMS_SOCKET_H
#define HSMKEY_BENCH_KMS_SOCKET_H

#include <stdatomic.h>
#include <stddef.h>

#define ITEM		4096		/* a call's plaintext */
#define ECHO_MAX	(256 * 1024)	/* a reference server's largest message */

extern atomic_bool stop;		/* the clients are to stop */
extern atomic_uint_fast64_t done;	/* their calls, added when they stop */
extern const char *path;		/* the socket */
extern size_t size;			/* a reference client's message */

__attribute__((noreturn)) void die(const char *what);
int unix_connect(const char *p);
/* Accept connections on @path for ever, each served by a thread running @conn(fd). */
__attribute__((noreturn)) void serve(void *(*conn)(void *));

__attribute__((noreturn)) void floor_server(const char *log);
void *floor_client(void *arg);

#endif
