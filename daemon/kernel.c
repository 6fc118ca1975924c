// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <fcntl.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <openssl/evp.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include "kernel.h"
#include "util.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

struct kernel {
	struct nl_sock *sk;
	int family;
	char errmsg[256];
};

struct kernel_call {
	struct kernel *k;
	int err;
	bool done;
	int (*parse)(struct nlattr **tb, void *arg);
	void *arg;
};

static const struct nla_policy reply_policy[HSMKEY_A_MAX + 1] = {
	[HSMKEY_A_KEY_VERSION] = { .type = NLA_U32 },
	[HSMKEY_A_KEY_NAME] = { .type = NLA_NUL_STRING },
	[HSMKEY_A_KEY_TYPE] = { .type = NLA_U32 },
	[HSMKEY_A_KEY_STATE] = { .type = NLA_U32 },
	[HSMKEY_A_KEY_BINDINGS] = { .type = NLA_U32 },
	[HSMKEY_A_INFO_VERSION] = { .type = NLA_NUL_STRING },
	[HSMKEY_A_INFO_NKEYS] = { .type = NLA_U32 },
	[HSMKEY_A_INFO_INNER_XTS] = { .type = NLA_NUL_STRING },
	[HSMKEY_A_KEY_OWNER] = { .minlen = HSMKEY_OWNER_LEN, .maxlen = HSMKEY_OWNER_LEN },
	[HSMKEY_A_KEY_BYTES] = { .type = NLA_U64 },
	[HSMKEY_A_KEY_REQUESTS] = { .type = NLA_U64 },
	[HSMKEY_A_AUDIT_SEQ] = { .type = NLA_U64 },
	[HSMKEY_A_AUDIT_HEAD] = { .minlen = HSMKEY_AUDIT_HEAD_LEN, .maxlen = HSMKEY_AUDIT_HEAD_LEN },
	[HSMKEY_A_EVENT_TYPE] = { .type = NLA_U32 },
	[HSMKEY_A_EVENT_SEQ] = { .type = NLA_U64 },
	[HSMKEY_A_EVENT_UID] = { .type = NLA_U32 },
	[HSMKEY_A_EVENT_PID] = { .type = NLA_U32 },
	[HSMKEY_A_EVENT_COMM] = { .type = NLA_NUL_STRING },
	[HSMKEY_A_EVENT_ERRNO] = { .type = NLA_U32 },
};

/*
 * /dev/hsmkey, held for the daemon's life once it first provisions a key:
 * it makes this process the only one that may change key state, and its
 * transport key wraps material on its way to the kernel.  The key lives on
 * a locked page excluded from core dumps.
 */
static struct {
	int fd;
	struct hsmkey_transport_key *tkey;
} dev = { .fd = -1 };

