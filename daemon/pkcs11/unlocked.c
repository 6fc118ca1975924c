// SPDX-License-Identifier: GPL-2.0
/*
 * The PKCS#11 backend's operations served without the store's lock:
 * deliveries to the kernel (->wrap_for_kernel), audit checkpoint
 * signatures (the event loop's), the token's random bytes, health and
 * comebacks.  Each goes to the
 * member in use (p11_hsm()) and, if it is unreachable, fails over and
 * tries the next (a delivery unless its caller says not to); the helper
 * serves each caller on a session of its own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "adapter.h"
#include "util.h"

/*
 * Audit checkpoints signed by hsmkey:audit, so the daemon holds no signing
 * key.  Neither the store nor its lock is needed (the event loop signs):
 * the helper serves the call on a session of its own, as for p11_wrap().
 */
int p11_sign_audit(struct backend *b, const void *msg, size_t len, uint8_t *sig,
		   uint8_t *pub)
{
	struct p11be *p = be_p11(b);
	struct hsm *h;
	int r;

	/*
	 * Each token's hsmkey:audit is its own (a token cannot give its
	 * EdDSA key to another): with several, or a backup token to restore
	 * from, the checkpoint key is derived from hsmkey:root, which they
	 * all hold, so it is the same whichever is in use and after a
	 * restore (audit.c then holds it, as for a token without EdDSA).
	 */
	if (p->st.nm > 1 || *p->cfg.pkcs11_backup_token)
		return -EOPNOTSUPP;
	do {
		h = p11_hsm(p);
		r = hsm_sign(h, msg, len, sig, pub);
	} while (p11_unreachable(r) && p11_failover_from(p, h));
	return r;
}

_Static_assert(HSM_GCM_TAG_LEN == 16 && HSM_MAC_LEN == 32, "ks_use_len()'s lengths");
_Static_assert(HSM_USE_SEAL == (int)KS_USE_SEAL && HSM_USE_OPEN == (int)KS_USE_OPEN &&
	       HSM_USE_MAC == (int)KS_USE_MAC && HSM_USE_SIGN == (int)KS_USE_SIGN &&
	       HSM_USE_PUBLIC == (int)KS_USE_PUBLIC, "hsm_use_op follows ks_use_op");

/* The KMS API's AES-GCM, HMAC and signatures in the token (hsm_key_use()): no store lock, as for p11_wrap(). */
int p11_use(struct backend *b, const struct ks_key *key, const struct ks_use *u, uint8_t *out,
	    size_t *outlen)
{
	struct p11be *p = be_p11(b);
	struct hsm_use hu = {
		.id = key->id, .version = key->version, .type = key->type,
		.op = (enum hsm_use_op)u->op, .flags = u->flags & KS_SIGN_PSS ? HSM_SIGN_PSS : 0,
		.iv = u->iv, .aad = u->aad, .aad_len = u->aad_len, .in = u->in, .len = u->len,
	};
	size_t want, n;
	struct hsm *h;
	int r;

	if (u->op == KS_USE_OPEN && u->len < HSM_GCM_TAG_LEN)
		return -EBADMSG;
	want = ks_use_len(u, *outlen);
	if (want > *outlen)
		return -ENOBUFS;
	do {
		h = p11_hsm(p);
		n = want;
		r = hsm_key_use(h, &hu, out, &n);
	} while (p11_unreachable(r) && p11_failover_from(p, h));
	if (!r && u->op <= KS_USE_MAC && n != want) {
		wipe(out, n);
		r = -EIO;
	}
	if (r && r != -EBADMSG)
		log_warn("pkcs11: key '%s' version %u could not be used in the token: %s",
			 key->name, key->version, hsm_error());
	if (!r)
		*outlen = n;
	return r;
}

_Static_assert(KS_RANDOM_MAX <= HSM_RANDOM_MAX, "the backend's random bytes exceed the token's");

int p11_random(struct backend *b, uint8_t *out, size_t len)
{
	struct p11be *p = be_p11(b);
	struct hsm *h;
	int r;

	do {
		h = p11_hsm(p);
		r = hsm_random(h, out, len);
	} while (p11_unreachable(r) && p11_failover_from(p, h));
	if (r == -EOPNOTSUPP && !__atomic_exchange_n(&p->no_rng_said, true, __ATOMIC_RELAXED))
		log_warn("pkcs11: %s: random bytes and data keys come from the kernel's generator",
			 hsm_error());
	else if (r && r != -EOPNOTSUPP)
		log_warn("pkcs11: the token gave no random bytes: %s", hsm_error());
	return r;
}

