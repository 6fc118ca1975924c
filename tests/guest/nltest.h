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
#include <fcntl.h>
#include <sys/ioctl.h>
#include <openssl/evp.h>
#include <linux/hsmkey.h>

static inline void rand_fill_early(void *buf, size_t n)
{
	if (getrandom(buf, n, 0) != (ssize_t)n)
		abort();
}
#define rand_fill rand_fill_early

struct nlt {
	struct nl_sock *sk;
	int family;
	/*
	 * /dev/hsmkey, held while open (-1: not held), with @sk registered on
	 * it, and the transport key the registration returned.
	 */
	int dev;
	uint8_t tkey[HSMKEY_TRANSPORT_KEY_LEN];
	/* Every byte the kernel sent back on the last call. */
	uint8_t *raw;
	size_t rawlen;
	char extack[256];
	int nkeys;
	uint32_t state, bindings, type, nkeys_info, holder;
	uint32_t delivery, e2e;	/* HSMKEY_KEY_A_DELIVERY, HSMKEY_INFO_A_E2E */
	uint32_t ktls, sessions, sessions_bound; /* HSMKEY_INFO_A_KTLS, _SESSIONS, _SESSIONS_BOUND */
	/* HSMKEY_CMD_SESSION_ADD's reply */
	uint8_t session_token[32];
	unsigned int session_len;
	uint32_t session_handle, session_state;
	uint64_t session_records;
	/* ... and of the second key, with HSMKEY_SESSION_A_WRAPPED_2 or _HANDLE_2 */
	uint8_t session_token2[32];
	unsigned int session_len2;
	uint32_t session_handle2, session_state2;
	uint64_t bytes, requests, binds, denies;
	uint64_t stat_binds, stat_denies, stat_denies_unknown, stat_revokes, stat_expiries;
	uint64_t stat_limits, stat_events, stat_suppressed;
	uint64_t max_requests, max_bytes, not_after;
	uint32_t min_taglen;	/* from a GET reply's policy; 0: absent */
	uint64_t audit_seq;
	uint8_t audit_head[HSMKEY_AUDIT_HEAD_LEN];
	uint8_t owner[HSMKEY_OWNER_LEN];
	bool has_owner;
	char name[HSMKEY_NAME_MAX], inner_xts[64], inner_cbc[64], inner_gcm[64];
};

/* A policy to send: what is non-zero (or listed) goes in the message. */
struct nlt_policy {
	uint32_t uids[HSMKEY_POLICY_IDS_MAX], nuids;
	uint32_t gids[HSMKEY_POLICY_IDS_MAX], ngids;
	uint32_t algs, max_bindings, min_taglen;
	uint64_t not_before, not_after, max_bytes, max_requests;
	/* Send the lists even when empty (which the kernel refuses). */
	bool empty_uids, empty_gids;
};

struct nlt_key {
	uint8_t id[HSMKEY_ID_LEN];
	uint32_t version;
	uint32_t type;
	char name[HSMKEY_NAME_MAX];
	uint8_t verifier[HSMKEY_VERIFIER_LEN];
	uint8_t material[HSMKEY_MATERIAL_MAX];
	unsigned int keylen;
	const struct nlt_policy *policy;	/* NULL: none sent */
	uint64_t used_bytes, used_requests;	/* sent when non-zero */
	const uint8_t *owner;			/* NULL: none sent */
};

