// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's netlink client of hsmkey.ko (see kernel.h): one function per
 * command, the socket registered on /dev/hsmkey that changes go out on,
 * key material wrapped under the transport key.  The events group is
 * kernel_events.c.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <openssl/evp.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include "cleanup.h"
#include "kernel.h"
#include "kernel_internal.h"
#include "util.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

struct kernel_call {
	struct kernel *k;
	int err;
	bool done;
	int maxtype;			/* the reply's attribute set */
	const struct nla_policy *policy;
	int (*parse)(struct nlattr **tb, void *arg);
	void *arg;
};

/* What the replies carry that the daemon reads, one set per command. */
static const struct nla_policy key_policy[HSMKEY_KEY_A_MAX + 1] = {
	[HSMKEY_KEY_A_VERSION] = { .type = NLA_U32 },
	[HSMKEY_KEY_A_NAME] = { .type = NLA_NUL_STRING },
	[HSMKEY_KEY_A_TYPE] = { .type = NLA_U32 },
	[HSMKEY_KEY_A_STATE] = { .type = NLA_U32 },
	[HSMKEY_KEY_A_BINDINGS] = { .type = NLA_U32 },
	[HSMKEY_KEY_A_OWNER] = { .minlen = HSMKEY_OWNER_LEN, .maxlen = HSMKEY_OWNER_LEN },
	[HSMKEY_KEY_A_BYTES] = { .type = NLA_U64 },
	[HSMKEY_KEY_A_REQUESTS] = { .type = NLA_U64 },
	[HSMKEY_KEY_A_DELIVERY] = { .type = NLA_U32 },
};

static const struct nla_policy info_policy[HSMKEY_INFO_A_MAX + 1] = {
	[HSMKEY_INFO_A_VERSION] = { .type = NLA_NUL_STRING },
	[HSMKEY_INFO_A_NKEYS] = { .type = NLA_U32 },
	[HSMKEY_INFO_A_INNER_XTS] = { .type = NLA_NUL_STRING },
	[HSMKEY_INFO_A_SESSIONS] = { .type = NLA_U32 },
	[HSMKEY_INFO_A_SESSIONS_BOUND] = { .type = NLA_U32 },
};

static const struct nla_policy audit_policy[HSMKEY_AUDIT_A_MAX + 1] = {
	[HSMKEY_AUDIT_A_SEQ] = { .type = NLA_U64 },
	[HSMKEY_AUDIT_A_HEAD] = { .minlen = HSMKEY_AUDIT_HEAD_LEN,
				  .maxlen = HSMKEY_AUDIT_HEAD_LEN },
};

static const struct nla_policy session_policy[HSMKEY_SESSION_A_MAX + 1] = {
	[HSMKEY_SESSION_A_TOKEN] = { .minlen = 16, .maxlen = 32 },
	[HSMKEY_SESSION_A_HANDLE] = { .type = NLA_U32 },
	[HSMKEY_SESSION_A_STATE] = { .type = NLA_U32 },
	[HSMKEY_SESSION_A_RECORDS] = { .type = NLA_U64 },
	[HSMKEY_SESSION_A_TOKEN_2] = { .minlen = 16, .maxlen = 32 },
	[HSMKEY_SESSION_A_HANDLE_2] = { .type = NLA_U32 },
	[HSMKEY_SESSION_A_STATE_2] = { .type = NLA_U32 },
	[HSMKEY_SESSION_A_RECORDS_2] = { .type = NLA_U64 },
};

/* Room for any reply's attributes (events have their own). */
#define MAX2(a, b) ((a) > (b) ? (a) : (b))
#define REPLY_A_MAX MAX2(MAX2(MAX2(HSMKEY_KEY_A_MAX, HSMKEY_INFO_A_MAX), HSMKEY_AUDIT_A_MAX), \
			 HSMKEY_SESSION_A_MAX)

/* The attribute set of the replies to command @cmd. */
static void reply_attrs(struct kernel_call *c, int cmd)
{
	switch (cmd) {
	case HSMKEY_CMD_INFO:
		c->maxtype = HSMKEY_INFO_A_MAX;
		c->policy = info_policy;
		break;
	case HSMKEY_CMD_AUDIT_GET:
	case HSMKEY_CMD_AUDIT_SET:
		c->maxtype = HSMKEY_AUDIT_A_MAX;
		c->policy = audit_policy;
		break;
	case HSMKEY_CMD_SESSION_ADD:
	case HSMKEY_CMD_SESSION_GET:
	case HSMKEY_CMD_SESSION_REVOKE:
		c->maxtype = HSMKEY_SESSION_A_MAX;
		c->policy = session_policy;
		break;
	default:
		c->maxtype = HSMKEY_KEY_A_MAX;
		c->policy = key_policy;
		break;
	}
}