int p11_wrap(struct backend *b, const uint8_t *kpoint, const struct ks_wrap_req *req,
	     size_t n, uint8_t *hpoint, struct ks_wrapped *out, unsigned int flags)
{
	struct p11be *p = be_p11(b);
	struct hsm_wrap_req *hr;
	struct hsm_wrapped *hw;
	struct hsm *h;
	uint64_t gen;
	int r;

	if (!n || n > HSMKEY_BATCH_MAX)
		return -EINVAL;
	hr = calloc(n, sizeof(*hr));
	hw = calloc(2 * n, sizeof(*hw));
	if (!hr || !hw) {
		free(hr);
		free(hw);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(hr[i].id, req[i].id, HSMKEY_ID_LEN);
		hr[i].version = req[i].version;
		hr[i].type = req[i].type;
	}
	/* No store lock: the helper serves each worker on a session of its own. */
	gen = p11_verifiers_lookup(&p->vc, p11_hsm(p), hr, n, hw + n);
	do {
		h = p11_hsm(p);
		r = hsm_wrap_for_kernel(h, kpoint, hr, n, hpoint, hw,
					flags & KS_WRAP_IN_TURN ? HSM_WRAP_IN_TURN : 0);
	} while (p11_unreachable(r) && !(flags & KS_WRAP_NO_FAILOVER) && p11_failover_from(p, h));
	if (!r)
		p11_verifiers_keep(&p->vc, gen, hr, n, hw);
	for (size_t i = 0; !r && i < n; i++) {
		const struct hsm_wrapped *v = hr[i].flags & HSM_WRAP_NO_VERIFIER ? &hw[n + i] : &hw[i];

		memcpy(out[i].blob, hw[i].blob, sizeof(out[i].blob));
		out[i].len = hw[i].len;
		memcpy(out[i].verifier, v->verifier, sizeof(out[i].verifier));
	}
	wipe(hw, 2 * n * sizeof(*hw));
	free(hr);
	free(hw);
	return r;
}

/*
 * The verifier cache opened before the first round needs it: on a thread
 * of the caller's while it gathers that round (daemon/batch.c).  Opening
 * it reads the whole file and asks the token for its key; a round that
 * looks it up meanwhile has the token derive its verifiers instead.
 */
void p11_wrap_prepare(struct backend *b)
{
	struct p11be *p = be_p11(b);

	p11_verifiers_open(&p->vc, p11_hsm(p));
}

/* "; tokens: token a (in use), token b (in step)" when there are several; "" if busy. */
static void p11_members_note(struct p11be *p, char *buf, size_t len)
{
	char m[512] = "";

	/* Not waiting behind a long operation (a member brought up to date). */
	if (p->st.nm > 1 && !pthread_mutex_trylock(&p->lock)) {
		p11_members_describe(p, m, sizeof(m));
		pthread_mutex_unlock(&p->lock);
	}
	snprintf(buf, len, "%s%s", *m ? "; tokens: " : "", m);
}

int p11_health(struct backend *b, char *why, size_t len)
{
	struct p11be *p = be_p11(b);
	struct hsm *h = p11_hsm(p);
	enum hsm_state s = hsm_state(h, why, len);
	char m[600];

	if (s == HSM_BAD_PIN)
		return -EACCES;
	if (s != HSM_UP)
		return -EHOSTDOWN;
	/*
	 * The token answers but the store is not loaded (it was down, or
	 * the tokens that answer cannot vouch for it): try now, unless an
	 * operation is under way (it loads it).  Only worker threads and
	 * the start ask for health, never the event loop.
	 */
	if (!p->st.loaded && !pthread_mutex_trylock(&p->lock)) {
		p11_ready(p);
		pthread_mutex_unlock(&p->lock);
		h = p11_hsm(p);
	}
	if (!p->st.loaded && p11_unreachable(p->last)) {
		snprintf(why, len, "%s", p->down_why);
		return -EHOSTDOWN;
	}
	if (!p->st.loaded && p->last && !p11_unreachable(p->last)) {
		snprintf(why, len, "the records in the state directory do not match the token: %s",
			 strerror(-p->last));
		return p->last;
	}
	p11_members_note(p, m, sizeof(m));
	if (p->orphans)
		snprintf(why, len, "token %s; %zu key object(s) in it belong to no key (hsmkeyd's log lists them)%s",
			 hsm_label(h), p->orphans, m);
	else
		snprintf(why, len, "token %s%s", hsm_label(h), m);
	return 0;
}

bool p11_undeliverable(struct backend *b, char *why, size_t len)
{
	struct hsm *h = p11_hsm(be_p11(b));
	char names[256];

	if (!hsm_lacks(h, names, sizeof(names)))
		return false;
	snprintf(why, len, "keys cannot be delivered to the kernel from token %s: it lacks %s",
		 hsm_label(h), names);
	return true;
}

/* Any member's comeback: one that was out of step is brought up to date at the next operation. */
unsigned int p11_comebacks(struct backend *b)
{
	return p11_members_ups(be_p11(b));
}

int p11_comebacks_fd(struct backend *b)
{
	return be_p11(b)->upfd;
}

void p11_retry(struct backend *b)
{
	struct p11be *p = be_p11(b);

	for (size_t i = 0; i < p->st.nm; i++)
		hsm_retry(p->st.m[i].hsm);
}