static int device_hold(struct kernel *k)
{
	int fd, e;

	if (dev.fd >= 0)
		return 0;
	if (!dev.tkey) {
		void *p = mmap(NULL, sizeof(*dev.tkey), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return -ENOMEM;
		if (mlock(p, sizeof(*dev.tkey)) < 0)
			log_warn("cannot lock the transport key in memory: %s", strerror(errno));
		madvise(p, sizeof(*dev.tkey), MADV_DONTDUMP);
		dev.tkey = p;
	}
	fd = open("/dev/" HSMKEY_DEVICE_NAME, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		if (e == EBUSY)
			snprintf(k->errmsg, sizeof(k->errmsg),
				 "another process holds /dev/hsmkey (is another hsmkeyd running?)");
		else if (e == EPERM || e == EACCES)
			snprintf(k->errmsg, sizeof(k->errmsg),
				 "cannot open /dev/hsmkey: changing hsmkey keys needs CAP_SYS_ADMIN");
		else
			snprintf(k->errmsg, sizeof(k->errmsg), "cannot open /dev/hsmkey: %s",
				 strerror(e));
		return -e;
	}
	if (ioctl(fd, HSMKEY_IOC_TRANSPORT_KEY, dev.tkey) < 0) {
		e = errno;
		close(fd);
		snprintf(k->errmsg, sizeof(k->errmsg), "cannot get the transport key: %s",
			 strerror(e));
		return -e;
	}
	dev.fd = fd;
	log_info("holding /dev/hsmkey");
	return 0;
}

void kernel_device_release(void)
{
	if (dev.fd >= 0)
		close(dev.fd);
	dev.fd = -1;
	if (dev.tkey)
		wipe(dev.tkey, sizeof(*dev.tkey));
}

/* Wrap @key's material under the transport key: nonce, ciphertext, tag. */
static int wrap_material(const struct ks_key *key, uint8_t *out, int *outlen)
{
	unsigned int len = key_type_len(key->type);
	struct hsmkey_wrap_aad aad;
	EVP_CIPHER_CTX *c;
	int n, ok;

	memcpy(aad.key_id, key->id, HSMKEY_ID_LEN);
	aad.key_version = htonl(key->version);
	aad.key_type = htonl((uint32_t)key->type);
	if (getrandom(out, HSMKEY_WRAP_NONCE_LEN, 0) != HSMKEY_WRAP_NONCE_LEN)
		return -EIO;
	c = EVP_CIPHER_CTX_new();
	if (!c)
		return -ENOMEM;
	ok = EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, dev.tkey->key, out) &&
	     EVP_EncryptUpdate(c, NULL, &n, (uint8_t *)&aad, sizeof(aad)) &&
	     EVP_EncryptUpdate(c, out + HSMKEY_WRAP_NONCE_LEN, &n, key->material, (int)len) &&
	     EVP_EncryptFinal_ex(c, out + HSMKEY_WRAP_NONCE_LEN + n, &n) &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, HSMKEY_WRAP_TAG_LEN,
				 out + HSMKEY_WRAP_NONCE_LEN + len);
	EVP_CIPHER_CTX_free(c);	/* wipes its key schedule */
	*outlen = (int)(len + HSMKEY_WRAP_OVERHEAD);
	return ok ? 0 : -EIO;
}

int kernel_open(struct kernel **out)
{
	struct kernel *k = calloc(1, sizeof(*k));
	int one = 1, r;

	if (!k)
		return -ENOMEM;
	k->sk = nl_socket_alloc();
	if (!k->sk) {
		free(k);
		return -ENOMEM;
	}
	r = genl_connect(k->sk);
	if (r) {
		r = -ECONNREFUSED;
		goto err;
	}
	/* Errors carry the kernel's message, and never echo the request. */
	setsockopt(nl_socket_get_fd(k->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(k->sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	k->family = genl_ctrl_resolve(k->sk, HSMKEY_GENL_NAME);
	if (k->family < 0) {
		r = -ENOENT;
		goto err;
	}
	*out = k;
	return 0;
err:
	nl_socket_free(k->sk);
	free(k);
	return r;
}

void kernel_close(struct kernel *k)
{
	if (!k)
		return;
	nl_socket_free(k->sk);
	free(k);
}

const char *kernel_errmsg(struct kernel *k)
{
	return k->errmsg;
}

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct kernel_call *c = arg;
	struct nlmsghdr *nlh = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	size_t off = sizeof(*e);

	(void)nla;
	c->err = e->error;
	c->done = true;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) &&
	    nlh->nlmsg_len > NLMSG_HDRLEN + off &&
	    !nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)e + off),
		       (int)(nlh->nlmsg_len - NLMSG_HDRLEN - off), NULL) &&
	    tb[NLMSGERR_ATTR_MSG])
		snprintf(c->k->errmsg, sizeof(c->k->errmsg), "%s",
			 (char *)nla_data(tb[NLMSGERR_ATTR_MSG]));
	return NL_STOP;
}