/*
 * /dev/hsmkey, held for the daemon's life from its first change to key
 * state, and the socket registered on it: the kernel accepts changes from
 * that socket only, so every change goes out on it, one at a time (@lock;
 * workers and the event loop both make changes).  The transport key the
 * registration returns wraps verifiers and material on their way to the
 * kernel; it lives on a locked page excluded from core dumps (@reg).
 */
static struct {
	pthread_mutex_t lock;
	int fd;
	struct kernel *k;
	struct hsmkey_register *reg;
} dev = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1 };

static int device_page(void)
{
	void *p;

	if (dev.reg)
		return 0;
	p = secret_pages(sizeof(*dev.reg), "the transport key");
	if (!p)
		return -ENOMEM;
	dev.reg = p;
	return 0;
}

static int device_open(struct kernel *k)
{
	int fd = open("/dev/" HSMKEY_DEVICE_NAME, O_RDWR | O_CLOEXEC), e;

	if (fd >= 0)
		return fd;
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

/* With @dev.lock held: close the device and its socket, wipe the key. */
static void device_release(void)
{
	if (dev.fd >= 0)
		close(dev.fd);
	dev.fd = -1;
	kernel_close(dev.k);
	dev.k = NULL;
	if (dev.reg)
		wipe(dev.reg, sizeof(*dev.reg));
}

/* With @dev.lock held: open the device and register a socket of our own. */
static int device_hold(struct kernel *k)
{
	int r;

	if (dev.fd >= 0)
		return 0;
	r = device_page();
	if (r)
		return r;
	r = device_open(k);
	if (r < 0)
		return r;
	dev.fd = r;
	r = kernel_open(&dev.k);
	if (r) {
		snprintf(k->errmsg, sizeof(k->errmsg),
			 "cannot open a netlink socket to register on /dev/hsmkey");
		device_release();
		return r;
	}
	dev.reg->nl_fd = nl_socket_get_fd(dev.k->sk);
	dev.reg->flags = 0;
	if (ioctl(dev.fd, HSMKEY_IOC_REGISTER, dev.reg) < 0) {
		r = -errno;
		snprintf(k->errmsg, sizeof(k->errmsg), "cannot register on /dev/hsmkey: %s%s",
			 strerror(-r), r == -ENOTTY ? " (is hsmkey.ko older than hsmkeyd?)" : "");
		device_release();
		return r;
	}
	log_info("holding /dev/hsmkey");
	return 0;
}

void kernel_device_release(void)
{
	pthread_mutex_lock(&dev.lock);
	device_release();
	pthread_mutex_unlock(&dev.lock);
}

/* Take @dev.lock with the device held; on failure, not locked. */
static int device_lock(struct kernel *k)
{
	int r;

	pthread_mutex_lock(&dev.lock);
	r = device_hold(k);
	if (r)
		pthread_mutex_unlock(&dev.lock);
	return r;
}


/*
 * Send @msg (built on @k) on the registered socket and release @dev.lock;
 * the kernel's message goes to @k.  A socket whose replies went astray is
 * given up: the next change registers a new one.
 */
static int device_call(struct kernel *k, struct nl_msg *msg,
		       int (*parse)(struct nlattr **tb, void *arg), void *arg)
{
	int r = kernel_call(dev.k, msg, parse, arg);

	if (k != dev.k)
		memcpy(k->errmsg, dev.k->errmsg, sizeof(k->errmsg));
	if (r == -EIO)
		device_release();
	pthread_mutex_unlock(&dev.lock);
	return r;
}

/* A change only the registered socket may make (add, enable, policy, audit). */
static int kernel_change(struct kernel *k, struct nl_msg *msg)
{
	int r;

	if (!msg)
		return -ENOMEM;
	r = device_lock(k);
	if (r) {
		nlmsg_free(msg);
		return r;
	}
	return device_call(k, msg, NULL, NULL);
}

/*
 * A change towards "off" (revoke, remove, disable): through the registered
 * socket too, but when the device cannot be held it is tried on @k, since
 * the kernel lets CAP_SYS_ADMIN take this direction while no daemon is
 * registered.  If it refuses, why the device could not be held says more.
 */
int kernel_failsafe(struct kernel *k, struct nl_msg *msg)
{
	char why[sizeof(k->errmsg)];
	int r;

	if (!msg)
		return -ENOMEM;
	if (!device_lock(k))
		return device_call(k, msg, NULL, NULL);
	memcpy(why, k->errmsg, sizeof(why));
	r = kernel_call(k, msg, NULL, NULL);
	if (r == -EBUSY || r == -EPERM)
		memcpy(k->errmsg, why, sizeof(k->errmsg));
	return r;
}

/*
 * With @dev.lock held: wrap @key's verifier and, with @material, its
 * material under the transport key: nonce, ciphertext, tag.  End-to-end
 * delivery sends the verifier alone.
 */
static int wrap_material(const struct ks_key *key, bool material, uint8_t *out, int *outlen)
{
	unsigned int len = HSMKEY_VERIFIER_LEN + (material ? key_type_len(key->type) : 0);
	uint8_t plain[HSMKEY_VERIFIER_LEN + HSMKEY_MATERIAL_MAX];
	struct hsmkey_wrap_aad aad;
	_cleanup_evp_ctx_ EVP_CIPHER_CTX *c = NULL;
	int n, ok;

	/* The daemon's own keys never go to the kernel (and may not fit). */
	if (ks_type_daemon(key->type) || len > sizeof(plain))
		return -EMEDIUMTYPE;
	memcpy(aad.key_id, key->id, HSMKEY_ID_LEN);
	aad.key_version = htonl(key->version);
	aad.key_type = htonl((uint32_t)key->type);
	if (getrandom(out, HSMKEY_WRAP_NONCE_LEN, 0) != HSMKEY_WRAP_NONCE_LEN)
		return -EIO;
	c = EVP_CIPHER_CTX_new();
	if (!c)
		return -ENOMEM;
	memcpy(plain, key->verifier, HSMKEY_VERIFIER_LEN);
	memcpy(plain + HSMKEY_VERIFIER_LEN, key->material, len - HSMKEY_VERIFIER_LEN);
	ok = EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, dev.reg->transport_key, out) &&
	     EVP_EncryptUpdate(c, NULL, &n, (uint8_t *)&aad, sizeof(aad)) &&
	     EVP_EncryptUpdate(c, out + HSMKEY_WRAP_NONCE_LEN, &n, plain, (int)len) &&
	     EVP_EncryptFinal_ex(c, out + HSMKEY_WRAP_NONCE_LEN + n, &n) &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, HSMKEY_WRAP_TAG_LEN,
				 out + HSMKEY_WRAP_NONCE_LEN + len);
	wipe(plain, sizeof(plain));
	*outlen = (int)(HSMKEY_WRAP_OVERHEAD + len);
	return ok ? 0 : -EIO;
}

