// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A libhsmkey handle (hsmkey/kms.h): one connection to hsmkeyd, its calls
 * in turn, the last failure's message.  A connection found closed when a
 * request is sent (hsmkeyd restarted) is made again once; a request sent
 * is never sent twice.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"
#include "proto.h"

#define REPLY_TIMEOUT_S	30

API int hsmkey_open(const char *socket_path, struct hsmkey **out)
{
	const char *path = lib_socket_path(socket_path);
	struct hsmkey *h;

	*out = NULL;
	if (strlen(path) >= sizeof(h->path))
		return -ENAMETOOLONG;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	strcpy(h->path, path);
	h->fd = lib_connect(h->path, REPLY_TIMEOUT_S, h->error, sizeof(h->error));
	if (h->fd < 0) {
		int r = h->fd;

		free(h);
		return r;
	}
	pthread_mutex_init(&h->lock, NULL);
	*out = h;
	return 0;
}

int lib_fail(struct hsmkey *h, int err, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&h->lock);
	va_start(ap, fmt);
	vsnprintf(h->error, sizeof(h->error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&h->lock);
	return err;
}

API void hsmkey_close(struct hsmkey *h)
{
	if (!h)
		return;
	if (h->fd >= 0)
		close(h->fd);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

API const char *hsmkey_error(const struct hsmkey *h)
{
	return h->error;
}

static void drop(struct hsmkey *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
}

static int send_request(struct hsmkey *h, struct json_object *req, const void *payload,
			size_t plen)
{
	int r = h->fd < 0 ? -ENOTCONN : proto_send_payload(h->fd, req, -1, payload, plen, 0);

	if (r == -EPIPE || r == -ECONNRESET || r == -ENOTCONN) {
		drop(h);
		h->fd = lib_connect(h->path, REPLY_TIMEOUT_S, h->error, sizeof(h->error));
		if (h->fd < 0)
			return h->fd;
		r = proto_send_payload(h->fd, req, -1, payload, plen, 0);
	}
	if (r)
		snprintf(h->error, sizeof(h->error), "cannot send to hsmkeyd: %s", strerror(-r));
	return r;
}

/* An answered request: its result, and its payload into @out. */
static int take_reply(struct hsmkey *h, struct json_object *reply, const uint8_t *p,
		      size_t plen, void *out, size_t *outlen)
{
	struct json_object *v;
	int64_t err = EPROTO;

	if (!json_object_object_get_ex(reply, "ok", &v) || !json_object_get_boolean(v)) {
		proto_int(reply, "errno", &err);
		snprintf(h->error, sizeof(h->error), "%s",
			 proto_str(reply, "error") ?: "hsmkeyd refused the request");
		return err > 0 && err < 4096 ? -(int)err : -EPROTO;
	}
	if (plen > *outlen) {
		snprintf(h->error, sizeof(h->error), "the result takes %zu bytes, the buffer has %zu",
			 plen, *outlen);
		*outlen = plen;
		return -ENOBUFS;
	}
	if (plen)
		memcpy(out, p, plen);
	*outlen = plen;
	return 0;
}

struct json_object *lib_request(const char *op)
{
	struct json_object *req = json_object_new_object();

	json_object_object_add(req, "v", json_object_new_int(PROTO_VERSION));
	json_object_object_add(req, "op", json_object_new_string(op));
	return req;
}

int lib_call(struct hsmkey *h, struct json_object *req, const void *payload, size_t plen,
	     void *out, size_t *outlen, struct json_object **reply_out)
{
	struct json_object *reply = NULL;
	uint8_t *p = NULL;
	size_t n = 0, none = 0;
	int r;

	if (!outlen)
		outlen = &none;	/* no payload wanted */
	pthread_mutex_lock(&h->lock);
	h->error[0] = '\0';
	r = send_request(h, req, payload, plen);
	if (!r) {
		r = proto_recv_payload(h->fd, &reply, NULL, &p, &n);
		if (r == -EAGAIN)
			r = -ETIMEDOUT;	/* SO_RCVTIMEO */
		if (r) {
			/* A late reply must not be taken as the next call's. */
			drop(h);
			snprintf(h->error, sizeof(h->error), "no answer from hsmkeyd: %s",
				 strerror(-r));
		}
	}
	if (!r)
		r = take_reply(h, reply, p, n, out, outlen);
	pthread_mutex_unlock(&h->lock);
	if (p) {
		explicit_bzero(p, n);
		free(p);
	}
	if (reply_out && !r)
		*reply_out = json_object_get(reply);
	json_object_put(reply);
	json_object_put(req);
	return r;
}
