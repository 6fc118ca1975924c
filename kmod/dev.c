// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/hsmkey: the daemon's registration, and with it the authority to
 * change keys.
 *
 * One file may be open at a time (CAP_SYS_ADMIN).  Its opener registers
 * once, with HSMKEY_IOC_REGISTER, naming its generic netlink socket; the
 * reply carries the transport key under which verifiers and material
 * travel over netlink, wrapped with AES-256-GCM (uapi/linux/hsmkey.h).  The
 * module keeps that key only as the expanded schedule of an AEAD tfm: the
 * bytes are wiped once handed out, so nobody can read them again, not even
 * a process the file is passed to.
 *
 * Authority belongs to the registered socket, not to a pid: a pid says
 * nothing once its process has exited or forked, and a socket is what the
 * netlink messages come from.  The socket is held (sock_hold) so that its
 * address cannot be reused by another socket while registered; once it is
 * closed (SOCK_DEAD), the registration counts as absent and the fail-safe
 * operations are open to CAP_SYS_ADMIN again.  Closing the file ends the
 * registration.
 *
 * The registered file may also ask for ephemeral ECDH keys for end-to-end
 * delivery (HSMKEY_IOC_EPHEMERAL, e2e.c); they belong to the registration
 * and are wiped when it ends.
 *
 * hsmkey_dev_lock protects everything below; netlink handlers take it
 * briefly to check the sender and to unwrap.  e2e.c's lock nests inside.
 */
#include <crypto/aead.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/netlink.h>
#include <linux/pid.h>
#include <linux/random.h>
#include <linux/scatterlist.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <net/net_namespace.h>
#include <net/sock.h>
#include "dev.h"
#include "e2e.h"
#include "session.h"

static DEFINE_MUTEX(hsmkey_dev_lock);
static bool hsmkey_dev_open_now;	/* one file at a time */
static struct sock *hsmkey_dev_sk;	/* its registered socket, held */
static struct pid *hsmkey_dev_pid;	/* who registered, for INFO */
static struct crypto_aead *hsmkey_dev_aead;
/*
 * Opens are refused until the module's init can no longer fail: an open
 * file would outlive a failed init's module.
 */
static bool hsmkey_dev_live;

static int hsmkey_dev_open(struct inode *inode, struct file *file)
{
	int err = 0;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	mutex_lock(&hsmkey_dev_lock);
	if (!hsmkey_dev_live)
		err = -EAGAIN;
	else if (hsmkey_dev_open_now)
		err = -EBUSY;
	else
		hsmkey_dev_open_now = true;
	mutex_unlock(&hsmkey_dev_lock);
	return err;
}

/* With the lock held: forget the registration. */
static void hsmkey_dev_unregister(void)
{
	lockdep_assert_held(&hsmkey_dev_lock);
	crypto_free_aead(hsmkey_dev_aead);	/* wipes the key schedule */
	hsmkey_dev_aead = NULL;
	if (hsmkey_dev_sk)
		sock_put(hsmkey_dev_sk);
	hsmkey_dev_sk = NULL;
	put_pid(hsmkey_dev_pid);
	hsmkey_dev_pid = NULL;
	hsmkey_e2e_reset();
	hsmkey_session_flush();
}

static int hsmkey_dev_release(struct inode *inode, struct file *file)
{
	bool was_registered;

	mutex_lock(&hsmkey_dev_lock);
	was_registered = hsmkey_dev_sk;
	hsmkey_dev_unregister();
	hsmkey_dev_open_now = false;
	mutex_unlock(&hsmkey_dev_lock);
	if (was_registered)
		pr_info("/dev/hsmkey released: no daemon is registered\n");
	return 0;
}

/* A generic netlink socket of the initial namespace, held; else ERR_PTR. */
static struct sock *hsmkey_dev_nl_sock(int fd)
{
	struct socket *sock;
	struct sock *sk;
	int err;

	sock = sockfd_lookup(fd, &err);
	if (!sock)
		return ERR_PTR(err);
	sk = sock->sk;
	if (!sk || sk->sk_family != AF_NETLINK ||
	    sk->sk_protocol != NETLINK_GENERIC ||
	    !net_eq(sock_net(sk), &init_net)) {
		sockfd_put(sock);
		return ERR_PTR(-EPROTOTYPE);
	}
	sock_hold(sk);
	sockfd_put(sock);
	return sk;
}

/* A transport key, fresh from the RNG, into @tkey and a new AEAD tfm. */
static struct crypto_aead *hsmkey_dev_new_key(u8 *tkey)
{
	struct crypto_aead *aead;
	int err;

