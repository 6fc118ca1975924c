// SPDX-License-Identifier: GPL-2.0
/*
 * The keystore scale run's client (bench/run.sh, workload "scale"): makes
 * keys through hsmkeyd's control socket as fast as one client can, which
 * is what an operator's provisioning script would see, without the cost of
 * starting hsmkeyctl once per key.
 *
 *   scale_client SOCKET create COUNT PREFIX
 *	create PREFIX0 .. PREFIX<COUNT-1> (aes-256-xts), one request at a
 *	time on one connection; prints the rate in keys/s
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "proto.h"

/* One create request and its reply; -errno, or the daemon's errno. */
static int create_one(int fd, const char *name)
{
	struct json_object *req = json_object_new_object(), *reply = NULL;
	int passfd = -1, r;
	int64_t err = EPROTO;

	json_object_object_add(req, "v", json_object_new_int(PROTO_VERSION));
	json_object_object_add(req, "op", json_object_new_string("create"));
	json_object_object_add(req, "name", json_object_new_string(name));
	json_object_object_add(req, "type", json_object_new_string("aes-256-xts"));
	r = proto_send(fd, req, -1);
	json_object_put(req);
	if (!r)
		r = proto_recv(fd, &reply, &passfd);
	if (passfd >= 0)
		close(passfd);
	if (r)
		return r;
	if (!json_object_get_boolean(json_object_object_get(reply, "ok"))) {
		proto_int(reply, "errno", &err);
		fprintf(stderr, "scale_client: create %s: %s\n", name,
			proto_str(reply, "error") ?: "no message");
		r = -(int)err;
	}
	json_object_put(reply);
	return r;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int create_many(const char *sock, long count, const char *prefix)
{
	char name[64];
	double t0 = now(), rate;
	int fd = proto_connect(sock, 0), r = 0;

	for (long i = 0; fd >= 0 && i < count; i++) {
		snprintf(name, sizeof(name), "%s%ld", prefix, i);
		r = create_one(fd, name);
		if (r == -ECONNRESET || r == -EPIPE) {
			/* The daemon closed an idle or finished connection: again. */
			close(fd);
			fd = proto_connect(sock, 0);
			r = fd < 0 ? fd : create_one(fd, name);
		}
		if (r) {
			fprintf(stderr, "scale_client: key %ld: %s\n", i, strerror(-r));
			break;
		}
	}
	if (fd < 0) {
		fprintf(stderr, "scale_client: %s: %s\n", sock, strerror(-fd));
		return 1;
	}
	close(fd);
	if (r)
		return 1;
	rate = (double)count / (now() - t0);
	printf(rate < 10 ? "%.2f\n" : "%.0f\n", rate);	/* a slow token's, not "0" */
	return 0;
}

int main(int argc, char **argv)
{
	char *end;
	long count;

	if (argc != 5 || strcmp(argv[2], "create")) {
		fprintf(stderr, "usage: scale_client SOCKET create COUNT PREFIX\n");
		return 2;
	}
	errno = 0;
	count = strtol(argv[3], &end, 10);
	if (errno || *end || count < 1 || argv[3][0] < '0' || argv[3][0] > '9') {
		fprintf(stderr, "scale_client: COUNT: a positive number\n");
		return 2;
	}
	return create_many(argv[1], count, argv[4]);
}