/* A socket of the family that leaves /dev/hsmkey alone. */
static inline int nlt_open_nodev(struct nlt *t)
{
	int one = 1;

	memset(t, 0, sizeof(*t));
	t->dev = -1;
	t->sk = nl_socket_alloc();
	if (!t->sk || genl_connect(t->sk))
		return -ECONNREFUSED;
	setsockopt(nl_socket_get_fd(t->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(t->sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	t->family = genl_ctrl_resolve(t->sk, HSMKEY_GENL_NAME);
	if (t->family < 0)
		return -ENOENT;
	return 0;
}

/*
 * Register @t's socket on the open /dev/hsmkey file @devfd: 0, with the
 * transport key in @t->tkey, or -errno.
 */
static inline int nlt_register(struct nlt *t, int devfd)
{
	struct hsmkey_register reg = { .nl_fd = nl_socket_get_fd(t->sk) };
	int r = ioctl(devfd, HSMKEY_IOC_REGISTER, &reg) ? -errno : 0;

	if (!r)
		memcpy(t->tkey, reg.transport_key, sizeof(t->tkey));
	explicit_bzero(&reg, sizeof(reg));
	return r;
}

/*
 * A socket of the family; when allowed to, it holds /dev/hsmkey and is
 * registered on it, so that it may change keys as well as read them.
 */
static inline int nlt_open(struct nlt *t)
{
	int r = nlt_open_nodev(t);

	if (r)
		return r;
	t->dev = open("/dev/" HSMKEY_DEVICE_NAME, O_RDWR | O_CLOEXEC);
	if (t->dev >= 0 && nlt_register(t, t->dev)) {
		close(t->dev);
		t->dev = -1;
	}
	return 0;
}

/* Give up /dev/hsmkey (and with it the registration and transport key). */
static inline void nlt_release(struct nlt *t)
{
	if (t->dev >= 0)
		close(t->dev);
	t->dev = -1;
	explicit_bzero(t->tkey, sizeof(t->tkey));
}

static inline void nlt_close(struct nlt *t)
{
	nlt_release(t);
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
	uint8_t cmd;	/* of the request: which attribute set replies use */
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

static inline void nlt_parse_policy(struct nlt *t, struct nlattr *nest)
{
	struct nlattr *pb[HSMKEY_POLICY_A_MAX + 1];

	if (nla_parse_nested(pb, HSMKEY_POLICY_A_MAX, nest, NULL))
		return;
	t->max_requests = pb[HSMKEY_POLICY_A_MAX_REQUESTS] ?
		nla_get_u64(pb[HSMKEY_POLICY_A_MAX_REQUESTS]) : 0;
	t->max_bytes = pb[HSMKEY_POLICY_A_MAX_BYTES] ?
		nla_get_u64(pb[HSMKEY_POLICY_A_MAX_BYTES]) : 0;
	t->not_after = pb[HSMKEY_POLICY_A_NOT_AFTER] ?
		nla_get_u64(pb[HSMKEY_POLICY_A_NOT_AFTER]) : 0;
	t->min_taglen = pb[HSMKEY_POLICY_A_MIN_TAGLEN] ?
		nla_get_u32(pb[HSMKEY_POLICY_A_MIN_TAGLEN]) : 0;
}

#define NLT_U64(attr, field) if (tb[attr]) t->field = nla_get_u64(tb[attr])

/* A KEY_GET reply (enum hsmkey_key_attr). */
static inline void nlt_parse_key(struct nlt *t, struct nlattr **tb)
{
	if (tb[HSMKEY_KEY_A_ID])
		t->nkeys++;
	if (tb[HSMKEY_KEY_A_STATE])
		t->state = nla_get_u32(tb[HSMKEY_KEY_A_STATE]);
	if (tb[HSMKEY_KEY_A_BINDINGS])
		t->bindings = nla_get_u32(tb[HSMKEY_KEY_A_BINDINGS]);
	if (tb[HSMKEY_KEY_A_TYPE])
		t->type = nla_get_u32(tb[HSMKEY_KEY_A_TYPE]);
	if (tb[HSMKEY_KEY_A_NAME])
		snprintf(t->name, sizeof(t->name), "%s", nla_get_string(tb[HSMKEY_KEY_A_NAME]));
	NLT_U64(HSMKEY_KEY_A_BYTES, bytes);
	NLT_U64(HSMKEY_KEY_A_REQUESTS, requests);
	NLT_U64(HSMKEY_KEY_A_BINDS, binds);
	NLT_U64(HSMKEY_KEY_A_DENIES, denies);
	if (tb[HSMKEY_KEY_A_DELIVERY])
		t->delivery = nla_get_u32(tb[HSMKEY_KEY_A_DELIVERY]);
	t->has_owner = tb[HSMKEY_KEY_A_OWNER] != NULL;
	if (t->has_owner)
		memcpy(t->owner, nla_data(tb[HSMKEY_KEY_A_OWNER]), HSMKEY_OWNER_LEN);
	if (tb[HSMKEY_KEY_A_POLICY])
		nlt_parse_policy(t, tb[HSMKEY_KEY_A_POLICY]);
}

/* The INFO reply (enum hsmkey_info_attr). */
static inline void nlt_parse_info(struct nlt *t, struct nlattr **tb)
{
	if (tb[HSMKEY_INFO_A_INNER_XTS])
		snprintf(t->inner_xts, sizeof(t->inner_xts), "%s",
			 nla_get_string(tb[HSMKEY_INFO_A_INNER_XTS]));
	if (tb[HSMKEY_INFO_A_INNER_CBC])
		snprintf(t->inner_cbc, sizeof(t->inner_cbc), "%s",
			 nla_get_string(tb[HSMKEY_INFO_A_INNER_CBC]));
	if (tb[HSMKEY_INFO_A_INNER_GCM])
		snprintf(t->inner_gcm, sizeof(t->inner_gcm), "%s",
			 nla_get_string(tb[HSMKEY_INFO_A_INNER_GCM]));
	if (tb[HSMKEY_INFO_A_NKEYS])
		t->nkeys_info = nla_get_u32(tb[HSMKEY_INFO_A_NKEYS]);
	if (tb[HSMKEY_INFO_A_HOLDER])
		t->holder = nla_get_u32(tb[HSMKEY_INFO_A_HOLDER]);
	NLT_U64(HSMKEY_INFO_A_BINDS, stat_binds);
	NLT_U64(HSMKEY_INFO_A_DENIES, stat_denies);
	NLT_U64(HSMKEY_INFO_A_DENIES_UNKNOWN, stat_denies_unknown);
	NLT_U64(HSMKEY_INFO_A_REVOKES, stat_revokes);
	NLT_U64(HSMKEY_INFO_A_EXPIRIES, stat_expiries);
	NLT_U64(HSMKEY_INFO_A_LIMITS, stat_limits);
	NLT_U64(HSMKEY_INFO_A_EVENTS, stat_events);
	NLT_U64(HSMKEY_INFO_A_SUPPRESSED, stat_suppressed);
	if (tb[HSMKEY_INFO_A_E2E])
		t->e2e = nla_get_u32(tb[HSMKEY_INFO_A_E2E]);
	if (tb[HSMKEY_INFO_A_KTLS])
		t->ktls = nla_get_u32(tb[HSMKEY_INFO_A_KTLS]);
	if (tb[HSMKEY_INFO_A_SESSIONS])
		t->sessions = nla_get_u32(tb[HSMKEY_INFO_A_SESSIONS]);
	if (tb[HSMKEY_INFO_A_SESSIONS_BOUND])
		t->sessions_bound = nla_get_u32(tb[HSMKEY_INFO_A_SESSIONS_BOUND]);
}

#undef NLT_U64

/* An AUDIT_GET or AUDIT_SET reply (enum hsmkey_audit_attr). */
static inline void nlt_parse_audit(struct nlt *t, struct nlattr **tb)
{
	if (tb[HSMKEY_AUDIT_A_SEQ])
		t->audit_seq = nla_get_u64(tb[HSMKEY_AUDIT_A_SEQ]);
	if (tb[HSMKEY_AUDIT_A_HEAD] && nla_len(tb[HSMKEY_AUDIT_A_HEAD]) == HSMKEY_AUDIT_HEAD_LEN)
		memcpy(t->audit_head, nla_data(tb[HSMKEY_AUDIT_A_HEAD]), HSMKEY_AUDIT_HEAD_LEN);
	t->has_owner = tb[HSMKEY_AUDIT_A_OWNER] != NULL;
	if (t->has_owner && nla_len(tb[HSMKEY_AUDIT_A_OWNER]) == HSMKEY_OWNER_LEN)
		memcpy(t->owner, nla_data(tb[HSMKEY_AUDIT_A_OWNER]), HSMKEY_OWNER_LEN);
}

#define NLT_MAX2(a, b) ((a) > (b) ? (a) : (b))
#define NLT_REPLY_A_MAX \
	NLT_MAX2(NLT_MAX2(NLT_MAX2(HSMKEY_KEY_A_MAX, HSMKEY_INFO_A_MAX), HSMKEY_AUDIT_A_MAX), \
		 HSMKEY_SESSION_A_MAX)

/* A session token attribute @a (or none) into @token (32 bytes): its length. */
static inline unsigned int nlt_session_token(const struct nlattr *a, uint8_t *token)
{
	if (!a || nla_len(a) > 32)
		return 0;
	memcpy(token, nla_data(a), (size_t)nla_len(a));
	return (unsigned int)nla_len(a);
}

static inline void nlt_u32(struct nlattr *a, uint32_t *out)
{
	if (a)
		*out = nla_get_u32(a);
}

static inline void nlt_parse_session(struct nlt *t, struct nlattr **tb)
{
	t->session_len = nlt_session_token(tb[HSMKEY_SESSION_A_TOKEN], t->session_token);
	t->session_len2 = nlt_session_token(tb[HSMKEY_SESSION_A_TOKEN_2], t->session_token2);
	nlt_u32(tb[HSMKEY_SESSION_A_HANDLE], &t->session_handle);
	nlt_u32(tb[HSMKEY_SESSION_A_HANDLE_2], &t->session_handle2);
	nlt_u32(tb[HSMKEY_SESSION_A_STATE], &t->session_state);
	nlt_u32(tb[HSMKEY_SESSION_A_STATE_2], &t->session_state2);
	if (tb[HSMKEY_SESSION_A_RECORDS])
		t->session_records = nla_get_u64(tb[HSMKEY_SESSION_A_RECORDS]);
}

/* Each reply is read with the attribute set of the command it answers. */
static int nlt_on_valid(struct nl_msg *msg, void *arg)
{
	struct nlt_call *c = arg;
	struct nlattr *tb[NLT_REPLY_A_MAX + 1];
	bool info = c->cmd == HSMKEY_CMD_INFO;
	bool audit = c->cmd == HSMKEY_CMD_AUDIT_GET || c->cmd == HSMKEY_CMD_AUDIT_SET;
	bool session = c->cmd == HSMKEY_CMD_SESSION_ADD || c->cmd == HSMKEY_CMD_SESSION_GET ||
		       c->cmd == HSMKEY_CMD_SESSION_REVOKE;
	int max = info ? HSMKEY_INFO_A_MAX : audit ? HSMKEY_AUDIT_A_MAX :
		  session ? HSMKEY_SESSION_A_MAX : HSMKEY_KEY_A_MAX;

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, max, NULL) < 0)
		return NL_SKIP;
	if (session)
		nlt_parse_session(c->t, tb);
	else if (info)
		nlt_parse_info(c->t, tb);
	else if (audit)
		nlt_parse_audit(c->t, tb);
	else
		nlt_parse_key(c->t, tb);
	return NL_OK;
}

/* Send @msg (freed) and collect the replies: 0 or the kernel's -errno. */
static inline int nlt_call(struct nlt *t, struct nl_msg *msg)
{
	struct nlt_call c = { .t = t, .cmd = genlmsg_hdr(nlmsg_hdr(msg))->cmd };
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

/*
 * Wrap @verifier (HSMKEY_VERIFIER_LEN bytes; NULL: none) followed by @len
 * bytes of @material for key @k under @tkey (OpenSSL, the independent
 * side): nonce, ciphertext, tag.  Returns the wrapped length.  A right
 * one is nlt_wrap(tkey, k, k->verifier, k->material, k->keylen, out).
 */
static inline int nlt_wrap(const uint8_t *tkey, const struct nlt_key *k,
			   const uint8_t *verifier, const uint8_t *material,
			   unsigned int len, uint8_t *out)
{
	uint8_t plain[HSMKEY_VERIFIER_LEN + 2 * HSMKEY_MATERIAL_MAX];
	unsigned int vlen = verifier ? HSMKEY_VERIFIER_LEN : 0;
	struct hsmkey_wrap_aad aad;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n, ok;

	if (len > 2 * HSMKEY_MATERIAL_MAX)
		abort();
	memcpy(aad.key_id, k->id, HSMKEY_ID_LEN);
	aad.key_version = htonl(k->version);
	aad.key_type = htonl(k->type);
	if (verifier)
		memcpy(plain, verifier, vlen);
	memcpy(plain + vlen, material, len);
	rand_fill_early(out, HSMKEY_WRAP_NONCE_LEN);
	ok = EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, tkey, out) &&
	     EVP_EncryptUpdate(c, NULL, &n, (uint8_t *)&aad, sizeof(aad)) &&
	     EVP_EncryptUpdate(c, out + HSMKEY_WRAP_NONCE_LEN, &n, plain, (int)(vlen + len)) &&
	     EVP_EncryptFinal_ex(c, out + HSMKEY_WRAP_NONCE_LEN + n, &n) &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, HSMKEY_WRAP_TAG_LEN,
				 out + HSMKEY_WRAP_NONCE_LEN + vlen + len);
	EVP_CIPHER_CTX_free(c);
	explicit_bzero(plain, sizeof(plain));
	if (!ok)
		abort();
	return (int)(vlen + len + HSMKEY_WRAP_OVERHEAD);
}

/* Room for any nlt_wrap() output. */
#define NLT_WRAP_MAX HSMKEY_WRAP_LEN(2 * HSMKEY_MATERIAL_MAX)

static inline void nlt_put_ids(struct nl_msg *msg, int attr, const uint32_t *ids,
			       uint32_t n, bool empty)
{
	if (n || empty)
		nla_put(msg, attr, (int)(n * 4), ids);
}

static inline void nlt_put_policy(struct nl_msg *msg, const struct nlt_policy *p)
{
	struct nlattr *nest = nla_nest_start(msg, HSMKEY_KEY_A_POLICY);

	nlt_put_ids(msg, HSMKEY_POLICY_A_UIDS, p->uids, p->nuids, p->empty_uids);
	nlt_put_ids(msg, HSMKEY_POLICY_A_GIDS, p->gids, p->ngids, p->empty_gids);
	if (p->algs)
		nla_put_u32(msg, HSMKEY_POLICY_A_ALGS, p->algs);
	if (p->max_bindings)
		nla_put_u32(msg, HSMKEY_POLICY_A_MAX_BINDINGS, p->max_bindings);
	if (p->min_taglen)
		nla_put_u32(msg, HSMKEY_POLICY_A_MIN_TAGLEN, p->min_taglen);
	if (p->not_before)
		nla_put_u64(msg, HSMKEY_POLICY_A_NOT_BEFORE, p->not_before);
	if (p->not_after)
		nla_put_u64(msg, HSMKEY_POLICY_A_NOT_AFTER, p->not_after);
	if (p->max_bytes)
		nla_put_u64(msg, HSMKEY_POLICY_A_MAX_BYTES, p->max_bytes);
	if (p->max_requests)
		nla_put_u64(msg, HSMKEY_POLICY_A_MAX_REQUESTS, p->max_requests);
	nla_nest_end(msg, nest);
}

/* Usage spent by earlier lives of a key version: what is non-zero is sent. */
static inline void nlt_put_used(struct nl_msg *msg, uint64_t bytes, uint64_t requests)
{
	if (bytes)
		nla_put_u64(msg, HSMKEY_KEY_A_USED_BYTES, bytes);
	if (requests)
		nla_put_u64(msg, HSMKEY_KEY_A_USED_REQUESTS, requests);
}

/* One key's attributes, verifier and material wrapped under t->tkey. */
static inline void nlt_put_key(struct nlt *t, struct nl_msg *msg, const struct nlt_key *k)
{
	uint8_t wrapped[NLT_WRAP_MAX];
	int wlen = nlt_wrap(t->tkey, k, k->verifier, k->material, k->keylen, wrapped);

	nla_put(msg, HSMKEY_KEY_A_ID, HSMKEY_ID_LEN, k->id);
	nla_put_u32(msg, HSMKEY_KEY_A_VERSION, k->version);
	nla_put_string(msg, HSMKEY_KEY_A_NAME, k->name);
	nla_put_u32(msg, HSMKEY_KEY_A_TYPE, k->type);
	nla_put(msg, HSMKEY_KEY_A_WRAPPED, wlen, wrapped);
	if (k->policy)
		nlt_put_policy(msg, k->policy);
	nlt_put_used(msg, k->used_bytes, k->used_requests);
	if (k->owner)
		nla_put(msg, HSMKEY_KEY_A_OWNER, HSMKEY_OWNER_LEN, k->owner);
}

static inline struct nl_msg *nlt_add_msg(struct nlt *t, const struct nlt_key *k)
{
	struct nl_msg *msg = nlt_msg(t, HSMKEY_CMD_KEY_ADD, 0);

	nlt_put_key(t, msg, k);
	return msg;
}

/* Add @n keys in one batch message. */
static inline int nlt_add_batch(struct nlt *t, const struct nlt_key *k, unsigned int n)
{
	struct nl_msg *msg = nlmsg_alloc_size(n * 512 + 4096);
	struct nlattr *batch;
	unsigned int i;

	genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, t->family, 0, NLM_F_ACK,
		    HSMKEY_CMD_KEY_ADD, HSMKEY_GENL_VERSION);
	batch = nla_nest_start(msg, HSMKEY_KEY_A_BATCH);
	for (i = 0; i < n; i++) {
		struct nlattr *e = nla_nest_start(msg, (int)(i + 1));

		nlt_put_key(t, msg, &k[i]);
		nla_nest_end(msg, e);
	}
	nla_nest_end(msg, batch);
	return nlt_call(t, msg);
}

