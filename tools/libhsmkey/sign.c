// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libhsmkey's signature calls (hsmkey/kms.h): sign, verify and public-key
 * requests to hsmkeyd; the message (or digest) as the request's payload,
 * the signature as the reply's (sign) or in hex in the request (verify).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"
#include "proto.h"

static int sig_request(struct hsmkey *h, const char *op, const char *key, unsigned int flags,
		       size_t len, struct json_object **out)
{
	if (!key || (flags & ~(HSMKEY_SIGN_DIGEST | HSMKEY_SIGN_PSS)))
		return lib_fail(h, -EINVAL, "%s", key ? "unknown flags" : "no key named");
	if (!len || len > HSMKEY_MESSAGE_MAX)
		return lib_fail(h, -EMSGSIZE, "the message must be 1 to %d bytes (sign a larger one's digest)",
				HSMKEY_MESSAGE_MAX);
	*out = lib_request(op);
	json_object_object_add(*out, "name", json_object_new_string(key));
	json_object_object_add(*out, "digest", json_object_new_boolean(flags & HSMKEY_SIGN_DIGEST));
	if (flags & HSMKEY_SIGN_PSS)
		json_object_object_add(*out, "padding", json_object_new_string("pss"));
	return 0;
}

API int hsmkey_sign(struct hsmkey *h, const char *key, unsigned int flags, const void *data,
		    size_t len, void *sig, size_t *siglen)
{
	struct json_object *req = NULL;
	int r = sig_request(h, "sign", key, flags, len, &req);

	if (r)
		return r;
	/* hsmkeyd checks it before a signature is made (and audited) only to be lost. */
	json_object_object_add(req, "max_signature",
			       json_object_new_int64(*siglen < HSMKEY_SIGNATURE_MAX ?
						     (int64_t)*siglen : HSMKEY_SIGNATURE_MAX));
	r = lib_call(h, req, data, len, sig, siglen, NULL);
	if (r == -ENOBUFS)
		*siglen = HSMKEY_SIGNATURE_MAX;
	return r;
}

API int hsmkey_verify(struct hsmkey *h, const char *key, unsigned int flags, const void *data,
		      size_t len, const void *sig, size_t siglen)
{
	struct json_object *req = NULL;
	char hex[2 * HSMKEY_SIGNATURE_MAX + 1];
	int r = sig_request(h, "verify", key, flags, len, &req);

	if (r)
		return r;
	if (!siglen || siglen > HSMKEY_SIGNATURE_MAX) {
		json_object_put(req);
		return lib_fail(h, -EBADMSG, "a signature is 1 to %d bytes", HSMKEY_SIGNATURE_MAX);
	}
	for (size_t i = 0; i < siglen; i++)
		snprintf(hex + 2 * i, 3, "%02x", ((const unsigned char *)sig)[i]);
	json_object_object_add(req, "signature", json_object_new_string(hex));
	return lib_call(h, req, data, len, NULL, NULL, NULL);
}

API int hsmkey_public_key(struct hsmkey *h, const char *key, char *pem, size_t *len)
{
	struct json_object *req = lib_request("public-key"), *reply = NULL;
	const char *got;
	size_t need;
	int r;

	json_object_object_add(req, "name", json_object_new_string(key ? key : ""));
	r = lib_call(h, req, NULL, 0, NULL, NULL, &reply);
	if (r)
		return r;
	got = proto_str(reply, "public_key");
	if (!got) {
		json_object_put(reply);
		return lib_fail(h, -EPROTO, "hsmkeyd's answer has no public key");
	}
	need = strlen(got) + 1;
	if (need > *len)
		r = lib_fail(h, -ENOBUFS, "the public key takes %zu bytes, the buffer has %zu",
			     need, *len);
	else
		memcpy(pem, got, need);
	*len = need;
	json_object_put(reply);
	return r;
}
