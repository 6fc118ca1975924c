// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "proto.h"

int proto_send(int fd, struct json_object *msg, int passfd)
{
	const char *text = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(text);
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)text, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (len > PROTO_MAX_MSG)
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
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int proto_recv(int fd, struct json_object **msg, int *passfd)
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
	ssize_t n;

	*msg = NULL;
	if (passfd)
		*passfd = -1;
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
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int))) {
			int got;

			memcpy(&got, CMSG_DATA(cm), sizeof(int));
			if (passfd && *passfd < 0)
				*passfd = got;
			else
				close(got);
		}
	}
	if (n == 0) {
		free(buf);
		return -ECONNRESET;
	}
	if (n > PROTO_MAX_MSG || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		free(buf);
		return -EMSGSIZE;
	}
	n = proto_parse(buf, (size_t)n, msg);
	free(buf);
	return (int)n;
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