	/* Not gcm-aes-hsmkey (ktls=1): no need to look for a session token. */
	aead = crypto_alloc_aead("gcm(aes)", 0, CRYPTO_ALG_NEED_FALLBACK);
	if (IS_ERR(aead))
		return aead;
	err = get_random_bytes_wait(tkey, HSMKEY_TRANSPORT_KEY_LEN) ?:
	      crypto_aead_setkey(aead, tkey, HSMKEY_TRANSPORT_KEY_LEN) ?:
	      crypto_aead_setauthsize(aead, HSMKEY_WRAP_TAG_LEN);
	if (err) {
		crypto_free_aead(aead);
		return ERR_PTR(err);
	}
	return aead;
}

static long hsmkey_dev_register(struct file *file,
				struct hsmkey_register __user *uarg)
{
	struct hsmkey_register reg;
	struct crypto_aead *aead;
	struct sock *sk;
	long err;

	if (copy_from_user(&reg, uarg, sizeof(reg)))
		return -EFAULT;
	if (reg.flags)
		return -EINVAL;
	/* The file may have been passed on: check who calls, too. */
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	sk = hsmkey_dev_nl_sock(reg.nl_fd);
	if (IS_ERR(sk))
		return PTR_ERR(sk);

	mutex_lock(&hsmkey_dev_lock);
	err = -EALREADY;	/* once per open file */
	if (hsmkey_dev_aead)
		goto err_unlock;
	aead = hsmkey_dev_new_key(reg.transport_key);
	err = PTR_ERR_OR_ZERO(aead);
	if (err)
		goto err_unlock;
	err = -EFAULT;
	if (copy_to_user(uarg->transport_key, reg.transport_key,
			 sizeof(reg.transport_key))) {
		crypto_free_aead(aead);
		goto err_unlock;
	}
	hsmkey_dev_aead = aead;
	hsmkey_dev_sk = sk;
	hsmkey_dev_pid = get_pid(task_tgid(current));
	mutex_unlock(&hsmkey_dev_lock);
	memzero_explicit(&reg, sizeof(reg));
	pr_info("/dev/hsmkey: %s (pid %d) registered\n", current->comm,
		task_tgid_nr(current));
	return 0;

err_unlock:
	mutex_unlock(&hsmkey_dev_lock);
	memzero_explicit(&reg, sizeof(reg));
	sock_put(sk);
	return err;
}

/* With the lock held: a registered socket that can still send. */
static bool hsmkey_dev_live_locked(void)
{
	lockdep_assert_held(&hsmkey_dev_lock);
	return hsmkey_dev_sk && !sock_flag(hsmkey_dev_sk, SOCK_DEAD);
}

/*
 * An ephemeral key for end-to-end delivery, to the registered file only
 * (the one open file, once registered and while its socket lives).
 */
static long hsmkey_dev_ephemeral(struct hsmkey_ephemeral __user *uarg)
{
	struct hsmkey_ephemeral e;
	long err;

	if (copy_from_user(&e, uarg, sizeof(e)))
		return -EFAULT;
	if (e.flags || memchr_inv(e.pad, 0, sizeof(e.pad)))
		return -EINVAL;
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	mutex_lock(&hsmkey_dev_lock);
	err = -EPERM;
	if (hsmkey_dev_live_locked())
		err = hsmkey_e2e_new(NULL, e.uses, e.ttl, &e.handle, e.point);
	mutex_unlock(&hsmkey_dev_lock);
	if (!err && copy_to_user(uarg, &e, sizeof(e)))
		err = -EFAULT;
	return err;
}

