/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test helpers for the "hsmkey" generic netlink family, written against the
 * uapi header only: the tests build their own messages (malformed ones
 * too) rather than reuse the daemon's client.
 */
#ifndef HSMKEY_NLTEST_H
#define HSMKEY_NLTEST_H

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/random.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <linux/hsmkey.h>

struct nlt {
	struct nl_sock *sk;
	int family;
	/* Every byte the kernel sent back on the last call. */
	uint8_t *raw;
	size_t rawlen;
	char extack[256];
	int nkeys;
	uint32_t state, bindings, type, nkeys_info;
	char name[HSMKEY_NAME_MAX], inner_xts[64], inner_cbc[64];
};

struct nlt_key {
	uint8_t id[HSMKEY_ID_LEN];
	uint32_t version;
	uint32_t type;
	char name[HSMKEY_NAME_MAX];
	uint8_t verifier[HSMKEY_VERIFIER_LEN];
	uint8_t material[HSMKEY_MATERIAL_MAX];
	unsigned int keylen;
};

static inline int nlt_open(struct nlt *t)
{
	int one = 1;

	memset(t, 0, sizeof(*t));
	t->sk = nl_socket_alloc();
	if (!t->sk || genl_connect(t->sk))
		return -ECONNREFUSED;
	setsockopt(nl_socket_get_fd(t->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(t->sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	t->family = genl_ctrl_resolve(t->sk, HSMKEY_GENL_NAME);
	return t->family < 0 ? -ENOENT : 0;
}

static inline void nlt_close(struct nlt *t)
{
	nl_socket_free(t->sk);
	free(t->raw);
}

static inline struct nl_msg *nlt_msg(struct nlt *t, int cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, t->family, 0,
		    flags | NLM_F_ACK, (uint8_t)cmd, HSMKEY_GENL_VERSION);
	return msg;
}

struct nlt_call {
	struct nlt *t;
	int err;
	bool done;
};

static int nlt_on_in(struct nl_msg *msg, void *arg)
{
	struct nlt *t = ((struct nlt_call *)arg)->t;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);

	t->raw = realloc(t->raw, t->rawlen + nlh->nlmsg_len);
	memcpy(t->raw + t->rawlen, nlh, nlh->nlmsg_len);
	t->rawlen += nlh->nlmsg_len;
	return NL_OK;
}

static int nlt_on_err(struct sockaddr_nl *sa, struct nlmsgerr *e, void *arg)
{
	struct nlt_call *c = arg;
	struct nlmsghdr *nlh = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	size_t off = sizeof(*e);

	(void)sa;
	c->err = e->error;
	c->done = true;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) && nlh->nlmsg_len > NLMSG_HDRLEN + off &&
	    !nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)e + off),
		       (int)(nlh->nlmsg_len - NLMSG_HDRLEN - off), NULL) &&
	    tb[NLMSGERR_ATTR_MSG])
		snprintf(c->t->extack, sizeof(c->t->extack), "%s",
			 (char *)nla_data(tb[NLMSGERR_ATTR_MSG]));
	return NL_STOP;
}

static int nlt_on_done(struct nl_msg *msg, void *arg)
{
	(void)msg;
	((struct nlt_call *)arg)->done = true;
	return NL_STOP;
}

static int nlt_on_valid(struct nl_msg *msg, void *arg)
{
	struct nlt *t = ((struct nlt_call *)arg)->t;
	struct nlattr *tb[HSMKEY_A_MAX + 1];

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, HSMKEY_A_MAX, NULL) < 0)
		return NL_SKIP;
	if (tb[HSMKEY_A_KEY_ID])
		t->nkeys++;
	if (tb[HSMKEY_A_KEY_STATE])
		t->state = nla_get_u32(tb[HSMKEY_A_KEY_STATE]);
	if (tb[HSMKEY_A_KEY_BINDINGS])
		t->bindings = nla_get_u32(tb[HSMKEY_A_KEY_BINDINGS]);
	if (tb[HSMKEY_A_KEY_TYPE])
		t->type = nla_get_u32(tb[HSMKEY_A_KEY_TYPE]);
	if (tb[HSMKEY_A_KEY_NAME])
		snprintf(t->name, sizeof(t->name), "%s", nla_get_string(tb[HSMKEY_A_KEY_NAME]));
	if (tb[HSMKEY_A_INFO_INNER_XTS])
		snprintf(t->inner_xts, sizeof(t->inner_xts), "%s",
			 nla_get_string(tb[HSMKEY_A_INFO_INNER_XTS]));
	if (tb[HSMKEY_A_INFO_INNER_CBC])
		snprintf(t->inner_cbc, sizeof(t->inner_cbc), "%s",
			 nla_get_string(tb[HSMKEY_A_INFO_INNER_CBC]));
	if (tb[HSMKEY_A_INFO_NKEYS])
		t->nkeys_info = nla_get_u32(tb[HSMKEY_A_INFO_NKEYS]);
	return NL_OK;
}

