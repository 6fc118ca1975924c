// SPDX-License-Identifier: GPL-2.0
/*
 * A KMIP response as lines of text, read by hsmkey's parser (message.h):
 * one line per batch item, its result and what its payload says.  The
 * lines tests/host/kmip/engine.py writes from PyKMIP's side are the same.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "kmip/message.h"
#include "kmip_print.h"
#include "util.h"

static void print_hex(const char *what, const uint8_t *p, size_t n)
{
	char hex[2 * KMIP_PRIVATE_MAX + 1];

	hex_encode(p, n, hex);
	printf(" %s=%s", what, hex);
}

static int print_payload(const struct kmip_result *res)
{
	struct kmip_version v[KMIP_VERSIONS_MAX];
	char uids[8][KMIP_UID_MAX];
	struct kmip_attrs a;
	struct kmip_key k;
	unsigned int n, i;
	int r = 0;

	switch (res->op) {
	case KMIP_OP_CREATE:
	case KMIP_OP_REGISTER:
	case KMIP_OP_ACTIVATE:
	case KMIP_OP_REVOKE:
	case KMIP_OP_DESTROY:
	case KMIP_OP_MODIFY_ATTRIBUTE:
		r = kmip_read_uid(&res->payload, uids[0], sizeof(uids[0]));
		if (!r)
			printf(" uid=%s", uids[0]);
		break;
	case KMIP_OP_GET:
		r = kmip_read_key(&res->payload, &k);
		if (r)
			break;
		printf(" uid=%s format=%u alg=%u bits=%u wrapped=%d", k.uid, k.format, k.algorithm,
		       k.bits, k.wrapped);
		print_hex("material", k.material, k.len);
		break;
	case KMIP_OP_GET_ATTRIBUTES:
		r = kmip_read_attributes(&res->payload, &a);
		if (r)
			break;
		printf(" uid=%s name=%s type=%u state=%u alg=%u bits=%u usage=%u activated=%" PRId64
		       " deactivated=%" PRId64 " reason=%u message=%s", a.uid, a.name, a.object_type,
		       a.state, a.algorithm, a.bits, a.usage, a.activated, a.deactivated,
		       a.revocation_reason, a.revocation_message);
		if (a.spent_unreadable)
			printf(" spent=unreadable");
		else
			printf(" spent=%d:%" PRIu64 ":%" PRIu64, a.spent_index, a.spent.requests,
			       a.spent.bytes);
		printf(" version=%u:%s", a.version, a.replaces);
		break;
	case KMIP_OP_LOCATE:
		r = kmip_read_locate(&res->payload, uids, ARRAY_SIZE(uids), &n);
		printf(" uids=");
		for (i = 0; !r && i < n; i++)
			printf("%s%s", i ? "," : "", uids[i]);
		break;
	case KMIP_OP_DISCOVER_VERSIONS:
		r = kmip_read_versions(&res->payload, v, ARRAY_SIZE(v), &n);
		printf(" versions=");
		for (i = 0; !r && i < n; i++)
			printf("%s%d.%d", i ? "," : "", v[i].major, v[i].minor);
		break;
	}
	return r;
}

int kmip_print_response(const char *name, const uint8_t *buf, size_t len)
{
	struct kmip_response resp;
	struct kmip_result res;
	int r, i = 0;

	r = kmip_response_parse(buf, len, &resp);
	if (r) {
		printf("%s: unreadable: %s\n", name, strerror(-r));
		return 1;
	}
	while ((r = kmip_response_next(&resp, &res)) == 1) {
		printf("%s %d: version=%d.%d op=%u status=%u reason=%u errno=%d", name, i++,
		       resp.version.major, resp.version.minor, res.op, res.status, res.reason,
		       -kmip_result_errno(&res));
		if (res.status == KMIP_STATUS_SUCCESS && res.has_payload &&
		    print_payload(&res)) {
			printf(" payload unreadable\n");
			return 1;
		}
		printf("\n");
	}
	if (r)
		printf("%s: a batch item unreadable\n", name);
	return r ? 1 : 0;
}
