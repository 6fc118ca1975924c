// SPDX-License-Identifier: GPL-2.0 OR LGPL-2.1-or-later
/*
 * The control socket's framing (see proto.h), shared by hsmkeyd, hsmkeyctl,
 * the tests and the fuzzers: one JSON object per SOCK_SEQPACKET message, a
 * descriptor passed beside it only where a request carries one.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "proto.h"

int proto_connect(const char *path, int timeout_s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_s };
	int fd, e;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    (!timeout_s || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0))
		return fd;
	e = errno;
	close(fd);
	return -e;
}

/* Its own clock: libhsmkey links this file without util.c. */
static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Wait until @fd is ready for @events, at most until @deadline (ms, on
 * the monotonic clock; 0: no deadline): 0, or -ETIMEDOUT.
 */
int proto_wait(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left;
	int r;

	do {
		left = deadline ? deadline - now_ms() : -1;
		if (deadline && left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, left < 0 ? -1 : left > 60000 ? 60000 : (int)left);
	} while ((r < 0 && errno == EINTR) || r == 0);
	return r < 0 ? -errno : 0;
}

int64_t proto_deadline(int ms)
{
	return now_ms() + ms;
}

int proto_send(int fd, struct json_object *msg, int passfd)
{
	return proto_send_by(fd, msg, passfd, 0);
}

int proto_send_by(int fd, struct json_object *msg, int passfd, int64_t deadline)
{
	return proto_send_payload(fd, msg, passfd, NULL, 0, deadline);
}

int proto_send_payload(int fd, struct json_object *msg, int passfd, const void *payload,
		       size_t plen, int64_t deadline)
{
	const char *text = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(text);
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov[3] = {
		{ .iov_base = (void *)text, .iov_len = len },
		{ .iov_base = "", .iov_len = 1 },	/* the NUL before a payload */
		{ .iov_base = (void *)payload, .iov_len = plen },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = payload ? 3 : 1 };
	struct cmsghdr *cm;

	if (len + (payload ? 1 + plen : 0) > PROTO_MAX_MSG)
		return -EMSGSIZE;
	if (passfd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &passfd, sizeof(int));
	}
	while (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0) {
		int r = -errno;

		if (r == -EAGAIN)
			r = proto_wait(fd, POLLOUT, deadline);
		else if (r == -EINTR)
			r = 0;
		if (r)
			return r;
	}
	return 0;
}

/* The message's payload (after the first NUL) into a buffer of its own. */
static int take_payload(const char *buf, size_t n, uint8_t **payload, size_t *plen,
			size_t *jlen)
{
	const char *nul = memchr(buf, '\0', n);
	size_t len;

	*jlen = nul ? (size_t)(nul - buf) : n;
	if (!nul)
		return 0;
	if (!payload)
		return -EBADMSG;	/* none wanted */
	len = n - *jlen - 1;
	*payload = malloc(len ? len : 1);
	if (!*payload)
		return -ENOMEM;
	memcpy(*payload, nul + 1, len);
	*plen = len;
	return 0;
}

int proto_recv(int fd, struct json_object **msg, int *passfd)
{
	return proto_recv_payload(fd, msg, passfd, NULL, NULL);
}

int proto_recv_payload(int fd, struct json_object **msg, int *passfd, uint8_t **payload,
		       size_t *plen)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	char *buf;
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	size_t jlen = 0;
	ssize_t n;
	int r;

	*msg = NULL;
	if (passfd)
		*passfd = -1;
	if (payload) {
		*payload = NULL;
		*plen = 0;
	}
	buf = malloc(PROTO_MAX_MSG + 1);
	if (!buf)
		return -ENOMEM;
	iov.iov_base = buf;
	iov.iov_len = PROTO_MAX_MSG + 1;
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		free(buf);
		return -errno;
	}
	/* Every descriptor passed is closed here unless it is handed out. */
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t nfd = cm->cmsg_len > CMSG_LEN(0) ?
			     (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int) : 0;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < nfd; i++) {
			int got;

			memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (passfd && *passfd < 0)
				*passfd = got;
			else
				close(got);
		}
	}
	if (n == 0)
		r = -ECONNRESET;
	else if (n > PROTO_MAX_MSG || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		r = -EMSGSIZE;
	else
		r = take_payload(buf, (size_t)n, payload, plen, &jlen) ?:
		    proto_parse(buf, jlen, msg);
	/* A payload may be a secret (plaintext): no copy is left behind. */
	explicit_bzero(buf, n > 0 ? (size_t)n : 0);
	free(buf);
	if (r && payload && *payload) {
		explicit_bzero(*payload, *plen);
		free(*payload);
		*payload = NULL;
		*plen = 0;
	}
	if (r && passfd && *passfd >= 0) {
		close(*passfd);
		*passfd = -1;
	}
	return r;
}

/* One JSON object, nested at most 16 deep, and nothing after it. */
int proto_parse(const char *buf, size_t n, struct json_object **msg)
{
	struct json_tokener *tok;

	*msg = NULL;
	if (n > PROTO_MAX_MSG)
		return -EMSGSIZE;
	tok = json_tokener_new_ex(16);
	if (tok) {
		*msg = json_tokener_parse_ex(tok, buf, (int)n);
		if (*msg && (json_tokener_get_error(tok) != json_tokener_success ||
			     json_tokener_get_parse_end(tok) != n ||
			     !json_object_is_type(*msg, json_type_object))) {
			json_object_put(*msg);
			*msg = NULL;
		}
		json_tokener_free(tok);
	}
	return *msg ? 0 : -EBADMSG;
}

const char *proto_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

bool proto_int(struct json_object *o, const char *key, int64_t *out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return true;
}

int proto_request_op(struct json_object *req, const char **op)
{
	int64_t v;

	if (!proto_int(req, "v", &v) || v != PROTO_VERSION)
		return -EPROTO;
	*op = proto_str(req, "op");
	return *op ? 0 : -EINVAL;
}

struct json_object *proto_reply_ok(void)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "v", json_object_new_int(PROTO_VERSION));
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	return o;
}

struct json_object *proto_reply_err(int err, const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "v", json_object_new_int(PROTO_VERSION));
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "errno", json_object_new_int(abs(err)));
	json_object_object_add(o, "error", json_object_new_string(msg));
	return o;
}