static inline int nlt_set_policy(struct nlt *t, const struct nlt_key *k,
				 const struct nlt_policy *p)
{
	struct nl_msg *msg = nlt_msg(t, HSMKEY_CMD_KEY_SET_POLICY, 0);

	nla_put(msg, HSMKEY_KEY_A_ID, HSMKEY_ID_LEN, k->id);
	nla_put_u32(msg, HSMKEY_KEY_A_VERSION, k->version);
	nlt_put_policy(msg, p);
	return nlt_call(t, msg);
}

static inline int nlt_add(struct nlt *t, const struct nlt_key *k)
{
	return nlt_call(t, nlt_add_msg(t, k));
}

static inline struct nl_msg *nlt_kid_msg(struct nlt *t, int cmd, const struct nlt_key *k)
{
	struct nl_msg *msg = nlt_msg(t, cmd, 0);

	nla_put(msg, HSMKEY_KEY_A_ID, HSMKEY_ID_LEN, k->id);
	nla_put_u32(msg, HSMKEY_KEY_A_VERSION, k->version);
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

static inline int nlt_disable(struct nlt *t, const struct nlt_key *k)
{
	return nlt_call(t, nlt_kid_msg(t, HSMKEY_CMD_KEY_DISABLE, k));
}

static inline int nlt_enable(struct nlt *t, const struct nlt_key *k)
{
	return nlt_call(t, nlt_kid_msg(t, HSMKEY_CMD_KEY_ENABLE, k));
}

static inline int nlt_info(struct nlt *t)
{
	return nlt_call(t, nlt_msg(t, HSMKEY_CMD_INFO, 0));
}

/* Read @owner's audit anchor (NULL: none sent) into t->audit_seq and _head. */
static inline int nlt_audit_get(struct nlt *t, const uint8_t *owner)
{
	struct nl_msg *msg = nlt_msg(t, HSMKEY_CMD_AUDIT_GET, 0);

	if (owner)
		nla_put(msg, HSMKEY_AUDIT_A_OWNER, HSMKEY_OWNER_LEN, owner);
	return nlt_call(t, msg);
}

/* Set @owner's audit anchor (NULL: none sent) to @seq and @head (NULL: none sent). */
static inline int nlt_audit_set(struct nlt *t, const uint8_t *owner, uint64_t seq,
				const uint8_t *head)
{
	struct nl_msg *msg = nlt_msg(t, HSMKEY_CMD_AUDIT_SET, 0);

	if (owner)
		nla_put(msg, HSMKEY_AUDIT_A_OWNER, HSMKEY_OWNER_LEN, owner);
	nla_put_u64(msg, HSMKEY_AUDIT_A_SEQ, seq);
	if (head)
		nla_put(msg, HSMKEY_AUDIT_A_HEAD, HSMKEY_AUDIT_HEAD_LEN, head);
	return nlt_call(t, msg);
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