/* Send @msg (freed) and collect the replies: 0 or the kernel's -errno. */
static inline int nlt_call(struct nlt *t, struct nl_msg *msg)
{
	struct nlt_call c = { .t = t };
	struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);

	t->rawlen = 0;
	t->nkeys = 0;
	t->extack[0] = '\0';
	if (nl_send_auto(t->sk, msg) < 0)
		c.err = -EIO, c.done = true;
	nlmsg_free(msg);
	nl_cb_set(cb, NL_CB_MSG_IN, NL_CB_CUSTOM, nlt_on_in, &c);
	nl_cb_err(cb, NL_CB_CUSTOM, nlt_on_err, &c);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, nlt_on_done, &c);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, nlt_on_done, &c);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, nlt_on_valid, &c);
	while (!c.done)
		if (nl_recvmsgs(t->sk, cb) < 0 && !c.done)
			c.err = c.err ? c.err : -EIO, c.done = true;
	nl_cb_put(cb);
	return c.err;
}

static inline void rand_fill(void *buf, size_t n)
{
	if (getrandom(buf, n, 0) != (ssize_t)n)
		abort();
}

static inline unsigned int nlt_keylen(uint32_t type)
{
	static const unsigned int len[] = { 0, 32, 64, 16, 32, 16, 32 };

	return type < sizeof(len) / sizeof(len[0]) ? len[type] : 0;
}

/* A fresh key with random id, verifier and material. */
static inline void nlt_key_random(struct nlt_key *k, const char *name, uint32_t type)
{
	memset(k, 0, sizeof(*k));
	rand_fill(k->id, sizeof(k->id));
	rand_fill(k->verifier, sizeof(k->verifier));
	k->version = 1;
	k->type = type;
	k->keylen = nlt_keylen(type);
	rand_fill(k->material, k->keylen);
	snprintf(k->name, sizeof(k->name), "%s", name);
}

static inline struct nl_msg *nlt_add_msg(struct nlt *t, const struct nlt_key *k)
{
	struct nl_msg *msg = nlt_msg(t, HSMKEY_CMD_KEY_ADD, 0);

	nla_put(msg, HSMKEY_A_KEY_ID, HSMKEY_ID_LEN, k->id);
	nla_put_u32(msg, HSMKEY_A_KEY_VERSION, k->version);
	nla_put_string(msg, HSMKEY_A_KEY_NAME, k->name);
	nla_put_u32(msg, HSMKEY_A_KEY_TYPE, k->type);
	nla_put(msg, HSMKEY_A_KEY_VERIFIER, HSMKEY_VERIFIER_LEN, k->verifier);
	nla_put(msg, HSMKEY_A_KEY_MATERIAL, (int)k->keylen, k->material);
	return msg;
}

static inline int nlt_add(struct nlt *t, const struct nlt_key *k)
{
	return nlt_call(t, nlt_add_msg(t, k));
}

static inline struct nl_msg *nlt_kid_msg(struct nlt *t, int cmd, const struct nlt_key *k)
{
	struct nl_msg *msg = nlt_msg(t, cmd, 0);

	nla_put(msg, HSMKEY_A_KEY_ID, HSMKEY_ID_LEN, k->id);
	nla_put_u32(msg, HSMKEY_A_KEY_VERSION, k->version);
	return msg;
}

static inline int nlt_revoke(struct nlt *t, const struct nlt_key *k)
{
	return nlt_call(t, nlt_kid_msg(t, HSMKEY_CMD_KEY_REVOKE, k));
}

static inline int nlt_remove(struct nlt *t, const struct nlt_key *k)
{
	return nlt_call(t, nlt_kid_msg(t, HSMKEY_CMD_KEY_REMOVE, k));
}

static inline int nlt_get(struct nlt *t, const struct nlt_key *k)
{
	return nlt_call(t, nlt_kid_msg(t, HSMKEY_CMD_KEY_GET, k));
}

static inline int nlt_dump(struct nlt *t)
{
	return nlt_call(t, nlt_msg(t, HSMKEY_CMD_KEY_GET, NLM_F_DUMP));
}

static inline void nlt_token(const struct nlt_key *k, uint8_t *out)
{
	struct hsmkey_token tok;

	memset(&tok, 0, sizeof(tok));
	memcpy(tok.magic, HSMKEY_TOKEN_MAGIC, 4);
	tok.format = HSMKEY_TOKEN_FORMAT;
	tok.key_type = (uint8_t)k->type;
	memcpy(tok.key_id, k->id, HSMKEY_ID_LEN);
	tok.key_version = htonl(k->version);
	memcpy(tok.verifier, k->verifier, HSMKEY_VERIFIER_LEN);
	memcpy(out, &tok, HSMKEY_TOKEN_LEN);
}

/* Become uid and gid 65534 with no supplementary groups and no capability. */
static inline int nlt_drop_to_nobody(void)
{
	if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
	    setresuid(65534, 65534, 65534))
		return -errno;
	return 0;
}

/* Does @needle (n bytes) occur anywhere in @hay? */
static inline bool nlt_contains(const uint8_t *hay, size_t len, const uint8_t *needle, size_t n)
{
	return len >= n && memmem(hay, len, needle, n) != NULL;
}

#endif
