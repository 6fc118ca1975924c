// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libhsmkey's MAC calls (hsmkey/kms.h): generate-mac and verify-mac
 * requests to hsmkeyd; the message as the request's payload, the MAC as
 * the reply's (generate-mac) or in hex in the request (verify-mac).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"
#include "proto.h"

static int mac_request(struct hsmkey *h, const char *op, const char *key, size_t len,
		       struct json_object **out)
{
	if (!key)
		return lib_fail(h, -EINVAL, "no key named");
	if (len > HSMKEY_MESSAGE_MAX)
		return lib_fail(h, -EMSGSIZE, "the message must be 0 to %d bytes", HSMKEY_MESSAGE_MAX);
	*out = lib_request(op);
	json_object_object_add(*out, "name", json_object_new_string(key));
	return 0;
}

/* The version a reply names: 0 when it names none. */
static uint32_t reply_version(struct json_object *reply)
{
	int64_t v = 0;

	return proto_int(reply, "version", &v) && v > 0 && v <= UINT32_MAX ? (uint32_t)v : 0;
}

API int hsmkey_generate_mac(struct hsmkey *h, const char *key, const void *msg, size_t len,
			    uint8_t mac[HSMKEY_MAC_LEN], uint32_t *version)
{
	struct json_object *req = NULL, *reply = NULL;
	uint8_t out[HSMKEY_MAC_LEN];
	size_t outlen = sizeof(out);
	uint32_t v = 0;
	int r = mac_request(h, "generate-mac", key, len, &req);

	if (r)
		return r;
	r = lib_call(h, req, msg, len, out, &outlen, &reply);
	if (!r && (outlen != HSMKEY_MAC_LEN || !(v = reply_version(reply))))
		r = lib_fail(h, -EPROTO, "hsmkeyd's answer is no MAC of %d bytes and its version",
			     HSMKEY_MAC_LEN);
	if (!r) {
		memcpy(mac, out, HSMKEY_MAC_LEN);
		if (version)
			*version = v;
	}
	json_object_put(reply);
	return r;
}

API int hsmkey_verify_mac(struct hsmkey *h, const char *key, uint32_t version, const void *msg,
			  size_t len, const uint8_t mac[HSMKEY_MAC_LEN])
{
	struct json_object *req = NULL;
	char hex[2 * HSMKEY_MAC_LEN + 1];
	int r = mac_request(h, "verify-mac", key, len, &req);

	if (r)
		return r;
	for (size_t i = 0; i < HSMKEY_MAC_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	json_object_object_add(req, "mac", json_object_new_string(hex));
	if (version)
		json_object_object_add(req, "version", json_object_new_int64(version));
	return lib_call(h, req, msg, len, NULL, NULL, NULL);
}
