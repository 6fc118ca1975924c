// SPDX-License-Identifier: GPL-2.0
/*
 * One KMIP operation through hsmkey's client (daemon/kmip: the servers
 * tried in order, the version agreed, requests, mutual TLS, the response
 * parser), for the tests against real KMIP servers
 * (tests/host/test_kmip_server.sh):
 *
 *   kmip_client SERVER[,SERVER...] CA CERT KEY TIMEOUT_MS OP [ARGS]
 *
 *   discover | query | create NAME | register NAME HEX | get UID [KEK_UID]
 *   | attrs UID | locate NAME | activate UID | revoke UID | destroy UID
 *
 * Prints the answer as kmip_print.c does, then "server=I" (which one of
 * the list answered, from 0).  Exits 0 when the operation
 * succeeded, 1 when the server refused it (the line says why), 2 on bad
 * usage, 3 when there was no answer (the reason on stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kmip/client.h"
#include "kmip/message.h"
#include "kmip_print.h"
#include "util.h"

struct op_args {
	int argc;
	char **argv;
};

/* The request for @op, into @o: 0, or -EINVAL for bad usage. */
static int build_op(struct ttlv_out *o, const struct kmip_version *v, int argc, char **argv)
{
	static const struct kmip_version vs[] = { { 1, 4 }, { 1, 3 }, { 1, 2 } };
	static const uint32_t qf[] = { KMIP_QUERY_OPERATIONS, KMIP_QUERY_OBJECTS };
	struct kmip_key_attrs a = {
		.object_type = KMIP_OBJECT_SYMMETRIC_KEY, .algorithm = KMIP_ALG_AES,
		.bits = 256, .usage = KMIP_USAGE_ENCRYPT | KMIP_USAGE_DECRYPT | KMIP_USAGE_EXPORT,
	};
	const char *op = argv[0];
	uint8_t key[KMIP_KEY_MAX];
	size_t n;

	kmip_request_begin(o, v, 1);
	if (!strcmp(op, "discover") && argc == 1)
		kmip_req_discover(o, vs, ARRAY_SIZE(vs));
	else if (!strcmp(op, "query") && argc == 1)
		kmip_req_query(o, qf, ARRAY_SIZE(qf));
	else if (!strcmp(op, "create") && argc == 2)
		a.name = argv[1], kmip_req_create(o, &a);
	else if (!strcmp(op, "register") && argc == 3) {
		n = strlen(argv[2]) / 2;
		if (n > sizeof(key) || hex_decode(argv[2], key, n))
			return -EINVAL;
		a.name = argv[1];
		a.bits = 8 * n;
		kmip_req_register(o, &a, key, n);
		wipe(key, sizeof(key));
	} else if (!strcmp(op, "get") && (argc == 2 || argc == 3))
		kmip_req_get(o, argv[1], argc == 3 ? argv[2] : NULL);
	else if (!strcmp(op, "attrs") && argc == 2)
		kmip_req_uid(o, KMIP_OP_GET_ATTRIBUTES, argv[1]);
	else if (!strcmp(op, "locate") && argc == 2)
		kmip_req_locate(o, argv[1], NULL, 8);
	else if (!strcmp(op, "activate") && argc == 2)
		kmip_req_uid(o, KMIP_OP_ACTIVATE, argv[1]);
	else if (!strcmp(op, "revoke") && argc == 2)
		kmip_req_revoke(o, argv[1], KMIP_REVOKE_CESSATION, "retired by a test", 0);
	else if (!strcmp(op, "destroy") && argc == 2)
		kmip_req_uid(o, KMIP_OP_DESTROY, argv[1]);
	else
		return -EINVAL;
	kmip_request_end(o);
	return 0;
}

static void build(struct ttlv_out *o, const struct kmip_version *v, const void *arg)
{
	const struct op_args *a = arg;

	build_op(o, v, a->argc, a->argv);
}

static bool idempotent(const char *op)
{
	return !strcmp(op, "discover") || !strcmp(op, "query") || !strcmp(op, "get") ||
	       !strcmp(op, "attrs") || !strcmp(op, "locate");
}

/* 0 if the answer's one item succeeded, 1 if refused or unreadable. */
static int outcome(const uint8_t *buf, size_t len)
{
	struct kmip_response resp;
	struct kmip_result res;

	if (kmip_print_response("reply", buf, len) || kmip_response_parse(buf, len, &resp) ||
	    kmip_response_next(&resp, &res) != 1)
		return 1;
	if (res.status != KMIP_STATUS_SUCCESS)
		printf("refused: %s: %s\n", kmip_reason_name(res.reason), res.message);
	return res.status != KMIP_STATUS_SUCCESS;
}

int main(int argc, char **argv)
{
	struct kmip_client_config cfg = { .nservers = 0 };
	struct op_args a = { argc - 6, argv + 6 };
	const struct kmip_version v12 = { 1, 2 };
	struct kmip_client *c;
	struct kmip_reply r;
	struct ttlv_out o;
	char why[1024], *list, *s;
	int e;

	if (argc < 7) {
		fprintf(stderr, "usage: kmip_client SERVER[,SERVER...] CA CERT KEY TIMEOUT_MS OP [ARGS]\n");
		return 2;
	}
	log_init("kmip_client", false);
	ttlv_out_init(&o, KMIP_MSG_MAX);
	e = build_op(&o, &v12, a.argc, a.argv);
	ttlv_out_free(&o);
	list = strdup(argv[1]);
	for (s = strtok(list, ","); s && cfg.nservers < KMIP_SERVERS_MAX; s = strtok(NULL, ","))
		cfg.servers[cfg.nservers++] = s;
	if (e || !cfg.nservers) {
		fprintf(stderr, "kmip_client: bad operation or arguments\n");
		return 2;
	}
	cfg.ca = argv[2], cfg.cert = argv[3], cfg.key = argv[4], cfg.timeout_ms = atoi(argv[5]);
	e = kmip_client_new(&cfg, &c, why, sizeof(why));
	if (!e)
		e = kmip_client_call(c, idempotent(a.argv[0]), build, &a, &r, why, sizeof(why));
	if (e) {
		fprintf(stderr, "kmip_client: %s (%s)\n", why, strerror(-e));
		return 3;
	}
	e = outcome(r.buf, r.len);
	printf("server=%u\n", r.server);
	kmip_reply_free(&r);
	kmip_client_free(c);
	free(list);
	return e;
}