/*
 * The one rule for "the module is absent": /sys/module/hsmkey does not
 * exist.  A family that cannot be resolved while it does (another network
 * namespace, a sandbox without netlink) is a failure to report.
 */
static bool module_present(void)
{
	return access("/sys/module/hsmkey", F_OK) == 0;
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
		r = module_present() ? -ECONNREFUSED : -ENOENT;
		goto err;
	}
	/* Errors carry the kernel's message, and never echo the request. */
	setsockopt(nl_socket_get_fd(k->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(k->sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	k->family = genl_ctrl_resolve(k->sk, HSMKEY_GENL_NAME);
	if (k->family < 0) {
		r = module_present() ? -ENXIO : -ENOENT;
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
	struct nlattr *tb[REPLY_A_MAX + 1];

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, c->maxtype,
			  (struct nla_policy *)c->policy) < 0) {
		c->err = -EPROTO;
		return NL_SKIP;
	}
	if (c->parse && !c->err)
		c->err = c->parse(tb, c->arg);
	return NL_OK;
}

/* Send @msg (freed, after wiping: it may hold material) and collect replies. */
int kernel_call(struct kernel *k, struct nl_msg *msg,
		       int (*parse)(struct nlattr **tb, void *arg), void *arg)
{
	struct kernel_call c = { .k = k, .parse = parse, .arg = arg };
	struct nl_cb *cb;
	int r;

	reply_attrs(&c, genlmsg_hdr(nlmsg_hdr(msg))->cmd);
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

static struct nl_msg *kernel_msg_sized(struct kernel *k, int cmd, int flags, size_t size)
{
	struct nl_msg *msg = size ? nlmsg_alloc_size(size) : nlmsg_alloc();

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, k->family, 0,
				flags | NLM_F_ACK, (uint8_t)cmd, HSMKEY_GENL_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

struct nl_msg *kernel_msg(struct kernel *k, int cmd, int flags)
{
	return kernel_msg_sized(k, cmd, flags, 0);
}

static struct nl_msg *kernel_msg_kid(struct kernel *k, int cmd,
				     const uint8_t *id, uint32_t version)
{
	struct nl_msg *msg = kernel_msg(k, cmd, 0);

	if (msg && (nla_put(msg, HSMKEY_KEY_A_ID, HSMKEY_ID_LEN, id) ||
		    nla_put_u32(msg, HSMKEY_KEY_A_VERSION, version))) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

/* Lists only when they name someone: an empty one is refused. */
static int put_policy(struct nl_msg *msg, const struct ks_policy *p)
{
	struct nlattr *nest = nla_nest_start(msg, HSMKEY_KEY_A_POLICY);

	if (!nest ||
	    (p->nuids && nla_put(msg, HSMKEY_POLICY_A_UIDS, (int)(p->nuids * 4), p->uids)) ||
	    (p->ngids && nla_put(msg, HSMKEY_POLICY_A_GIDS, (int)(p->ngids * 4), p->gids)) ||
	    /* Always one attribute: libnl drops an empty nest. */
	    nla_put_u32(msg, HSMKEY_POLICY_A_ALGS, p->algs) ||
	    (p->max_bindings &&
	     nla_put_u32(msg, HSMKEY_POLICY_A_MAX_BINDINGS, p->max_bindings)) ||
	    (p->not_before &&
	     nla_put_u64(msg, HSMKEY_POLICY_A_NOT_BEFORE, (uint64_t)p->not_before)) ||
	    (p->not_after &&
	     nla_put_u64(msg, HSMKEY_POLICY_A_NOT_AFTER, (uint64_t)p->not_after)) ||
	    (p->max_bytes && nla_put_u64(msg, HSMKEY_POLICY_A_MAX_BYTES, p->max_bytes)) ||
	    (p->max_requests &&
	     nla_put_u64(msg, HSMKEY_POLICY_A_MAX_REQUESTS, p->max_requests)))
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

int kernel_set_policy(struct kernel *k, const struct ks_key *key)
{
	static const struct ks_policy none;
	struct nl_msg *msg = kernel_msg_kid(k, HSMKEY_CMD_KEY_SET_POLICY, key->id,
					    key->version);

	if (msg && put_policy(msg, key->has_policy ? &key->policy : &none)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	return kernel_change(k, msg);
}

int kernel_set_state(struct kernel *k, const uint8_t *id, uint32_t version, bool enable)
{
	if (enable)
		return kernel_change(k, kernel_msg_kid(k, HSMKEY_CMD_KEY_ENABLE, id, version));
	return kernel_failsafe(k, kernel_msg_kid(k, HSMKEY_CMD_KEY_DISABLE, id, version));
}

/*
 * KEY_ADD's attributes for @key but its id and version, its secrets
 * wrapped (the material only with @material).
 */
static int put_key(struct nl_msg *msg, const struct ks_key *key, const uint8_t *owner,
		   bool material)
{
	uint8_t wrapped[HSMKEY_WRAP_LEN(HSMKEY_MATERIAL_MAX)];
	int r, wlen;

	r = wrap_material(key, material, wrapped, &wlen);
	if (r)
		return r;
	if (nla_put_string(msg, HSMKEY_KEY_A_NAME, key->name) ||
	    nla_put_u32(msg, HSMKEY_KEY_A_TYPE, (uint32_t)key->type) ||
	    nla_put(msg, HSMKEY_KEY_A_WRAPPED, wlen, wrapped) ||
	    (owner && nla_put(msg, HSMKEY_KEY_A_OWNER, HSMKEY_OWNER_LEN, owner)) ||
	    /* What earlier lives spent: GCM's invocation limit survives reloads. */
	    (key->used_bytes && nla_put_u64(msg, HSMKEY_KEY_A_USED_BYTES, key->used_bytes)) ||
	    (key->used_requests &&
	     nla_put_u64(msg, HSMKEY_KEY_A_USED_REQUESTS, key->used_requests)) ||
	    (key->has_policy && put_policy(msg, &key->policy)))
		return -EMSGSIZE;
	return 0;
}

/*
 * With @dev.lock held: KEY_ADD for @key, its secrets wrapped (the material
 * only with @material).
 */
static int add_msg(struct kernel *k, const struct ks_key *key, const uint8_t *owner,
		   bool material, struct nl_msg **out)
{
	struct nl_msg *msg = kernel_msg_kid(k, HSMKEY_CMD_KEY_ADD, key->id, key->version);
	int r = msg ? put_key(msg, key, owner, material) : -ENOMEM;

	if (r) {
		nlmsg_free(msg);
		return r;
	}
	*out = msg;
	return 0;
}

int kernel_add(struct kernel *k, const struct ks_key *key, const uint8_t *owner)
{
	struct nl_msg *msg;
	int r;

	r = device_lock(k);
	if (r)
		return r;
	r = add_msg(k, key, owner, true, &msg);
	if (r) {
		pthread_mutex_unlock(&dev.lock);
		return r;
	}
	return device_call(k, msg, NULL, NULL);
}

int kernel_ephemeral(struct kernel *k, uint32_t uses, uint64_t *handle, uint8_t *point)
{
	struct hsmkey_ephemeral e = { .uses = uses };
	int r;

	r = device_lock(k);
	if (r)
		return r;
	r = ioctl(dev.fd, HSMKEY_IOC_EPHEMERAL, &e) < 0 ? -errno : 0;
	pthread_mutex_unlock(&dev.lock);
	/* A module from before end-to-end delivery does not know the ioctl. */
	if (r == -ENOTTY)
		r = -ENOPKG;
	if (r == -ENOPKG)
		snprintf(k->errmsg, sizeof(k->errmsg),
			 "the kernel cannot take keys wrapped end to end (no ecdh-nist-p256 or "
			 "kw(aes), or hsmkey.ko is older than hsmkeyd)");
	else if (r)
		snprintf(k->errmsg, sizeof(k->errmsg), "cannot get an ephemeral key from "
			 "/dev/hsmkey: %s", strerror(-r));
	if (r)
		return r;
	*handle = e.handle;
	memcpy(point, e.point, HSMKEY_E2E_POINT_LEN);
	return 0;
}

/* The E2E nest: ephemeral key @handle, the HSM's @hpoint, the AES-KW blob. */
static int put_e2e(struct nl_msg *msg, uint64_t handle, const uint8_t *hpoint,
		   const uint8_t *wrapped, uint32_t wlen)
{
	struct nlattr *nest = nla_nest_start(msg, HSMKEY_KEY_A_E2E);

	if (!nest || nla_put_u64(msg, HSMKEY_E2E_A_HANDLE, handle) ||
	    nla_put(msg, HSMKEY_E2E_A_POINT, HSMKEY_E2E_POINT_LEN, hpoint) ||
	    nla_put(msg, HSMKEY_E2E_A_WRAPPED, (int)wlen, wrapped))
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

int kernel_add_e2e(struct kernel *k, const struct ks_key *key, const uint8_t *owner,
		   uint64_t handle, const uint8_t *hpoint, const uint8_t *wrapped,
		   uint32_t wlen)
{
	struct nl_msg *msg;
	int r;

	if (wlen != HSMKEY_E2E_KW_LEN(key_type_len(key->type)))
		return -EINVAL;
	r = device_lock(k);
	if (r)
		return r;
	r = add_msg(k, key, owner, false, &msg);
	if (!r) {
		r = put_e2e(msg, handle, hpoint, wrapped, wlen);
		if (r)
			nlmsg_free(msg);
	}
	if (r) {
		pthread_mutex_unlock(&dev.lock);
		return r;
	}
	return device_call(k, msg, NULL, NULL);
}

/*
 * A batch message's room: within libnl's default socket buffer (32 KiB,
 * which the kernel doubles; a longer message would be refused with
 * EMSGSIZE), so that a full one is never refused.  nla_put() fails once
 * the message is full, which ends the batch there.
 */
#define E2E_BATCH_MSG	(30 * 1024)

/* Entry @i of a KEY_ADD batch: @e's key with its E2E nest. */
static int put_entry(struct nl_msg *msg, int i, const struct kernel_e2e_key *e,
		     const uint8_t *owner, uint64_t handle, const uint8_t *hpoint)
{
	struct nlattr *nest = nla_nest_start(msg, i + 1);
	int r = nest ? 0 : -EMSGSIZE;

	if (!r && (nla_put(msg, HSMKEY_KEY_A_ID, HSMKEY_ID_LEN, e->key->id) ||
		   nla_put_u32(msg, HSMKEY_KEY_A_VERSION, e->key->version)))
		r = -EMSGSIZE;
	if (!r)
		r = put_key(msg, e->key, owner, false);
	if (!r)
		r = put_e2e(msg, handle, hpoint, e->wrapped, e->wlen);
	if (r && nest)
		nla_nest_cancel(msg, nest);
	else if (!r)
		nla_nest_end(msg, nest);
	return r;
}

int kernel_add_e2e_batch(struct kernel *k, const struct kernel_e2e_key *keys, size_t n,
			 const uint8_t *owner, uint64_t handle, const uint8_t *hpoint,
			 size_t *sent)
{
	struct nlattr *batch = NULL;
	struct nl_msg *msg;
	size_t i;
	int r = 0;

	*sent = 0;
	for (i = 0; i < n; i++)
		if (keys[i].wlen != HSMKEY_E2E_KW_LEN(key_type_len(keys[i].key->type)))
			return -EINVAL;
	n = n < HSMKEY_BATCH_MAX ? n : HSMKEY_BATCH_MAX;
	r = device_lock(k);
	if (r)
		return r;
	msg = kernel_msg_sized(k, HSMKEY_CMD_KEY_ADD, 0, E2E_BATCH_MSG);
	if (msg)
		batch = nla_nest_start(msg, HSMKEY_KEY_A_BATCH);
	r = batch ? 0 : -ENOMEM;
	for (i = 0; !r && i < n; i += !r)
		r = put_entry(msg, (int)i, &keys[i], owner, handle, hpoint);
	if (r == -EMSGSIZE && i)
		r = 0;	/* full: the rest go in the caller's next call */
	if (r) {
		nlmsg_free(msg);
		pthread_mutex_unlock(&dev.lock);
		return r;
	}
	nla_nest_end(msg, batch);
	*sent = i;
	return device_call(k, msg, NULL, NULL);
}

int kernel_revoke(struct kernel *k, const uint8_t *id, uint32_t version)
{
	return kernel_failsafe(k, kernel_msg_kid(k, HSMKEY_CMD_KEY_REVOKE, id, version));
}

int kernel_remove(struct kernel *k, const uint8_t *id, uint32_t version)
{
	return kernel_failsafe(k, kernel_msg_kid(k, HSMKEY_CMD_KEY_REMOVE, id, version));
}

static void parse_key(struct nlattr **tb, struct kernel_key *out)
{
	memset(out, 0, sizeof(*out));
	if (tb[HSMKEY_KEY_A_ID] && nla_len(tb[HSMKEY_KEY_A_ID]) == HSMKEY_ID_LEN)
		memcpy(out->id, nla_data(tb[HSMKEY_KEY_A_ID]), HSMKEY_ID_LEN);
	if (tb[HSMKEY_KEY_A_VERSION])
		out->version = nla_get_u32(tb[HSMKEY_KEY_A_VERSION]);
	if (tb[HSMKEY_KEY_A_NAME])
		snprintf(out->name, sizeof(out->name), "%s",
			 nla_get_string(tb[HSMKEY_KEY_A_NAME]));
	if (tb[HSMKEY_KEY_A_TYPE])
		out->type = (int)nla_get_u32(tb[HSMKEY_KEY_A_TYPE]);
	if (tb[HSMKEY_KEY_A_STATE])
		out->state = (int)nla_get_u32(tb[HSMKEY_KEY_A_STATE]);
	if (tb[HSMKEY_KEY_A_BINDINGS])
		out->bindings = nla_get_u32(tb[HSMKEY_KEY_A_BINDINGS]);
	if (tb[HSMKEY_KEY_A_OWNER]) {
		memcpy(out->owner, nla_data(tb[HSMKEY_KEY_A_OWNER]), HSMKEY_OWNER_LEN);
		out->has_owner = true;
	}
	if (tb[HSMKEY_KEY_A_BYTES])
		out->bytes = nla_get_u64(tb[HSMKEY_KEY_A_BYTES]);
	if (tb[HSMKEY_KEY_A_REQUESTS])
		out->requests = nla_get_u64(tb[HSMKEY_KEY_A_REQUESTS]);
	if (tb[HSMKEY_KEY_A_DELIVERY])
		out->delivery = (int)nla_get_u32(tb[HSMKEY_KEY_A_DELIVERY]);
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

	if (tb[HSMKEY_INFO_A_VERSION])
		snprintf(out->version, sizeof(out->version), "%s",
			 nla_get_string(tb[HSMKEY_INFO_A_VERSION]));
	if (tb[HSMKEY_INFO_A_NKEYS])
		out->nkeys = nla_get_u32(tb[HSMKEY_INFO_A_NKEYS]);
	if (tb[HSMKEY_INFO_A_INNER_XTS])
		snprintf(out->inner_xts, sizeof(out->inner_xts), "%s",
			 nla_get_string(tb[HSMKEY_INFO_A_INNER_XTS]));
	if (tb[HSMKEY_INFO_A_SESSIONS])
		out->sessions = nla_get_u32(tb[HSMKEY_INFO_A_SESSIONS]);
	if (tb[HSMKEY_INFO_A_SESSIONS_BOUND])
		out->sessions_bound = nla_get_u32(tb[HSMKEY_INFO_A_SESSIONS_BOUND]);
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

	if (!tb[HSMKEY_AUDIT_A_SEQ] || !tb[HSMKEY_AUDIT_A_HEAD])
		return -EPROTO;
	*o->seq = nla_get_u64(tb[HSMKEY_AUDIT_A_SEQ]);
	memcpy(o->head, nla_data(tb[HSMKEY_AUDIT_A_HEAD]), HSMKEY_AUDIT_HEAD_LEN);
	return 0;
}

static struct nl_msg *audit_msg(struct kernel *k, int cmd, const uint8_t *owner)
{
	struct nl_msg *msg = kernel_msg(k, cmd, 0);

	if (msg && nla_put(msg, HSMKEY_AUDIT_A_OWNER, HSMKEY_OWNER_LEN, owner)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

int kernel_audit_get(struct kernel *k, const uint8_t *owner, uint64_t *seq, uint8_t *head)
{
	struct nl_msg *msg = audit_msg(k, HSMKEY_CMD_AUDIT_GET, owner);
	struct anchor_out o = { .seq = seq, .head = head };

	return msg ? kernel_call(k, msg, parse_anchor, &o) : -ENOMEM;
}

int kernel_audit_set(struct kernel *k, const uint8_t *owner, uint64_t seq,
		     const uint8_t *head)
{
	struct nl_msg *msg = audit_msg(k, HSMKEY_CMD_AUDIT_SET, owner);

	if (msg && (nla_put_u64(msg, HSMKEY_AUDIT_A_SEQ, seq) ||
		    nla_put(msg, HSMKEY_AUDIT_A_HEAD, HSMKEY_AUDIT_HEAD_LEN, head))) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	return kernel_change(k, msg);
}

/*
 * A change carrying the material of @n keys (@keys), each wrapped under the
 * transport key into attribute @attrs[i] of @msg (built on @k), sent on the
 * registered socket; the replies go to @parse.  @msg is freed (wiped).
 */
int kernel_change_wrapped(struct kernel *k, struct nl_msg *msg, const struct ks_key *keys,
			  const int *attrs, int n, int (*parse)(struct nlattr **tb, void *arg),
			  void *arg)
{
	uint8_t w[HSMKEY_WRAP_OVERHEAD + HSMKEY_VERIFIER_LEN + HSMKEY_MATERIAL_MAX];
	int wl = 0, r;

	r = msg ? device_lock(k) : -ENOMEM;
	if (r) {
		nlmsg_free(msg);
		return r;
	}
	for (int i = 0; i < n && !r; i++) {
		r = wrap_material(&keys[i], true, w, &wl);
		if (!r && nla_put(msg, attrs[i], wl, w))
			r = -EMSGSIZE;
	}
	wipe(w, sizeof(w));
	if (r) {
		pthread_mutex_unlock(&dev.lock);
		wipe(nlmsg_hdr(msg), nlmsg_hdr(msg)->nlmsg_len);
		nlmsg_free(msg);
		return r;
	}
	return device_call(k, msg, parse, arg);
}
