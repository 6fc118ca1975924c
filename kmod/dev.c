// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/hsmkey: the daemon's registration.  Opening it (CAP_SYS_ADMIN, one
 * opener at a time) makes the opening process the holder: only it may
 * change key state while the device stays open, and it alone can learn the
 * transport key under which key material travels over netlink, wrapped
 * with AES-256-GCM (see uapi/linux/hsmkey.h).  Closing the device wipes the
 * transport key.
 *
 * hsmkey_dev_lock protects the holder, the transport key and its tfm.  The
 * holder is compared by struct pid, which a reused pid number never
 * matches.
 */
#include <crypto/aead.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/random.h>
#include <linux/scatterlist.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include "dev.h"

static DEFINE_MUTEX(hsmkey_dev_lock);
static struct pid *hsmkey_dev_holder;
static struct crypto_aead *hsmkey_dev_aead;
static struct hsmkey_transport_key hsmkey_dev_tkey;
static bool hsmkey_dev_tkey_given;

static int hsmkey_dev_open(struct inode *inode, struct file *file)
{
	struct crypto_aead *aead;
	int err;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	aead = crypto_alloc_aead("gcm(aes)", 0, 0);
	if (IS_ERR(aead))
		return PTR_ERR(aead);

	mutex_lock(&hsmkey_dev_lock);
	if (hsmkey_dev_holder) {
		err = -EBUSY;
		goto err_unlock;
	}
	get_random_bytes(hsmkey_dev_tkey.key, sizeof(hsmkey_dev_tkey.key));
	err = crypto_aead_setkey(aead, hsmkey_dev_tkey.key,
				 sizeof(hsmkey_dev_tkey.key)) ?:
	      crypto_aead_setauthsize(aead, HSMKEY_WRAP_TAG_LEN);
	if (err) {
		memzero_explicit(&hsmkey_dev_tkey, sizeof(hsmkey_dev_tkey));
		goto err_unlock;
	}
	hsmkey_dev_aead = aead;
	hsmkey_dev_tkey_given = false;
	hsmkey_dev_holder = get_pid(task_tgid(current));
	mutex_unlock(&hsmkey_dev_lock);
	pr_info("/dev/hsmkey held by %s (pid %d)\n", current->comm,
		task_tgid_nr(current));
	return 0;

err_unlock:
	mutex_unlock(&hsmkey_dev_lock);
	crypto_free_aead(aead);
	return err;
}

static int hsmkey_dev_release(struct inode *inode, struct file *file)
{
	mutex_lock(&hsmkey_dev_lock);
	crypto_free_aead(hsmkey_dev_aead);	/* wipes the key schedule */
	hsmkey_dev_aead = NULL;
	memzero_explicit(&hsmkey_dev_tkey, sizeof(hsmkey_dev_tkey));
	put_pid(hsmkey_dev_holder);
	hsmkey_dev_holder = NULL;
	mutex_unlock(&hsmkey_dev_lock);
	pr_info("/dev/hsmkey released\n");
	return 0;
}

