// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libhsmkey's random bytes (hsmkey/kms.h): a random request to hsmkeyd,
 * the bytes as the reply's payload.
 */
#include <errno.h>
#include <string.h>
#include "internal.h"

API int hsmkey_generate_random(struct hsmkey *h, void *buf, size_t len)
{
	struct json_object *req;
	size_t got = len;
	int r;

	if (!len || len > HSMKEY_RANDOM_MAX)
		return lib_fail(h, -EINVAL, "ask for 1 to %d random bytes, not %zu", HSMKEY_RANDOM_MAX,
				len);
	req = lib_request("random");
	json_object_object_add(req, "bytes", json_object_new_int64((int64_t)len));
	r = lib_call(h, req, NULL, 0, buf, &got, NULL);
	if (!r && got != len)
		r = lib_fail(h, -EPROTO, "hsmkeyd gave %zu random bytes, not %zu", got, len);
	if (r)
		explicit_bzero(buf, len);	/* nothing a caller might take for random */
	return r;
}
