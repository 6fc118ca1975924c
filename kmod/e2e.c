// SPDX-License-Identifier: GPL-2.0
/*
 * End-to-end delivery: key material wrapped by an HSM for this module,
 * which the daemon carries but can never read (uapi/linux/hsmkey.h).
 *
 * The module offers ephemeral ECDH P-256 keys (the kernel's
 * ecdh-nist-p256 kpp; points and Z big endian, as PKCS#11's).  Each lives
 * in one of HSMKEY_E2E_SLOTS slots with a use count and an expiry; its
 * private key exists only in its kpp tfm, whose context the crypto API
 * wipes when the tfm is freed.  It is freed the moment its uses are spent,
 * when it expires (a delayed work reaps it), when a newer key takes its
 * slot, or when the registration ends (hsmkey_e2e_reset() from dev.c): a
 * recorded blob cannot be unwrapped afterwards.  Handles count up from 1
 * and are never reused while the module is loaded.
 *
 * A KEY_ADD message is one batch.  For each (handle, HSM point) it names,
 * Z is computed once, under hsmkey_e2e_lock, and kept in the batch; each
 * key version's KEK is derived from Z and its own context, and the blob
 * unwrapped with the batch's own kw(aes) tfm (its setkey is not safe to
 * share).  Uses are counted in the batch, and charged in
 * hsmkey_e2e_commit(), under the lock, only if every handle still has
 * them, around the insertion of the keys: so a batch either becomes
 * visible and spends its uses, or spends nothing.
 *
 * Locking: hsmkey_e2e_lock protects the slots, the handle counter and the
 * self-test's result.  It nests inside dev.c's lock (the ioctl and
 * release) and inside genl_mutex (KEY_ADD), and the key table's locks
 * nest inside it (commit); it never calls upward.
 *
 * The module does not link against ecdh_generic: the kpp is found by
 * name, and its secret is encoded here in the public struct kpp_secret
 * layout (<crypto/kpp.h>), so hsmkey.ko loads where ecdh_generic is not.
 * ecdh_generic's only alias is crypto-ecdh, which a lookup of
 * ecdh-nist-p256 does not request: it is requested here.  Kernels built
 * without the kpp API (CONFIG_CRYPTO_KPP) have no end-to-end delivery.
 */
#include <crypto/aes.h>
#include <crypto/kpp.h>
#include <crypto/sha2.h>
#include <crypto/skcipher.h>
#include <linux/jiffies.h>
#include <linux/kmod.h>
#include <linux/mutex.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include "e2e.h"

#define E2E_XY_LEN		(HSMKEY_E2E_POINT_LEN - 1)	/* no 0x04 */
#define E2E_PRIV_LEN		32
#define E2E_KAT_RETRY		(10 * HZ)
#define E2E_KW_IV_LEN		8
/* The construction's label, NUL included: 18 bytes (design §2.3). */
static const char e2e_label[] = "hsmkey e2e kek v1";
#define E2E_CTX_LEN	(sizeof(e2e_label) + 2 * HSMKEY_E2E_POINT_LEN + \
			 HSMKEY_ID_LEN + 4 + 4)

struct e2e_slot {
	struct crypto_kpp *kpp;		/* NULL: free */
	u64 handle;
	u32 uses;			/* left */
	unsigned long expires;		/* jiffies */
	u8 point[HSMKEY_E2E_POINT_LEN];
};

/* One (handle, HSM point) of a batch; kmalloc'd, so usable in an sg. */
struct e2e_peer {
	u64 handle;
	u32 uses;			/* key versions of the batch under it */
	u8 kpoint[HSMKEY_E2E_POINT_LEN];
	u8 hpoint[HSMKEY_E2E_POINT_LEN];
	u8 z[HSMKEY_E2E_Z_LEN];
};

struct hsmkey_e2e_batch {
	struct crypto_skcipher *kw;
	unsigned int n;
	struct e2e_peer peer[HSMKEY_E2E_SLOTS];
};