static long hsmkey_dev_ioctl(struct file *file, unsigned int cmd,
			     unsigned long arg)
{
	switch (cmd) {
	case HSMKEY_IOC_REGISTER:
		return hsmkey_dev_register(file, (void __user *)arg);
	case HSMKEY_IOC_EPHEMERAL:
		return hsmkey_dev_ephemeral((void __user *)arg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations hsmkey_dev_fops = {
	.owner = THIS_MODULE,
	.open = hsmkey_dev_open,
	.release = hsmkey_dev_release,
	.unlocked_ioctl = hsmkey_dev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice hsmkey_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = HSMKEY_DEVICE_NAME,
	.fops = &hsmkey_dev_fops,
	.mode = 0600,
};

/* With the lock held: see hsmkey_dev_check(). */
static int hsmkey_dev_check_locked(const struct sk_buff *skb, bool fail_safe,
				   struct netlink_ext_ack *extack)
{
	lockdep_assert_held(&hsmkey_dev_lock);
	if (hsmkey_dev_live_locked()) {
		if (NETLINK_CB(skb).sk == hsmkey_dev_sk)
			return 0;
		NL_SET_ERR_MSG(extack,
			       "keys are managed by the hsmkeyd registered on /dev/hsmkey");
		return -EBUSY;
	}
	if (fail_safe)
		return 0;
	NL_SET_ERR_MSG(extack,
		       "no hsmkeyd is registered on /dev/hsmkey: only revoke, disable and remove are allowed");
	return -EPERM;
}

/*
 * May the sender of @skb change key state?  With a live registration, only
 * from the registered socket; without one, only in the fail-safe direction
 * (@fail_safe: revoke, disable, remove).
 */
int hsmkey_dev_check(const struct sk_buff *skb, bool fail_safe,
		     struct netlink_ext_ack *extack)
{
	int err;

	mutex_lock(&hsmkey_dev_lock);
	err = hsmkey_dev_check_locked(skb, fail_safe, extack);
	mutex_unlock(&hsmkey_dev_lock);
	return err;
}

u32 hsmkey_dev_holder_pid(void)
{
	u32 nr = 0;

	mutex_lock(&hsmkey_dev_lock);
	if (hsmkey_dev_live_locked())
		nr = pid_nr(hsmkey_dev_pid);
	mutex_unlock(&hsmkey_dev_lock);
	return nr;
}

/* With the lock held: decrypt @buf (AAD, ciphertext, tag) in place. */
static int hsmkey_dev_decrypt_locked(u8 *buf, unsigned int ctlen,
				     u8 *iv)
{
	DECLARE_CRYPTO_WAIT(wait);
	struct aead_request *req;
	struct scatterlist sg;
	int err;

	req = aead_request_alloc(hsmkey_dev_aead, GFP_KERNEL);
	if (!req)
		return -ENOMEM;
	sg_init_one(&sg, buf, sizeof(struct hsmkey_wrap_aad) + ctlen);
	aead_request_set_callback(req, CRYPTO_TFM_REQ_MAY_BACKLOG |
				       CRYPTO_TFM_REQ_MAY_SLEEP,
				  crypto_req_done, &wait);
	aead_request_set_crypt(req, &sg, &sg, ctlen, iv);
	aead_request_set_ad(req, sizeof(struct hsmkey_wrap_aad));
	err = crypto_wait_req(crypto_aead_decrypt(req), &wait);
	aead_request_free(req);
	return err;
}

/*
 * Unwrap @wrapped (nonce, ciphertext, tag) sent in @skb into @verifier and
 * @material (@keylen bytes: the type's, or 0 when the material comes end
 * to end), which the caller wipes.  Only the registered socket's messages
 * can be unwrapped.
 */
int hsmkey_dev_unwrap(const struct sk_buff *skb, const struct hsmkey_kid *kid,
		      u32 type, unsigned int keylen,
		      const struct nlattr *wrapped, u8 *verifier,
		      u8 *material, struct netlink_ext_ack *extack)
{
	unsigned int ptlen = HSMKEY_VERIFIER_LEN + keylen;
	unsigned int ctlen = ptlen + HSMKEY_WRAP_TAG_LEN;
	struct hsmkey_wrap_aad *aad;
	u8 iv[HSMKEY_WRAP_NONCE_LEN];
	u8 *buf;
	int err;

	if (nla_len(wrapped) != HSMKEY_WRAP_LEN(keylen)) {
		NL_SET_ERR_MSG_ATTR(extack, wrapped,
				    "wrapped key length does not match key type (HSMKEY_WRAP_LEN(0) with HSMKEY_KEY_A_E2E)");
		return -EINVAL;
	}
	buf = kmalloc(sizeof(*aad) + ctlen, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	aad = (struct hsmkey_wrap_aad *)buf;
	memcpy(aad->key_id, kid->id, sizeof(aad->key_id));
	aad->key_version = cpu_to_be32(kid->version);
	aad->key_type = cpu_to_be32(type);
	memcpy(iv, nla_data(wrapped), sizeof(iv));
	memcpy(buf + sizeof(*aad), nla_data(wrapped) + sizeof(iv), ctlen);

	mutex_lock(&hsmkey_dev_lock);
	err = hsmkey_dev_check_locked(skb, false, extack);
	if (!err)
		err = hsmkey_dev_decrypt_locked(buf, ctlen, iv);
	mutex_unlock(&hsmkey_dev_lock);
	if (err == -EBADMSG)
		NL_SET_ERR_MSG_ATTR(extack, wrapped,
				    "wrapped key does not authenticate under the transport key");
	if (!err) {
		memcpy(verifier, buf + sizeof(*aad), HSMKEY_VERIFIER_LEN);
		memcpy(material, buf + sizeof(*aad) + HSMKEY_VERIFIER_LEN,
		       keylen);
	}
	kfree_sensitive(buf);
	return err;
}

int hsmkey_dev_init(void)
{
	return misc_register(&hsmkey_miscdev);
}

void hsmkey_dev_enable(void)
{
	mutex_lock(&hsmkey_dev_lock);
	hsmkey_dev_live = true;
	mutex_unlock(&hsmkey_dev_lock);
}

void hsmkey_dev_exit(void)
{
	misc_deregister(&hsmkey_miscdev);
}
