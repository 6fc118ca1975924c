// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libhsmkey (hsmkey/tls.h): one tls-handshake request to hsmkeyd over
 * its control socket (tools/lib/proto.h), the socket passed with it; and
 * the two record-level calls a kernel TLS application needs beyond read()
 * and write().  The certificate and CA files are read here, with the
 * caller's own rights, and sent as PEM: hsmkeyd opens no file a client
 * names.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <linux/tls.h>
#include <json-c/json.h>
#include "hsmkey/tls.h"
#include "internal.h"
#include "proto.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

#define PEM_MAX		(28 * 1024)	/* a chain and a CA list: both fit one message */
#define TIMEOUT_MS	10000

#define TLS_ALERT	21
#define TLS_HANDSHAKE	22
#define TLS_DATA	23

static int say(struct hsmkey_tls_result *res, int err, const char *fmt, const char *arg)
{
	if (res)
		snprintf(res->error, sizeof(res->error), fmt, arg, strerror(err));
	return -err;
}

/* @path's contents, NUL-terminated, into a new *@out. */
static int read_pem(const char *path, char **out, struct hsmkey_tls_result *res)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf = malloc(PEM_MAX + 1);
	size_t n = 0;
	ssize_t got = 1;

	if (fd < 0 || !buf) {
		int e = fd < 0 ? errno : ENOMEM;

		free(buf);
		if (fd >= 0)
			close(fd);
		return say(res, e, "cannot read %s: %s", path);
	}
	while (n < PEM_MAX && ((got = read(fd, buf + n, PEM_MAX - n)) > 0 ||
				(got < 0 && errno == EINTR)))
		n += got > 0 ? (size_t)got : 0;
	close(fd);
	if (got < 0 || n == PEM_MAX) {
		free(buf);
		return say(res, got < 0 ? errno : EFBIG, "cannot read %s: %s", path);
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
}

static int add_file(struct json_object *req, const char *field, const char *path,
		    struct hsmkey_tls_result *res)
{
	char *pem;
	int r;

	if (!path)
		return 0;
	r = read_pem(path, &pem, res);
	if (!r)
		json_object_object_add(req, field, json_object_new_string(pem));
	free(pem);
	return r;
}

/* "a,b,c" as a list of protocols. */
static void add_alpn(struct json_object *req, const char *alpn)
{
	struct json_object *list;
	const char *p = alpn, *comma;

	if (!alpn || !*alpn)
		return;
	list = json_object_new_array();
	for (;; p = comma + 1) {
		comma = strchr(p, ',');
		json_object_array_add(list, json_object_new_string_len(p,
					comma ? (int)(comma - p) : (int)strlen(p)));
		if (!comma)
			break;
	}
	json_object_object_add(req, "alpn", list);
}

static int build(const struct hsmkey_tls_config *cfg, struct json_object **out,
		 struct hsmkey_tls_result *res)
{
	struct json_object *req = json_object_new_object();
	int r;

	json_object_object_add(req, "v", json_object_new_int(PROTO_VERSION));
	json_object_object_add(req, "op", json_object_new_string("tls-handshake"));
	json_object_object_add(req, "role", json_object_new_string(
				       cfg->role == HSMKEY_TLS_CLIENT ? "client" : "server"));
	if (cfg->key)
		json_object_object_add(req, "key", json_object_new_string(cfg->key));
	if (cfg->server_name)
		json_object_object_add(req, "server_name",
				       json_object_new_string(cfg->server_name));
	if (cfg->timeout_ms)
		json_object_object_add(req, "timeout_ms", json_object_new_int(cfg->timeout_ms));
	add_alpn(req, cfg->alpn);
	r = add_file(req, "cert", cfg->cert_file, res) ?: add_file(req, "ca", cfg->ca_file, res);
	if (r) {
		json_object_put(req);
		return r;
	}
	*out = req;
	return 0;
}

static int connect_daemon(const struct hsmkey_tls_config *cfg, int timeout_ms,
			  struct hsmkey_tls_result *res)
{
	char why[sizeof(res->error)];

	/* The reply comes after the handshake: its deadline and some. */
	return lib_connect(cfg->socket_path, timeout_ms / 1000 + 10, res ? res->error : why,
			   sizeof(why));
}