static DEFINE_MUTEX(hsmkey_e2e_lock);
static struct e2e_slot e2e_slots[HSMKEY_E2E_SLOTS];
static u64 e2e_last_handle;
static int e2e_kat_result = 1;		/* 1: not run yet */
static unsigned long e2e_kat_retry;	/* after -ENOPKG: when to look again */
static void e2e_reap(struct work_struct *work);
static DECLARE_DELAYED_WORK(e2e_reap_work, e2e_reap);

#if IS_REACHABLE(CONFIG_CRYPTO_KPP)
static struct crypto_kpp *e2e_alloc_kpp(void)
{
	struct crypto_kpp *kpp = crypto_alloc_kpp("ecdh-nist-p256", 0, 0);

	if (PTR_ERR_OR_ZERO(kpp) == -ENOENT) {
		request_module("crypto-ecdh");
		kpp = crypto_alloc_kpp("ecdh-nist-p256", 0, 0);
	}
	return PTR_ERR_OR_ZERO(kpp) == -ENOENT ? ERR_PTR(-ENOPKG) : kpp;
}
#else
static struct crypto_kpp *e2e_alloc_kpp(void)
{
	return ERR_PTR(-ENOPKG);
}
#endif

static struct crypto_skcipher *e2e_alloc_kw(void)
{
	struct crypto_skcipher *kw = crypto_alloc_skcipher("kw(aes)", 0, 0);

	return PTR_ERR_OR_ZERO(kw) == -ENOENT ? ERR_PTR(-ENOPKG) : kw;
}

/* Public key (@in NULL) or shared secret; @in and @out on the heap. */
static int e2e_kpp_run(struct crypto_kpp *kpp, u8 *in, u8 *out,
		       unsigned int outlen)
{
	DECLARE_CRYPTO_WAIT(wait);
	struct scatterlist src, dst;
	struct kpp_request *req;
	int err;

	req = kpp_request_alloc(kpp, GFP_KERNEL);
	if (!req)
		return -ENOMEM;
	if (in)
		sg_init_one(&src, in, E2E_XY_LEN);
	sg_init_one(&dst, out, outlen);
	kpp_request_set_input(req, in ? &src : NULL, in ? E2E_XY_LEN : 0);
	kpp_request_set_output(req, &dst, outlen);
	kpp_request_set_callback(req, CRYPTO_TFM_REQ_MAY_SLEEP,
				 crypto_req_done, &wait);
	err = crypto_wait_req(in ? crypto_kpp_compute_shared_secret(req) :
			      crypto_kpp_generate_public_key(req), &wait);
	kpp_request_free(req);
	return err;
}

/*
 * Set @priv (or, NULL, a random key) as @kpp's secret, in the layout
 * crypto_ecdh_decode_key() reads: struct kpp_secret {type, len}, the
 * key's u16 length, the key.
 */
static int e2e_set_secret(struct crypto_kpp *kpp, const u8 *priv)
{
	unsigned short keylen = priv ? E2E_PRIV_LEN : 0;
	struct kpp_secret hdr = { .type = CRYPTO_KPP_SECRET_TYPE_ECDH };
	u8 buf[sizeof(hdr) + sizeof(keylen) + E2E_PRIV_LEN];
	int err;

	hdr.len = sizeof(hdr) + sizeof(keylen) + keylen;
	memcpy(buf, &hdr, sizeof(hdr));
	memcpy(buf + sizeof(hdr), &keylen, sizeof(keylen));
	if (priv)
		memcpy(buf + sizeof(hdr) + sizeof(keylen), priv, keylen);
	err = crypto_kpp_set_secret(kpp, buf, hdr.len);
	/* A random key out of range: negligible, and a retry fixes it. */
	if (err == -EINVAL && !priv)
		err = crypto_kpp_set_secret(kpp, buf, hdr.len);
	memzero_explicit(buf, sizeof(buf));
	return err;
}

/* A key pair in a new kpp tfm, its public point into @point. */
static struct crypto_kpp *e2e_kpp_new(const u8 *priv, u8 *point)
{
	struct crypto_kpp *kpp;
	u8 *xy;
	int err;

