// SPDX-License-Identifier: GPL-2.0
/*
 * One KMIP operation through hsmkey's client code (daemon/kmip: requests,
 * the mutual-TLS connection, the response parser), for the tests against
 * a real KMIP server (tests/host/test_kmip_server.sh):
 *
 *   kmip_client SERVER CA CERT KEY TIMEOUT_MS OP [ARGS]
 *
 *   discover | query | create NAME | register NAME HEX | get UID [KEK_UID]
 *   | attrs UID | locate NAME | activate UID | revoke UID | destroy UID
 *
 * Prints the answer as kmip_print.c does.  Exits 0 when the operation
 * succeeded, 1 when the server refused it (the line says why), 2 on bad
 * usage, 3 when there was no answer (the reason on stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kmip/conn.h"
#include "kmip/message.h"
#include "kmip_print.h"
#include "util.h"

static const struct kmip_version v12 = { 1, 2 };

/* The request for @op, into @o: 0, or -EINVAL for bad usage. */
static int build(struct ttlv_out *o, int argc, char **argv)
{
	static const struct kmip_version vs[] = { { 1, 4 }, { 1, 3 }, { 1, 2 } };
	static const uint32_t qf[] = { KMIP_QUERY_OPERATIONS, KMIP_QUERY_OBJECTS };
	struct kmip_key_attrs a = {
		.bits = 256, .usage = KMIP_USAGE_ENCRYPT | KMIP_USAGE_DECRYPT | KMIP_USAGE_EXPORT,
	};
	const char *op = argv[0];
	uint8_t key[KMIP_KEY_MAX];
	size_t n;

	kmip_request_begin(o, &v12, 1);
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
	struct kmip_tls *tls;
	struct kmip_conn *c;
	struct ttlv_out o;
	const uint8_t *req;
	uint8_t *resp;
	size_t len, rlen;
	char why[512];
	int r;

	if (argc < 7) {
		fprintf(stderr, "usage: kmip_client SERVER CA CERT KEY TIMEOUT_MS OP [ARGS]\n");
		return 2;
	}
	log_init("kmip_client", false);
	ttlv_out_init(&o, KMIP_MSG_MAX);
	if (build(&o, argc - 6, argv + 6) || ttlv_out_finish(&o, &req, &len)) {
		fprintf(stderr, "kmip_client: bad operation or arguments\n");
		return 2;
	}
	r = kmip_tls_new(argv[2], argv[3], argv[4], &tls, why, sizeof(why));
	if (!r)
		r = kmip_conn_open(tls, argv[1], atoi(argv[5]), &c, why, sizeof(why));
	if (!r) {
		r = kmip_conn_call(c, req, len, &resp, &rlen, why, sizeof(why));
		kmip_conn_close(c);
	}
	ttlv_out_free(&o);
	if (r) {
		fprintf(stderr, "kmip_client: %s (%s)\n", why, strerror(-r));
		return 3;
	}
	r = outcome(resp, rlen);
	kmip_response_free(resp, rlen);
	kmip_tls_free(tls);
	return r;
}
