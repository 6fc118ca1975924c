// SPDX-License-Identifier: GPL-2.0
/*
 * The local KMS API's MACs: generate-mac and verify-mac with an
 * hmac-sha256 key (HMAC, RFC 2104, over SHA-256: 32 bytes), made where the
 * key lives: in hsmkeyd or inside the HSM (key_use.h).  The message is the request's payload, 0 to
 * MAC_MESSAGE_MAX bytes.  generate-mac answers with the MAC as the
 * reply's payload, made under the current version; verify-mac takes it in
 * hex in "mac" and checks it under "version" (the current one unless
 * named), so that MACs made before a rotation keep verifying when their
 * version is named.  Both answer with the key's name and the version used.
 *
 * Who may: the key's grants of mac (kms.h), as for encrypt and sign.  The
 * audit record names the call, the key, its version and the message's
 * length: never the message (a short one is found from its hash) nor a
 * MAC.
 */
#include <errno.h>
#include <string.h>
#include <openssl/crypto.h>
#include "key_use.h"
#include "kms.h"
#include "proto.h"
#include "util.h"

#define MAC_MESSAGE_MAX	32768	/* sign's (kms_sign.c): one message, proto.h */
#define MAC_LEN		32	/* HMAC-SHA256 */

/* What a request gives: the call, the key, the version, the MAC to check. */
struct mac_call {
	const char *op;		/* the audit record's: generate-mac, verify-mac */
	const char *name;
	uint32_t version;	/* asked for (0: the current one), then used */
	bool verify;
	uint8_t mac[MAC_LEN];	/* verify-mac's */
};

static int read_version(struct request *rq, struct mac_call *c)
{
	struct json_object *v = json_object_object_get(rq->req, "version");
	int64_t n = v ? json_object_get_int64(v) : 0;	/* a number: check_fields() */

	if (v && (n < 1 || n > UINT32_MAX))
		return fail(rq, EINVAL, "'version' must be a version number (1 or more)");
	c->version = (uint32_t)n;
	return 0;
}

static int read_mac(struct request *rq, struct mac_call *c)
{
	const char *hex = proto_str(rq->req, "mac");

	if (!hex || strlen(hex) != 2 * MAC_LEN || hex_decode(hex, c->mac, MAC_LEN))
		return fail(rq, EINVAL, "'mac' must be the %d-byte MAC in hex (%d digits)", MAC_LEN,
			    2 * MAC_LEN);
	return 0;
}

static int read_call(struct request *rq, struct mac_call *c)
{
	int r = get_name(rq, "name", &c->name);

	if (r) {
		c->name = "";	/* no valid name to record */
		return r;
	}
	if (rq->npayload > MAC_MESSAGE_MAX)
		return fail(rq, EMSGSIZE, "the message must be 0 to %d bytes", MAC_MESSAGE_MAX);
	if (!c->verify)
		return 0;
	return read_version(rq, c) ?: read_mac(rq, c);
}

/*
 * The MAC of the message under the version asked for (the current one,
 * @meta, unless named) of the key authorised, into @out, made where the
 * key lives (key_use.h).
 */
static int mac_of(struct request *rq, struct mac_call *c, const struct ks_key *meta,
		  uint8_t *out)
{
	struct ks_key key = *meta;
	struct ks_use u = { .op = KS_USE_MAC, .in = rq->payload, .len = rq->npayload };
	int r;

	key.version = c->version ?: meta->version;
	r = key_use(rq, &key, &u, out);
	/* The name made again, another key, since it was authorised: not this one. */
	if (r == -ESTALE)
		return fail(rq, EAGAIN, "key '%s' was replaced meanwhile: try again", c->name);
	if (r)
		return r;
	c->version = key.version;
	return 0;
}

static int generate_with(struct request *rq, struct mac_call *c, const struct ks_key *meta)
{
	uint8_t *out = kms_reply_buffer(rq, MAC_LEN);

	if (!out)
		return fail(rq, ENOMEM, "out of memory");
	return mac_of(rq, c, meta, out);
}

static int verify_with(struct request *rq, struct mac_call *c, const struct ks_key *meta)
{
	uint8_t mac[MAC_LEN];
	int r = mac_of(rq, c, meta, mac);

	if (!r && CRYPTO_memcmp(mac, c->mac, MAC_LEN))
		r = fail(rq, EBADMSG, "the MAC does not match: not key '%s' version %u's MAC of this message",
			 c->name, c->version);
	wipe(mac, sizeof(mac));
	if (r)
		return r;
	json_object_object_add(rq->reply, "valid", json_object_new_boolean(1));
	return 0;
}

/* Every call's end, allowed or refused (@r): its record, then the reply's name and version. */
static int finish(struct request *rq, const struct mac_call *c, int r)
{
	char detail[48];

	snprintf(detail, sizeof(detail), "message %zu bytes", rq->npayload);
	if (kms_audit_as(rq, c->op, c->name, c->version, detail, r))
		r = kms_unrecorded(rq);
	if (!r) {
		json_object_object_add(rq->reply, "name", json_object_new_string(c->name));
		json_object_object_add(rq->reply, "version", json_object_new_int64(c->version));
	}
	return r;
}

static int mac_op(struct request *rq, struct mac_call *c)
{
	struct ks_key meta = { 0 };
	int r = read_call(rq, c);

	if (!r)
		r = kms_authorise(rq, KS_OP_MAC, c->name, &meta) ?:
		    (c->verify ? verify_with(rq, c, &meta) : generate_with(rq, c, &meta));
	return finish(rq, c, r);
}

int op_generate_mac(struct request *rq)
{
	struct mac_call c = { .op = "generate-mac", .name = "" };

	return mac_op(rq, &c);
}

int op_verify_mac(struct request *rq)
{
	struct mac_call c = { .op = "verify-mac", .name = "", .verify = true };

	return mac_op(rq, &c);
}
