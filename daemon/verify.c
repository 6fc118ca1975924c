// SPDX-License-Identifier: GPL-2.0
/*
 * audit verify: the audit log checked against itself and its anchor.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "audit.h"
#include "audit_anchor.h"
#include "proto.h"
#include "request.h"

int op_audit_verify(struct request *rq)
{
	uint8_t head[AUDIT_HEAD_LEN];
	uint64_t anchor, records, checkpoints;
	char msg[512];
	int r;

	if (!rq->d->audit)
		return fail(rq, ENOENT, "this daemon keeps no audit log");
	audit_anchor_get(rq->d, &anchor, head);
	r = audit_verify(rq->d->audit, anchor, head, msg, sizeof(msg), &records, &checkpoints);
	if (r)
		return fail(rq, EBADMSG, "the audit log does not verify: %s", msg);
	json_object_object_add(rq->reply, "result", json_object_new_string(msg));
	json_object_object_add(rq->reply, "records", json_object_new_int64((int64_t)records));
	json_object_object_add(rq->reply, "checkpoints", json_object_new_int64((int64_t)checkpoints));
	json_object_object_add(rq->reply, "anchor", json_object_new_int64((int64_t)anchor));
	json_object_object_add(rq->reply, "public_key",
			       json_object_new_string(audit_public_key(rq->d->audit)));
	return 0;
}