	kpp = e2e_alloc_kpp();
	if (IS_ERR(kpp))
		return kpp;
	xy = kmalloc(E2E_XY_LEN, GFP_KERNEL);
	err = xy ? e2e_set_secret(kpp, priv) : -ENOMEM;
	if (!err)
		err = e2e_kpp_run(kpp, NULL, xy, E2E_XY_LEN);
	if (!err) {
		point[0] = 0x04;
		memcpy(point + 1, xy, E2E_XY_LEN);
	}
	kfree(xy);
	if (err) {
		crypto_free_kpp(kpp);
		return ERR_PTR(err);
	}
	return kpp;
}

/* Z = X(d * @hpoint) into @z; -EINVAL for a point that is not on P-256. */
static int e2e_kpp_shared(struct crypto_kpp *kpp, const u8 *hpoint, u8 *z)
{
	u8 *buf;
	int err;

	if (hpoint[0] != 0x04)
		return -EINVAL;
	buf = kmalloc(E2E_XY_LEN + HSMKEY_E2E_Z_LEN, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, hpoint + 1, E2E_XY_LEN);
	err = e2e_kpp_run(kpp, buf, buf + E2E_XY_LEN, HSMKEY_E2E_Z_LEN);
	if (!err)
		memcpy(z, buf + E2E_XY_LEN, HSMKEY_E2E_Z_LEN);
	kfree_sensitive(buf);
	/* The point at infinity comes back as -EFAULT: not a point either. */
	return err == -EFAULT ? -EINVAL : err;
}

void hsmkey_e2e_kek(const u8 *z, const u8 *kpoint, const u8 *hpoint,
		    const struct hsmkey_kid *kid, u32 type, u8 *kek)
{
	__be32 v = cpu_to_be32(kid->version), t = cpu_to_be32(type);
	struct crypto_aes_ctx aes;
	u8 ctx[E2E_CTX_LEN], *p = ctx;
	u8 h[SHA256_DIGEST_SIZE];

	memcpy(p, e2e_label, sizeof(e2e_label));
	p += sizeof(e2e_label);
	memcpy(p, kpoint, HSMKEY_E2E_POINT_LEN);
	p += HSMKEY_E2E_POINT_LEN;
	memcpy(p, hpoint, HSMKEY_E2E_POINT_LEN);
	p += HSMKEY_E2E_POINT_LEN;
	memcpy(p, kid->id, HSMKEY_ID_LEN);
	p += HSMKEY_ID_LEN;
	memcpy(p, &v, 4);
	memcpy(p + 4, &t, 4);
	sha256(ctx, sizeof(ctx), h);
	aes_expandkey(&aes, z, HSMKEY_E2E_Z_LEN);
	aes_encrypt(&aes, kek, h);
	aes_encrypt(&aes, kek + 16, h + 16);
	memzero_explicit(&aes, sizeof(aes));
	memzero_explicit(h, sizeof(h));
}

/*
 * RFC 3394 unwrap of @blob into @material (@keylen bytes), zeroed on
 * failure.  kw(aes) writes its output before it checks it: the buffer it
 * writes is wiped on every path.
 */
static int e2e_kw_unwrap(struct crypto_skcipher *kw, const u8 *kek,
			 const u8 *blob, unsigned int keylen, u8 *material)
{
	DECLARE_CRYPTO_WAIT(wait);
	struct skcipher_request *req;
	u8 iv[E2E_KW_IV_LEN];
	struct scatterlist sg;
	u8 *buf;
	int err = -ENOMEM;

	memset(material, 0, keylen);
	buf = kmemdup(blob + E2E_KW_IV_LEN, keylen, GFP_KERNEL);
	req = skcipher_request_alloc(kw, GFP_KERNEL);
	if (!buf || !req)
		goto out;
	memcpy(iv, blob, sizeof(iv));	/* A: the first semiblock */
	err = crypto_skcipher_setkey(kw, kek, HSMKEY_E2E_KEK_LEN);
	if (err)
		goto out;
	sg_init_one(&sg, buf, keylen);
	skcipher_request_set_callback(req, CRYPTO_TFM_REQ_MAY_SLEEP,
				      crypto_req_done, &wait);
	skcipher_request_set_crypt(req, &sg, &sg, keylen, iv);
	err = crypto_wait_req(crypto_skcipher_decrypt(req), &wait);
	if (!err)
		memcpy(material, buf, keylen);
out:
	skcipher_request_free(req);
	kfree_sensitive(buf);
	memzero_explicit(iv, sizeof(iv));
	return err;
}

