/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libhsmkey's own parts, not exported: the connection to hsmkeyd that
 * every call makes (connect.c) and the handle's request and reply
 * (handle.c).
 */
#ifndef HSMKEY_LIB_INTERNAL_H
#define HSMKEY_LIB_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include "hsmkey/kms.h"

#define API __attribute__((visibility("default")))
#define LIB_DEFAULT_SOCKET	"/run/hsmkey/hsmkeyd.sock"

/* @path, or $HSMKEYD_SOCKET (not for set-user-ID callers), or the default. */
const char *lib_socket_path(const char *path);
/* The handle's message for its caller, under its lock; returns @err. */
int lib_fail(struct hsmkey *h, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/*
 * A connected control socket to hsmkeyd at @path (NULL: $HSMKEYD_SOCKET
 * or the default) whose replies may take @timeout_s; -errno, with @why
 * (@len bytes) saying what failed.
 */
int lib_connect(const char *path, int timeout_s, char *why, size_t len);

struct hsmkey {
	pthread_mutex_t lock;	/* one call at a time on @fd */
	int fd;
	char path[108];
	char error[HSMKEY_ERROR_MAX];
};

/*
 * Send @req (consumed) with @payload, and take the reply: 0 and its
 * payload into @out (*@outlen: its size; the length on return), or
 * -errno with h->error set.  -ENOBUFS: the reply's payload is larger
 * (*@outlen: the size needed).  With @reply, the reply's JSON too (put
 * it when done).
 */
int lib_call(struct hsmkey *h, struct json_object *req, const void *payload, size_t plen,
	     void *out, size_t *outlen, struct json_object **reply);
/* A request of operation @op, to fill in. */
struct json_object *lib_request(const char *op);
/* @ctx into @req's "context"; -EINVAL when a pair is incomplete or repeated. */
int lib_add_context(struct hsmkey *h, struct json_object *req, const struct hsmkey_kv *ctx,
		    size_t nctx);
/* The same into @req's @field. */
int lib_add_context_in(struct hsmkey *h, struct json_object *req, const char *field,
		       const struct hsmkey_kv *ctx, size_t nctx);

#endif