static int on_done(struct nl_msg *msg, void *arg)
{
	struct kernel_call *c = arg;

	(void)msg;
	c->done = true;
	return NL_STOP;
}

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct kernel_call *c = arg;
	struct nlattr *tb[HSMKEY_A_MAX + 1];

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, HSMKEY_A_MAX,
			  (struct nla_policy *)reply_policy) < 0) {
		c->err = -EPROTO;
		return NL_SKIP;
	}
	if (c->parse && !c->err)
		c->err = c->parse(tb, c->arg);
	return NL_OK;
}

/* Send @msg (freed, after wiping: it may hold material) and collect replies. */
static int kernel_call(struct kernel *k, struct nl_msg *msg,
		       int (*parse)(struct nlattr **tb, void *arg), void *arg)
{
	struct kernel_call c = { .k = k, .parse = parse, .arg = arg };
	struct nl_cb *cb;
	int r;

	k->errmsg[0] = '\0';
	r = nl_send_auto(k->sk, msg);
	wipe(nlmsg_hdr(msg), nlmsg_hdr(msg)->nlmsg_len);
	nlmsg_free(msg);
	if (r < 0)
		return -EIO;
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb)
		return -ENOMEM;
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, &c);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_done, &c);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_done, &c);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, &c);
	while (!c.done) {
		r = nl_recvmsgs(k->sk, cb);
		if (r < 0 && !c.done) {
			c.err = c.err ? c.err : -EIO;
			break;
		}
	}
	nl_cb_put(cb);
	return c.err;
}