/* The whole chain on the vector: 0, -ENOPKG, or -ELIBBAD (wrong answer). */
static int e2e_kat(void)
{
	const struct hsmkey_kid kid = {
		.id = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
		.version = HSMKEY_E2E_KAT_VERSION,
	};
	u8 kpoint[HSMKEY_E2E_POINT_LEN], z[HSMKEY_E2E_Z_LEN];
	u8 kek[HSMKEY_E2E_KEK_LEN], material[64];
	struct crypto_skcipher *kw;
	struct crypto_kpp *kpp;
	int err, i;

	kw = e2e_alloc_kw();
	if (IS_ERR(kw))
		return PTR_ERR(kw);
	kpp = e2e_kpp_new(hsmkey_e2e_kat_priv, kpoint);
	err = PTR_ERR_OR_ZERO(kpp);
	if (!err) {
		err = e2e_kpp_shared(kpp, hsmkey_e2e_kat_hpoint, z);
		if (!err)
			pr_info("end-to-end delivery over %s and %s\n",
				crypto_tfm_alg_driver_name(crypto_kpp_tfm(kpp)),
				crypto_skcipher_driver_name(kw));
		crypto_free_kpp(kpp);
	}
	if (!err) {
		hsmkey_e2e_kek(z, kpoint, hsmkey_e2e_kat_hpoint, &kid,
			       HSMKEY_TYPE_AES_256_XTS, kek);
		err = e2e_kw_unwrap(kw, kek, hsmkey_e2e_kat_blob, sizeof(material),
				    material);
	}
	for (i = 0; !err && i < sizeof(material); i++)
		if (material[i] != 0x40 + i)
			err = -EBADMSG;
	if (!err)
		pr_info("end-to-end delivery self-test passed\n");
	crypto_free_skcipher(kw);
	memzero_explicit(z, sizeof(z));
	memzero_explicit(kek, sizeof(kek));
	memzero_explicit(material, sizeof(material));
	if (err && err != -ENOPKG && err != -ENOMEM) {
		pr_err("end-to-end delivery self-test failed (%d): disabled\n",
		       err);
		err = -ELIBBAD;
	}
	return err;
}

/*
 * The known answer once, before the first ephemeral key is given out, as
 * the crypto API tests its algorithms before their first use.
 */
static int e2e_selftest(void)
{
	int err;

	mutex_lock(&hsmkey_e2e_lock);
	if (e2e_kat_result > 0 || (e2e_kat_result == -ENOPKG &&
				   time_after_eq(jiffies, e2e_kat_retry))) {
		err = e2e_kat();
		if (err != -ENOMEM)
			e2e_kat_result = err;
		/* A missing algorithm may be loaded later: look again, not at every call. */
		e2e_kat_retry = jiffies + E2E_KAT_RETRY;
	} else {
		err = e2e_kat_result;
	}
	mutex_unlock(&hsmkey_e2e_lock);
	return err;
}

bool hsmkey_e2e_available(void)
{
	return !e2e_selftest();
}

/* With the lock held: the live slot of @handle, or NULL. */
static struct e2e_slot *e2e_slot_find(u64 handle)
{
	int i;

	lockdep_assert_held(&hsmkey_e2e_lock);
	for (i = 0; i < HSMKEY_E2E_SLOTS; i++) {
		struct e2e_slot *s = &e2e_slots[i];

		if (s->kpp && s->handle == handle &&
		    time_before(jiffies, s->expires))
			return s;
	}
	return NULL;
}

