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

/* A session command's reply: the token (as long as asked for) and the rest. */
static int parse_session(struct nlattr **tb, void *arg)
{
	struct kernel_session *s = arg;

	if (tb[HSMKEY_SESSION_A_TOKEN]) {
		if ((unsigned int)nla_len(tb[HSMKEY_SESSION_A_TOKEN]) != s->len)
			return -EPROTO;
		memcpy(s->token, nla_data(tb[HSMKEY_SESSION_A_TOKEN]), s->len);
	}
	if (tb[HSMKEY_SESSION_A_HANDLE])
		s->handle = nla_get_u32(tb[HSMKEY_SESSION_A_HANDLE]);
	if (tb[HSMKEY_SESSION_A_STATE])
		s->state = nla_get_u32(tb[HSMKEY_SESSION_A_STATE]);
	if (tb[HSMKEY_SESSION_A_RECORDS])
		s->records = nla_get_u64(tb[HSMKEY_SESSION_A_RECORDS]);
	return 0;
}

int kernel_session_add(struct kernel *k, const uint8_t *key, unsigned int len,
		       unsigned int ttl, struct kernel_session *out)
{
	/* Wrapped as a key version is, with the session id and version 0. */
	struct ks_key sk = { .version = 0 };
	struct nl_msg *msg;
	int r;

	if (len != 16 && len != 32)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->len = len;
	memcpy(sk.id, HSMKEY_SESSION_WRAP_ID, HSMKEY_ID_LEN);
	sk.type = len == 16 ? HSMKEY_TYPE_AES_128_GCM : HSMKEY_TYPE_AES_256_GCM;
	memcpy(sk.material, key, len);
	msg = kernel_msg(k, HSMKEY_CMD_SESSION_ADD, 0);
	if (msg && ttl && nla_put_u32(msg, HSMKEY_SESSION_A_TTL, ttl)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	r = kernel_change_wrapped(k, msg, &sk, HSMKEY_SESSION_A_WRAPPED, parse_session, out);
	wipe(&sk, sizeof(sk));
	if (!r && !out->handle)
		r = -EPROTO;
	return r;
}

int kernel_session_get(struct kernel *k, uint32_t handle, struct kernel_session *out)
{
	struct nl_msg *msg = kernel_msg(k, HSMKEY_CMD_SESSION_GET, 0);

	memset(out, 0, sizeof(*out));
	if (!msg || nla_put_u32(msg, HSMKEY_SESSION_A_HANDLE, handle)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	return kernel_call(k, msg, parse_session, out);
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
