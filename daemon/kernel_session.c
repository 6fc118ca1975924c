// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's kTLS session-key commands of hsmkey.ko (kernel.h;
 * uapi/linux/hsmkey.h, "kTLS session tokens"): SESSION_ADD with the key
 * wrapped under the transport key, SESSION_GET, SESSION_REVOKE.  The
 * socket, the registration and the wrapping are kernel.c's.
 */
#include <errno.h>
#include <string.h>
#include <netlink/genl/genl.h>
#include "kernel.h"
#include "kernel_internal.h"
#include "util.h"

/* The reply's attributes for one session key: token, handle, state, records. */
struct session_attrs {
	int token, handle, state, records;
};

static const struct session_attrs first = {
	HSMKEY_SESSION_A_TOKEN, HSMKEY_SESSION_A_HANDLE,
	HSMKEY_SESSION_A_STATE, HSMKEY_SESSION_A_RECORDS,
};
static const struct session_attrs second = {
	HSMKEY_SESSION_A_TOKEN_2, HSMKEY_SESSION_A_HANDLE_2,
	HSMKEY_SESSION_A_STATE_2, HSMKEY_SESSION_A_RECORDS_2,
};

/* One session key's part of a reply: the token (as long as asked for) and the rest. */
static int parse_one(struct nlattr **tb, const struct session_attrs *a, struct kernel_session *s)
{
	if (tb[a->token]) {
		if ((unsigned int)nla_len(tb[a->token]) != s->len)
			return -EPROTO;
		memcpy(s->token, nla_data(tb[a->token]), s->len);
	}
	if (tb[a->handle])
		s->handle = nla_get_u32(tb[a->handle]);
	if (tb[a->state])
		s->state = nla_get_u32(tb[a->state]);
	if (tb[a->records])
		s->records = nla_get_u64(tb[a->records]);
	return 0;
}

/* A reply about two session keys, @arg[0] and @arg[1]. */
static int parse_pair(struct nlattr **tb, void *arg)
{
	struct kernel_session *s = arg;

	return parse_one(tb, &first, &s[0]) ?: parse_one(tb, &second, &s[1]);
}

/* Session key @key as a key version is wrapped: the session id, version 0. */
static void session_key(const uint8_t *key, unsigned int len, struct ks_key *sk)
{
	memset(sk, 0, sizeof(*sk));
	memcpy(sk->id, HSMKEY_SESSION_WRAP_ID, HSMKEY_ID_LEN);
	sk->type = len == 16 ? HSMKEY_TYPE_AES_128_GCM : HSMKEY_TYPE_AES_256_GCM;
	memcpy(sk->material, key, len);
}

/* SESSION_ADD with two keys of @len bytes each: @out[0] and @out[1]. */
static int session_add(struct kernel *k, const uint8_t *const *keys, unsigned int len,
		       unsigned int ttl, struct kernel_session *out)
{
	static const int attrs[] = { HSMKEY_SESSION_A_WRAPPED, HSMKEY_SESSION_A_WRAPPED_2 };
	struct ks_key sk[2];
	struct nl_msg *msg;
	int r;

	memset(out, 0, 2 * sizeof(*out));	/* no handle a failure could revoke */
	if (len != 16 && len != 32)
		return -EINVAL;
	for (int i = 0; i < 2; i++) {
		out[i].len = len;
		session_key(keys[i], len, &sk[i]);
	}
	msg = kernel_msg(k, HSMKEY_CMD_SESSION_ADD, 0);
	if (msg && ttl && nla_put_u32(msg, HSMKEY_SESSION_A_TTL, ttl)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	r = kernel_change_wrapped(k, msg, sk, attrs, 2, parse_pair, out);
	wipe(sk, sizeof(sk));
	for (int i = 0; i < 2 && !r; i++)
		if (!out[i].handle)
			r = -EPROTO;
	return r;
}

int kernel_session_add_pair(struct kernel *k, const uint8_t *key, const uint8_t *key2,
			    unsigned int len, unsigned int ttl, struct kernel_session *out,
			    struct kernel_session *out2)
{
	const uint8_t *keys[2] = { key, key2 };
	struct kernel_session s[2] = { 0 };
	int r = session_add(k, keys, len, ttl, s);

	*out = s[0];
	*out2 = s[1];
	wipe(s, sizeof(s));
	return r;
}

int kernel_session_get_pair(struct kernel *k, uint32_t handle, uint32_t handle2,
			    struct kernel_session *out, struct kernel_session *out2)
{
	struct nl_msg *msg = kernel_msg(k, HSMKEY_CMD_SESSION_GET, 0);
	struct kernel_session s[2] = { 0 };
	int r = -ENOMEM;

	if (msg && !nla_put_u32(msg, HSMKEY_SESSION_A_HANDLE, handle) &&
	    !nla_put_u32(msg, HSMKEY_SESSION_A_HANDLE_2, handle2))
		r = kernel_call(k, msg, parse_pair, s);
	else
		nlmsg_free(msg);
	*out = s[0];
	*out2 = s[1];
	return r;
}

int kernel_session_revoke(struct kernel *k, uint32_t handle)
{
	struct nl_msg *msg = kernel_msg(k, HSMKEY_CMD_SESSION_REVOKE, 0);

	if (msg && nla_put_u32(msg, HSMKEY_SESSION_A_HANDLE, handle)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return kernel_failsafe(k, msg);
}