static void e2e_slot_free(struct e2e_slot *s)
{
	lockdep_assert_held(&hsmkey_e2e_lock);
	crypto_free_kpp(s->kpp);	/* wipes the private key */
	memset(s, 0, sizeof(*s));
}

/* With the lock held: reap expired slots, wake up at the next expiry. */
static void e2e_rearm(void)
{
	unsigned long next = 0;
	bool any = false;
	int i;

	lockdep_assert_held(&hsmkey_e2e_lock);
	for (i = 0; i < HSMKEY_E2E_SLOTS; i++) {
		struct e2e_slot *s = &e2e_slots[i];

		if (!s->kpp)
			continue;
		if (!time_before(jiffies, s->expires)) {
			e2e_slot_free(s);
		} else if (!any || time_before(s->expires, next)) {
			next = s->expires;
			any = true;
		}
	}
	if (any)
		mod_delayed_work(system_wq, &e2e_reap_work, next - jiffies);
}

static void e2e_reap(struct work_struct *work)
{
	mutex_lock(&hsmkey_e2e_lock);
	e2e_rearm();
	mutex_unlock(&hsmkey_e2e_lock);
}

int hsmkey_e2e_new(const u8 *priv, u32 uses, u32 ttl, u64 *handle, u8 *point)
{
	struct e2e_slot *s = &e2e_slots[0];
	struct crypto_kpp *kpp;
	int err, i;

	if (!uses || uses > HSMKEY_BATCH_MAX || ttl > HSMKEY_E2E_TTL)
		return -EINVAL;
	err = e2e_selftest();
	if (err)
		return err;
	kpp = e2e_kpp_new(priv, point);
	if (IS_ERR(kpp))
		return PTR_ERR(kpp);

	mutex_lock(&hsmkey_e2e_lock);
	/* A free slot, else the oldest key's. */
	for (i = 0; i < HSMKEY_E2E_SLOTS && s->kpp; i++)
		if (!e2e_slots[i].kpp || e2e_slots[i].handle < s->handle)
			s = &e2e_slots[i];
	if (s->kpp)
		e2e_slot_free(s);
	s->kpp = kpp;
	s->handle = ++e2e_last_handle;
	s->uses = uses;
	s->expires = jiffies + (ttl ?: HSMKEY_E2E_TTL) * HZ;
	memcpy(s->point, point, HSMKEY_E2E_POINT_LEN);
	*handle = s->handle;
	e2e_rearm();
	mutex_unlock(&hsmkey_e2e_lock);
	return 0;
}

void hsmkey_e2e_reset(void)
{
	int i;

	mutex_lock(&hsmkey_e2e_lock);
	for (i = 0; i < HSMKEY_E2E_SLOTS; i++)
		if (e2e_slots[i].kpp)
			e2e_slot_free(&e2e_slots[i]);
	mutex_unlock(&hsmkey_e2e_lock);
}

void hsmkey_e2e_exit(void)
{
	cancel_delayed_work_sync(&e2e_reap_work);
	hsmkey_e2e_reset();
}

int hsmkey_e2e_shared(u64 handle, const u8 *hpoint, u8 *kpoint, u8 *z)
{
	struct e2e_slot *s;
	int err = -ESTALE;

	mutex_lock(&hsmkey_e2e_lock);
	s = e2e_slot_find(handle);
	if (s) {
		memcpy(kpoint, s->point, HSMKEY_E2E_POINT_LEN);
		err = e2e_kpp_shared(s->kpp, hpoint, z);
	}
	mutex_unlock(&hsmkey_e2e_lock);
	return err;
}

struct hsmkey_e2e_batch *hsmkey_e2e_batch_new(void)
{
	struct hsmkey_e2e_batch *b = kzalloc(sizeof(*b), GFP_KERNEL);

	if (!b)
		return ERR_PTR(-ENOMEM);
	b->kw = e2e_alloc_kw();
	if (IS_ERR(b->kw)) {
		struct crypto_skcipher *kw = b->kw;

		kfree(b);
		return ERR_CAST(kw);
	}
	return b;
}