static long hsmkey_dev_ioctl(struct file *file, unsigned int cmd,
			     unsigned long arg)
{
	long err = 0;

	if (cmd != HSMKEY_IOC_TRANSPORT_KEY)
		return -ENOTTY;
	mutex_lock(&hsmkey_dev_lock);
	/* Once per open: the daemon keeps it, nobody else learns it. */
	if (hsmkey_dev_tkey_given)
		err = -EALREADY;
	else if (copy_to_user((void __user *)arg, &hsmkey_dev_tkey,
			      sizeof(hsmkey_dev_tkey)))
		err = -EFAULT;
	else
		hsmkey_dev_tkey_given = true;
	mutex_unlock(&hsmkey_dev_lock);
	return err;
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

/* With hsmkey_dev_lock held: may the current process change key state? */
static int hsmkey_dev_check_locked(struct netlink_ext_ack *extack)
{
	lockdep_assert_held(&hsmkey_dev_lock);
	if (hsmkey_dev_holder && hsmkey_dev_holder != task_tgid(current)) {
		NL_SET_ERR_MSG(extack,
			       "keys are managed by the process holding /dev/hsmkey");
		return -EBUSY;
	}
	return 0;
}

int hsmkey_dev_check(struct netlink_ext_ack *extack)
{
	int err;

	mutex_lock(&hsmkey_dev_lock);
	err = hsmkey_dev_check_locked(extack);
	mutex_unlock(&hsmkey_dev_lock);
	return err;
}

u32 hsmkey_dev_holder_pid(void)
{
	u32 nr;

	mutex_lock(&hsmkey_dev_lock);
	nr = pid_nr(hsmkey_dev_holder);
	mutex_unlock(&hsmkey_dev_lock);
	return nr;
}

/*
 * Unwrap @wrapped (nonce, ciphertext, tag) into @out, which holds
 * hsmkey_type_keylen(@type) bytes and which the caller wipes.  The caller
 * must be the holder.
 */
int hsmkey_dev_unwrap(const struct hsmkey_kid *kid, u32 type,
		      const struct nlattr *wrapped, u8 *out,
		      struct netlink_ext_ack *extack)
{
	unsigned int keylen = hsmkey_type_keylen(type);
	unsigned int len = sizeof(struct hsmkey_wrap_aad) + keylen +
			   HSMKEY_WRAP_TAG_LEN;
	DECLARE_CRYPTO_WAIT(wait);
	struct hsmkey_wrap_aad *aad;
	struct aead_request *req;
	struct scatterlist sg;
	u8 iv[HSMKEY_WRAP_NONCE_LEN];
	u8 *buf;
	int err;

	if (nla_len(wrapped) != HSMKEY_WRAP_OVERHEAD + keylen) {
		NL_SET_ERR_MSG_ATTR(extack, wrapped,
				    "wrapped material length does not match key type");
		return -EINVAL;
	}
	buf = kmalloc(len, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	aad = (struct hsmkey_wrap_aad *)buf;
	memcpy(aad->key_id, kid->id, sizeof(aad->key_id));
	aad->key_version = cpu_to_be32(kid->version);
	aad->key_type = cpu_to_be32(type);
	memcpy(iv, nla_data(wrapped), sizeof(iv));
	memcpy(buf + sizeof(*aad), nla_data(wrapped) + sizeof(iv),
	       keylen + HSMKEY_WRAP_TAG_LEN);

	mutex_lock(&hsmkey_dev_lock);
	if (!hsmkey_dev_holder) {
		NL_SET_ERR_MSG(extack,
			       "no transport key: /dev/hsmkey is not held");
		err = -ENOKEY;
		goto out;
	}
	err = hsmkey_dev_check_locked(extack);
	if (err)
		goto out;
	req = aead_request_alloc(hsmkey_dev_aead, GFP_KERNEL);
	if (!req) {
		err = -ENOMEM;
		goto out;
	}
	sg_init_one(&sg, buf, len);
	aead_request_set_callback(req, CRYPTO_TFM_REQ_MAY_BACKLOG |
				       CRYPTO_TFM_REQ_MAY_SLEEP,
				  crypto_req_done, &wait);
	aead_request_set_crypt(req, &sg, &sg, keylen + HSMKEY_WRAP_TAG_LEN, iv);
	aead_request_set_ad(req, sizeof(*aad));
	err = crypto_wait_req(crypto_aead_decrypt(req), &wait);
	aead_request_free(req);
	if (err == -EBADMSG)
		NL_SET_ERR_MSG_ATTR(extack, wrapped,
				    "wrapped material does not authenticate under the transport key");
	else if (!err)
		memcpy(out, buf + sizeof(*aad), keylen);
out:
	mutex_unlock(&hsmkey_dev_lock);
	kfree_sensitive(buf);
	return err;
}

int hsmkey_dev_init(void)
{
	return misc_register(&hsmkey_miscdev);
}

void hsmkey_dev_exit(void)
{
	misc_deregister(&hsmkey_miscdev);
}