static void copy_field(struct json_object *reply, const char *field, char *to, size_t len)
{
	const char *v = proto_str(reply, field);

	snprintf(to, len, "%s", v ?: "");
}

static int result(struct json_object *reply, struct hsmkey_tls_result *res)
{
	struct json_object *ok = json_object_object_get(reply, "ok");
	int64_t err = EPROTO;

	if (!json_object_get_boolean(ok)) {
		proto_int(reply, "errno", &err);
		if (res)
			copy_field(reply, "error", res->error, sizeof(res->error));
		return err > 0 && err < 4096 ? -(int)err : -EPROTO;
	}
	if (res) {
		copy_field(reply, "version", res->version, sizeof(res->version));
		copy_field(reply, "cipher", res->cipher, sizeof(res->cipher));
		copy_field(reply, "alpn", res->alpn, sizeof(res->alpn));
		copy_field(reply, "server_name", res->server_name, sizeof(res->server_name));
		copy_field(reply, "peer_subject", res->peer_subject, sizeof(res->peer_subject));
	}
	return 0;
}

API int hsmkey_tls_handshake(int fd, const struct hsmkey_tls_config *cfg,
			     struct hsmkey_tls_result *res)
{
	struct json_object *req = NULL, *reply = NULL;
	int r, cfd;

	if (res)
		memset(res, 0, sizeof(*res));
	r = build(cfg, &req, res);
	if (r)
		return r;
	cfd = connect_daemon(cfg, cfg->timeout_ms ?: TIMEOUT_MS, res);
	if (cfd < 0) {
		json_object_put(req);
		return cfd;
	}
	r = proto_send(cfd, req, fd);
	if (r) {
		say(res, -r, "cannot ask hsmkeyd%s: %s", "");
	} else {
		r = proto_recv(cfd, &reply, NULL);
		if (r == -EAGAIN)
			r = -ETIMEDOUT;
		if (r)
			say(res, -r, "no answer from hsmkeyd%s: %s", "");
		else
			r = result(reply, res);
		/* The daemon may still be at it: no half-done TLS goes on. */
		if (r)
			shutdown(fd, SHUT_RDWR);
	}
	json_object_put(reply);
	json_object_put(req);
	close(cfd);
	return r;
}

/* One record's worth; its type from the control message. */
static ssize_t recv_record(int fd, void *buf, size_t len, unsigned char *type)
{
	char control[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	struct cmsghdr *c;
	ssize_t n = recvmsg(fd, &msg, 0);

	*type = TLS_DATA;
	c = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (c && c->cmsg_level == SOL_TLS && c->cmsg_type == TLS_GET_RECORD_TYPE)
		*type = *(unsigned char *)CMSG_DATA(c);
	return n;
}

API ssize_t hsmkey_tls_read(int fd, void *buf, size_t len)
{
	unsigned char type, *b = buf;

	for (;;) {
		ssize_t n = recv_record(fd, buf, len, &type);

		if (n < 0 || type == TLS_DATA)
			return n;
		if (type == TLS_ALERT && n >= 2 && b[1] == 0)
			return 0;	/* close_notify */
		if (type == TLS_ALERT) {
			errno = ECONNRESET;	/* a fatal alert: the peer gave up */
			return -1;
		}
		/* Handshake: a session ticket is dropped; a key update cannot be followed. */
		if (type == TLS_HANDSHAKE && n >= 1 && b[0] == 24) {
			errno = EKEYEXPIRED;
			return -1;
		}
	}
}

API int hsmkey_tls_close_notify(int fd)
{
	static const unsigned char alert[2] = { 1, 0 };	/* warning, close_notify */
	char control[CMSG_SPACE(sizeof(unsigned char))] = { 0 };
	struct iovec iov = { .iov_base = (void *)alert, .iov_len = sizeof(alert) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_TLS;
	c->cmsg_type = TLS_SET_RECORD_TYPE;
	c->cmsg_len = CMSG_LEN(sizeof(unsigned char));
	*CMSG_DATA(c) = TLS_ALERT;
	return sendmsg(fd, &msg, MSG_NOSIGNAL) == (ssize_t)sizeof(alert) ? 0 : -errno;
}