void hsmkey_e2e_batch_free(struct hsmkey_e2e_batch *b)
{
	if (!b)
		return;
	crypto_free_skcipher(b->kw);
	kfree_sensitive(b);		/* the Zs */
}

/* Key versions of the batch under @handle so far. */
static u32 e2e_batch_uses(const struct hsmkey_e2e_batch *b, u64 handle)
{
	u32 uses = 0;
	int i;

	for (i = 0; i < b->n; i++)
		if (b->peer[i].handle == handle)
			uses += b->peer[i].uses;
	return uses;
}

/* The batch's entry for (@handle, @hpoint), Z computed on first sight. */
static struct e2e_peer *e2e_batch_peer(struct hsmkey_e2e_batch *b,
				       u64 handle, const u8 *hpoint)
{
	struct e2e_peer *p;
	int i, err;

	for (i = 0; i < b->n; i++) {
		p = &b->peer[i];
		if (p->handle == handle &&
		    !memcmp(p->hpoint, hpoint, HSMKEY_E2E_POINT_LEN))
			return p;
	}
	if (b->n == HSMKEY_E2E_SLOTS)
		return ERR_PTR(-E2BIG);
	p = &b->peer[b->n];
	err = hsmkey_e2e_shared(handle, hpoint, p->kpoint, p->z);
	if (err)
		return ERR_PTR(err);
	p->handle = handle;
	memcpy(p->hpoint, hpoint, HSMKEY_E2E_POINT_LEN);
	b->n++;
	return p;
}

/* Has @handle @uses left?  The ephemeral key may have gone meanwhile. */
static int e2e_check_uses(u64 handle, u32 uses)
{
	struct e2e_slot *s;
	int err;

	mutex_lock(&hsmkey_e2e_lock);
	s = e2e_slot_find(handle);
	err = s && s->uses >= uses ? 0 : -ESTALE;
	mutex_unlock(&hsmkey_e2e_lock);
	return err;
}

int hsmkey_e2e_unwrap(struct hsmkey_e2e_batch *b,
		      const struct hsmkey_e2e_wrapped *w,
		      const struct hsmkey_kid *kid, u32 type, u8 *material)
{
	unsigned int keylen = hsmkey_type_keylen(type);
	u8 kek[HSMKEY_E2E_KEK_LEN];
	struct e2e_peer *p;
	int err;

	memset(material, 0, keylen);
	p = e2e_batch_peer(b, w->handle, w->hpoint);
	if (IS_ERR(p))
		return PTR_ERR(p);
	err = e2e_check_uses(w->handle, e2e_batch_uses(b, w->handle) + 1);
	if (err)
		return err;
	hsmkey_e2e_kek(p->z, p->kpoint, p->hpoint, kid, type, kek);
	err = e2e_kw_unwrap(b->kw, kek, w->blob, keylen, material);
	memzero_explicit(kek, sizeof(kek));
	if (!err)
		p->uses++;
	return err;
}

int hsmkey_e2e_commit(struct hsmkey_e2e_batch *b, int (*insert)(void *arg),
		      void *arg)
{
	struct e2e_slot *s;
	int i, err = 0;

	mutex_lock(&hsmkey_e2e_lock);
	for (i = 0; i < b->n && !err; i++) {
		s = e2e_slot_find(b->peer[i].handle);
		if (!s || s->uses < e2e_batch_uses(b, b->peer[i].handle))
			err = -ESTALE;
	}
	if (!err)
		err = insert(arg);
	/* Charged whether or not it expired since: the keys are in. */
	for (i = 0; i < HSMKEY_E2E_SLOTS && !err; i++) {
		s = &e2e_slots[i];
		if (!s->kpp)
			continue;
		s->uses -= min(s->uses, e2e_batch_uses(b, s->handle));
		if (!s->uses)
			e2e_slot_free(s);
	}
	mutex_unlock(&hsmkey_e2e_lock);
	return err;
}
