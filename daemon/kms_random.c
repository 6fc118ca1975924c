// SPDX-License-Identifier: GPL-2.0
/*
 * The local KMS API's random bytes: "bytes" (1 to RANDOM_MAX) from where
 * the keys are made (key_use_random(): an HSM's generator on the PKCS#11
 * backend, else the kernel's CSPRNG, getrandom(2)), as the reply's
 * payload.  No key, so no grant: whoever may read (list, status) may ask
 * (control.c).  Each call is an audit record with the count asked for,
 * never the bytes.
 */
#include <errno.h>
#include <string.h>
#include "key_use.h"
#include "kms.h"
#include "util.h"

#define RANDOM_MAX	KS_RANDOM_MAX

static int random_bytes(struct request *rq, int64_t *n)
{
	struct json_object *v = json_object_object_get(rq->req, "bytes");
	uint8_t *out;
	int r;

	*n = v ? json_object_get_int64(v) : 0;	/* a number: check_fields() */
	if (*n < 1 || *n > RANDOM_MAX)
		return fail(rq, EINVAL, "'bytes' must be a number of 1 to %d", RANDOM_MAX);
	out = kms_reply_buffer(rq, (size_t)*n);
	if (!out)
		return fail(rq, ENOMEM, "out of memory");
	r = key_use_random(rq->d->be, out, (size_t)*n);
	if (r)
		wipe(out, (size_t)*n);
	return r ? fail(rq, r, "%s gave no random bytes: %s",
			rq->d->be->ops->random ? rq->d->be->ops->storage : "the kernel",
			strerror(-r)) : 0;
}

int op_random(struct request *rq)
{
	char detail[32];
	int64_t n = 0;
	int r = random_bytes(rq, &n);

	snprintf(detail, sizeof(detail), "%lld bytes", (long long)n);
	if (kms_audit_as(rq, "random", NULL, 0, detail, r))
		r = kms_unrecorded(rq);
	return r;
}
