// SPDX-License-Identifier: GPL-2.0
/*
 * The client side of the control socket, in one place: connect, send one
 * request, receive its reply (or a streamed listing, read to its final
 * message), and word a failure once -- the daemon's own message when it
 * refused, ours when it could not be reached.
 */
#include <string.h>
#include <unistd.h>
#include "ctl.h"
#include "proto.h"

struct json_object *request(const char *op)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "v", json_object_new_int(PROTO_VERSION));
	json_object_object_add(o, "op", json_object_new_string(op));
	return o;
}

void add(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

void print_json(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
}

static bool is_true(struct json_object *o, const char *key)
{
	struct json_object *v = json_object_object_get(o, key);

	return json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

/* Append the elements of @msg's array @key to @acc's (made on first use). */
static void gather(struct json_object *acc, struct json_object *msg, const char *key)
{
	struct json_object *a = json_object_object_get(msg, key), *to;
	size_t i, n;

	if (!json_object_is_type(a, json_type_array))
		return;
	if (!json_object_object_get_ex(acc, key, &to)) {
		to = json_object_new_array();
		json_object_object_add(acc, key, to);
	}
	n = json_object_array_length(a);
	for (i = 0; i < n; i++)
		json_object_array_add(to, json_object_get(json_object_array_get_idx(a, i)));
}

/*
 * A listing's reply: chunks with "more":true, then a final message, whose
 * "keys" and "foreign" become the whole arrays in order.  A reply without
 * "more" is final (a daemon that does not stream sends only that one).
 * An error at any point is final and whatever came before is dropped.
 */
static int recv_listing(int fd, struct json_object **reply)
{
	struct json_object *acc = json_object_new_object(), *msg;
	int r;

	for (;;) {
		r = proto_recv(fd, &msg, NULL);
		if (r)
			break;
		if (!is_true(msg, "ok") || !is_true(msg, "more")) {
			if (is_true(msg, "ok")) {
				gather(acc, msg, "keys");
				gather(acc, msg, "foreign");
				json_object_object_foreach(acc, k, v)
					json_object_object_add(msg, k, json_object_get(v));
			}
			*reply = msg;
			break;
		}
		gather(acc, msg, "keys");
		gather(acc, msg, "foreign");
		json_object_put(msg);
	}
	json_object_put(acc);
	return r;
}

static int exchange(struct json_object *req, int passfd, bool listing,
		    struct json_object **reply)
{
	int64_t err = 0;
	int fd, r;

	*reply = NULL;
	fd = proto_connect(socket_path, 0);	/* a change may wait on a slow HSM */
	if (fd < 0) {
		json_object_put(req);
		fprintf(stderr, "hsmkeyctl: cannot reach hsmkeyd at %s: %s\n"
			"Is the daemon running? (systemctl start hsmkeyd, or --socket PATH)\n",
			socket_path, strerror(-fd));
		return EXIT_NODAEMON;
	}
	r = proto_send(fd, req, passfd);
	json_object_put(req);
	if (!r)
		r = listing ? recv_listing(fd, reply) : proto_recv(fd, reply, NULL);
	close(fd);
	if (r) {
		json_object_put(*reply);
		*reply = NULL;
		fprintf(stderr, "hsmkeyctl: no valid reply from hsmkeyd: %s\n", strerror(-r));
		return EXIT_NODAEMON;
	}
	if (!is_true(*reply, "ok")) {
		proto_int(*reply, "errno", &err);
		if (json_out)
			print_json(*reply);
		fprintf(stderr, "hsmkeyctl: %s\n", proto_str(*reply, "error") ?: strerror((int)err));
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

/* Send @req (consumed) and receive its reply; a failure is reported here. */
int call(struct json_object *req, int passfd, struct json_object **reply)
{
	return exchange(req, passfd, false, reply);
}

static int exchange_print(struct json_object *req, int passfd, bool listing,
			  print_fn *print, const char *arg)
{
	struct json_object *reply;
	int r = exchange(req, passfd, listing, &reply);

	if (r == EXIT_OK && json_out)
		print_json(reply);
	else if (r == EXIT_OK)
		print(reply, arg);
	json_object_put(reply);
	return r;
}

int call_print(struct json_object *req, int passfd, print_fn *print, const char *arg)
{
	return exchange_print(req, passfd, false, print, arg);
}

/* "list" and "status", whose replies may be streamed. */
int call_listing(struct json_object *req, print_fn *print)
{
	return exchange_print(req, -1, true, print, NULL);
}

static void print_done(struct json_object *reply, const char *done)
{
	(void)reply;
	if (done)
		printf("%s\n", done);
}

/* A request whose reply needs no more than a line or the JSON. */
int simple(struct json_object *req, int passfd, const char *done)
{
	return call_print(req, passfd, print_done, done);
}