static struct nl_msg *kernel_msg(struct kernel *k, int cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, k->family, 0,
				flags | NLM_F_ACK, (uint8_t)cmd, HSMKEY_GENL_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

static struct nl_msg *kernel_msg_kid(struct kernel *k, int cmd,
				     const uint8_t *id, uint32_t version)
{
	struct nl_msg *msg = kernel_msg(k, cmd, 0);

	if (msg && (nla_put(msg, HSMKEY_A_KEY_ID, HSMKEY_ID_LEN, id) ||
		    nla_put_u32(msg, HSMKEY_A_KEY_VERSION, version))) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

static int put_policy(struct nl_msg *msg, const struct ks_policy *p)
{
	struct nlattr *nest = nla_nest_start(msg, HSMKEY_A_KEY_POLICY);

	if (!nest ||
	    (p->nuids && nla_put(msg, HSMKEY_P_UIDS, (int)(p->nuids * 4), p->uids)) ||
	    (p->ngids && nla_put(msg, HSMKEY_P_GIDS, (int)(p->ngids * 4), p->gids)) ||
	    /* Always one attribute: libnl drops an empty nest. */
	    nla_put_u32(msg, HSMKEY_P_ALGS, p->algs) ||
	    (p->max_bindings && nla_put_u32(msg, HSMKEY_P_MAX_BINDINGS, p->max_bindings)) ||
	    (p->not_before && nla_put_u64(msg, HSMKEY_P_NOT_BEFORE, (uint64_t)p->not_before)) ||
	    (p->not_after && nla_put_u64(msg, HSMKEY_P_NOT_AFTER, (uint64_t)p->not_after)) ||
	    (p->max_bytes && nla_put_u64(msg, HSMKEY_P_MAX_BYTES, p->max_bytes)) ||
	    (p->max_requests && nla_put_u64(msg, HSMKEY_P_MAX_REQUESTS, p->max_requests)))
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

int kernel_set_policy(struct kernel *k, const struct ks_key *key)
{
	static const struct ks_policy none;
	struct nl_msg *msg = kernel_msg(k, HSMKEY_CMD_KEY_SET_POLICY, 0);

	if (!msg)
		return -ENOMEM;
	if (nla_put(msg, HSMKEY_A_KEY_ID, HSMKEY_ID_LEN, key->id) ||
	    nla_put_u32(msg, HSMKEY_A_KEY_VERSION, key->version) ||
	    put_policy(msg, key->has_policy ? &key->policy : &none)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	return kernel_call(k, msg, NULL, NULL);
}

int kernel_set_state(struct kernel *k, const uint8_t *id, uint32_t version, bool enable)
{
	struct nl_msg *msg = kernel_msg_kid(k, enable ? HSMKEY_CMD_KEY_ENABLE :
					    HSMKEY_CMD_KEY_DISABLE, id, version);

	return msg ? kernel_call(k, msg, NULL, NULL) : -ENOMEM;
}

int kernel_add(struct kernel *k, const struct ks_key *key, const uint8_t *owner)
{
	uint8_t wrapped[HSMKEY_MATERIAL_MAX + HSMKEY_WRAP_OVERHEAD];
	struct nl_msg *msg;
	int r, wlen;

	r = device_hold(k);
	if (r)
		return r;
	r = wrap_material(key, wrapped, &wlen);
	if (r)
		return r;
	msg = kernel_msg(k, HSMKEY_CMD_KEY_ADD, 0);
	if (!msg)
		return -ENOMEM;
	if (nla_put(msg, HSMKEY_A_KEY_ID, HSMKEY_ID_LEN, key->id) ||
	    nla_put_u32(msg, HSMKEY_A_KEY_VERSION, key->version) ||
	    nla_put_string(msg, HSMKEY_A_KEY_NAME, key->name) ||
	    nla_put_u32(msg, HSMKEY_A_KEY_TYPE, (uint32_t)key->type) ||
	    nla_put(msg, HSMKEY_A_KEY_VERIFIER, HSMKEY_VERIFIER_LEN, key->verifier) ||
	    nla_put(msg, HSMKEY_A_KEY_WRAPPED, wlen, wrapped) ||
	    (owner && nla_put(msg, HSMKEY_A_KEY_OWNER, HSMKEY_OWNER_LEN, owner)) ||
	    (key->has_policy && put_policy(msg, &key->policy))) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	return kernel_call(k, msg, NULL, NULL);
}

int kernel_revoke(struct kernel *k, const uint8_t *id, uint32_t version)
{
	struct nl_msg *msg = kernel_msg_kid(k, HSMKEY_CMD_KEY_REVOKE, id, version);

	return msg ? kernel_call(k, msg, NULL, NULL) : -ENOMEM;
}

int kernel_remove(struct kernel *k, const uint8_t *id, uint32_t version)
{
	struct nl_msg *msg = kernel_msg_kid(k, HSMKEY_CMD_KEY_REMOVE, id, version);

	return msg ? kernel_call(k, msg, NULL, NULL) : -ENOMEM;
}

static void parse_key(struct nlattr **tb, struct kernel_key *out)
{
	memset(out, 0, sizeof(*out));
	if (tb[HSMKEY_A_KEY_ID] && nla_len(tb[HSMKEY_A_KEY_ID]) == HSMKEY_ID_LEN)
		memcpy(out->id, nla_data(tb[HSMKEY_A_KEY_ID]), HSMKEY_ID_LEN);
	if (tb[HSMKEY_A_KEY_VERSION])
		out->version = nla_get_u32(tb[HSMKEY_A_KEY_VERSION]);
	if (tb[HSMKEY_A_KEY_NAME])
		snprintf(out->name, sizeof(out->name), "%s",
			 nla_get_string(tb[HSMKEY_A_KEY_NAME]));
	if (tb[HSMKEY_A_KEY_TYPE])
		out->type = (int)nla_get_u32(tb[HSMKEY_A_KEY_TYPE]);
	if (tb[HSMKEY_A_KEY_STATE])
		out->state = (int)nla_get_u32(tb[HSMKEY_A_KEY_STATE]);
	if (tb[HSMKEY_A_KEY_BINDINGS])
		out->bindings = nla_get_u32(tb[HSMKEY_A_KEY_BINDINGS]);
	if (tb[HSMKEY_A_KEY_OWNER]) {
		memcpy(out->owner, nla_data(tb[HSMKEY_A_KEY_OWNER]), HSMKEY_OWNER_LEN);
		out->has_owner = true;
	}
	if (tb[HSMKEY_A_KEY_BYTES])
		out->bytes = nla_get_u64(tb[HSMKEY_A_KEY_BYTES]);
	if (tb[HSMKEY_A_KEY_REQUESTS])
		out->requests = nla_get_u64(tb[HSMKEY_A_KEY_REQUESTS]);
}

static int parse_one(struct nlattr **tb, void *arg)
{
	parse_key(tb, arg);
	return 0;
}

int kernel_get(struct kernel *k, const uint8_t *id, uint32_t version,
	       struct kernel_key *out)
{
	struct nl_msg *msg = kernel_msg_kid(k, HSMKEY_CMD_KEY_GET, id, version);

	return msg ? kernel_call(k, msg, parse_one, out) : -ENOMEM;
}

struct list_ctx {
	int (*fn)(const struct kernel_key *key, void *arg);
	void *arg;
};

static int parse_each(struct nlattr **tb, void *arg)
{
	struct list_ctx *l = arg;
	struct kernel_key key;

	parse_key(tb, &key);
	return l->fn(&key, l->arg);
}

int kernel_list(struct kernel *k,
		int (*fn)(const struct kernel_key *key, void *arg), void *arg)
{
	struct nl_msg *msg = kernel_msg(k, HSMKEY_CMD_KEY_GET, NLM_F_DUMP);
	struct list_ctx l = { fn, arg };

	return msg ? kernel_call(k, msg, parse_each, &l) : -ENOMEM;
}

static int parse_info(struct nlattr **tb, void *arg)
{
	struct kernel_info *out = arg;

	if (tb[HSMKEY_A_INFO_VERSION])
		snprintf(out->version, sizeof(out->version), "%s",
			 nla_get_string(tb[HSMKEY_A_INFO_VERSION]));
	if (tb[HSMKEY_A_INFO_NKEYS])
		out->nkeys = nla_get_u32(tb[HSMKEY_A_INFO_NKEYS]);
	if (tb[HSMKEY_A_INFO_INNER_XTS])
		snprintf(out->inner_xts, sizeof(out->inner_xts), "%s",
			 nla_get_string(tb[HSMKEY_A_INFO_INNER_XTS]));
	return 0;
}

int kernel_info(struct kernel *k, struct kernel_info *out)
{
	struct nl_msg *msg = kernel_msg(k, HSMKEY_CMD_INFO, 0);

	memset(out, 0, sizeof(*out));
	return msg ? kernel_call(k, msg, parse_info, out) : -ENOMEM;
}

struct anchor_out {
	uint64_t *seq;
	uint8_t *head;
};

static int parse_anchor(struct nlattr **tb, void *arg)
{
	struct anchor_out *o = arg;

	if (!tb[HSMKEY_A_AUDIT_SEQ] || !tb[HSMKEY_A_AUDIT_HEAD])
		return -EPROTO;
	*o->seq = nla_get_u64(tb[HSMKEY_A_AUDIT_SEQ]);
	memcpy(o->head, nla_data(tb[HSMKEY_A_AUDIT_HEAD]), HSMKEY_AUDIT_HEAD_LEN);
	return 0;
}

int kernel_audit_anchor(struct kernel *k, const uint8_t *owner, uint64_t set_seq,
			const uint8_t *set_head, uint64_t *seq, uint8_t *head)
{
	struct nl_msg *msg = kernel_msg(k, HSMKEY_CMD_AUDIT_ANCHOR, 0);
	uint64_t s;
	uint8_t h[HSMKEY_AUDIT_HEAD_LEN];
	struct anchor_out o = { .seq = seq ?: &s, .head = head ?: h };

	if (!msg)
		return -ENOMEM;
	if (nla_put(msg, HSMKEY_A_KEY_OWNER, HSMKEY_OWNER_LEN, owner)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	if (set_seq && (nla_put_u64(msg, HSMKEY_A_AUDIT_SEQ, set_seq) ||
			nla_put(msg, HSMKEY_A_AUDIT_HEAD, HSMKEY_AUDIT_HEAD_LEN, set_head))) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	return kernel_call(k, msg, parse_anchor, &o);
}

int kernel_events_open(struct kernel **out)
{
	struct kernel *k;
	int grp, r, size = 1 << 20;

	r = kernel_open(&k);
	if (r)
		return r;
	grp = genl_ctrl_resolve_grp(k->sk, HSMKEY_GENL_NAME, HSMKEY_GENL_MCGRP_EVENTS);
	if (grp < 0 || nl_socket_add_membership(k->sk, grp)) {
		kernel_close(k);
		return -EPERM;
	}
	nl_socket_disable_seq_check(k->sk);
	nl_socket_set_nonblocking(k->sk);
	/* Room for bursts; an overrun still shows as a gap in the sequence. */
	setsockopt(nl_socket_get_fd(k->sk), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	*out = k;
	return 0;
}

int kernel_events_fd(struct kernel *k)
{
	return nl_socket_get_fd(k->sk);
}

struct event_call {
	int (*fn)(const struct kernel_event *e, void *arg);
	void *arg;
};

static int on_event(struct nl_msg *msg, void *arg)
{
	struct event_call *c = arg;
	struct nlattr *tb[HSMKEY_A_MAX + 1];
	struct kernel_event e = { 0 };

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, HSMKEY_A_MAX,
			  (struct nla_policy *)reply_policy) < 0 ||
	    !tb[HSMKEY_A_EVENT_TYPE] || !tb[HSMKEY_A_EVENT_SEQ] || !tb[HSMKEY_A_KEY_ID] ||
	    nla_len(tb[HSMKEY_A_KEY_ID]) != HSMKEY_ID_LEN)
		return NL_SKIP;
	e.type = nla_get_u32(tb[HSMKEY_A_EVENT_TYPE]);
	e.seq = nla_get_u64(tb[HSMKEY_A_EVENT_SEQ]);
	memcpy(e.id, nla_data(tb[HSMKEY_A_KEY_ID]), HSMKEY_ID_LEN);
	if (tb[HSMKEY_A_KEY_VERSION])
		e.version = nla_get_u32(tb[HSMKEY_A_KEY_VERSION]);
	if (tb[HSMKEY_A_EVENT_UID])
		e.uid = nla_get_u32(tb[HSMKEY_A_EVENT_UID]);
	if (tb[HSMKEY_A_EVENT_PID])
		e.pid = nla_get_u32(tb[HSMKEY_A_EVENT_PID]);
	if (tb[HSMKEY_A_EVENT_ERRNO])
		e.err = nla_get_u32(tb[HSMKEY_A_EVENT_ERRNO]);
	if (tb[HSMKEY_A_EVENT_COMM])
		snprintf(e.comm, sizeof(e.comm), "%s", nla_get_string(tb[HSMKEY_A_EVENT_COMM]));
	c->fn(&e, c->arg);
	return NL_OK;
}

static int any_seq(struct nl_msg *msg, void *arg)
{
	(void)msg;
	(void)arg;
	return NL_OK;
}

int kernel_events_read(struct kernel *k, int (*fn)(const struct kernel_event *e, void *arg),
		       void *arg)
{
	struct event_call c = { .fn = fn, .arg = arg };
	struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
	int r;

	if (!cb)
		return -ENOMEM;
	/* Events are not replies: they carry no sequence number of ours. */
	nl_cb_set(cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, any_seq, NULL);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_event, &c);
	do
		r = nl_recvmsgs(k->sk, cb);
	while (r >= 0);
	nl_cb_put(cb);
	/* libnl reports the socket's ENOBUFS as NLE_NOMEM. */
	if (r == -NLE_NOMEM)
		return -ENOBUFS;
	return r == -NLE_AGAIN ? 0 : -EIO;
}
