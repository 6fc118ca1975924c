// SPDX-License-Identifier: GPL-2.0
/*
 * One path for "make the kernel hold key X, version V" and for making the
 * kernel follow a change the keystore recorded, used by every request,
 * start-up and reconciliation.  One rule for the module: kernel_open()'s
 * -ENOENT (hsmkey.ko not loaded) lets a change the kernel need not follow
 * go on (reach_kernel()); anything else fails the request, saying so.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "kms_keys.h"
#include "kms_kernel.h"
#include "provision.h"
#include "util.h"

static int unreachable(struct request *rq, int r)
{
	return fail(rq, r, "hsmkey.ko is loaded but cannot be reached: %s (is hsmkeyd in another network namespace, or denied netlink?)",
		    strerror(-r));
}

/* For a request that needs the kernel: the module must be there. */
int open_kernel(struct request *rq, struct kernel **k)
{
	int r = kernel_open(k);

	if (r == -ENOENT)
		return fail(rq, r, "hsmkey.ko is not loaded: load it with 'modprobe hsmkey' (or insmod hsmkey.ko)");
	return r ? unreachable(rq, r) : 0;
}

/*
 * For a change the kernel must follow if it holds the key: 0 and *@k, or
 * 0 and NULL when the module is absent (nothing to follow), or the
 * request fails.
 */
int reach_kernel(struct request *rq, struct kernel **k)
{
	int r = kernel_open(k);

	*k = r ? NULL : *k;
	return r && r != -ENOENT ? unreachable(rq, r) : 0;
}

static void e2e_added(const struct ks_key *key)
{
	log_info("provisioned key %s version %u (hsm-wrapped)", key->name, key->version);
}

/*
 * A batch of a few (a key's versions): each named.  A start-up's batch of
 * hundreds: one line, each key only when debugging.
 */
static void e2e_added_batch(const struct ks_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		log_msg(n <= 8 ? 6 : 7, "provisioned key %s version %u (hsm-wrapped)", keys[i].name,
			keys[i].version);
	log_info("the kernel took %zu key versions in one batch (hsm-wrapped)", n);
}

/*
 * As many versions as a message holds in one KEY_ADD batch: the kernel
 * computes the ECDH secret once per batch instead of once per version.
 * A batch is all or nothing: on any refusal but -ESTALE the versions go
 * one by one (provision_e2e_add), where each error is worded and EEXIST (a
 * version another worker added meanwhile) is success.
 */
static int e2e_add_batches(struct kernel *k, const uint8_t *owner, const struct ks_key *keys,
			   const struct ks_wrapped *w, size_t n, uint64_t handle,
			   const uint8_t *hpoint, size_t *done)
{
	struct kernel_e2e_key e[HSMKEY_BATCH_MAX];
	size_t sent;
	int r = 0;

	while (!r && n - *done > 1) {
		size_t m = n - *done;

		for (size_t i = 0; i < m; i++)
			e[i] = (struct kernel_e2e_key){ &keys[*done + i], w[*done + i].blob,
							w[*done + i].len };
		r = kernel_add_e2e_batch(k, e, m, owner, handle, hpoint, &sent);
		if (!r) {
			e2e_added_batch(&keys[*done], sent);
			*done += sent;
		}
	}
	if (r && r != -ESTALE)
		log_warn("the kernel refused a batch of %zu key version(s) (%s%s%s): adding them one by one",
			 n - *done, strerror(-r), *kernel_errmsg(k) ? ": " : "", kernel_errmsg(k));
	return r == -ESTALE ? r : 0;
}

/*
 * End to end (a backend with ->wrap_for_kernel): one ephemeral key of the
 * kernel's for @n versions, the backend wraps each under the key derived
 * for it, the kernel unwraps.  The ephemeral key may expire between the
 * calls (-ESTALE): once, the versions not yet added go again under a new
 * one.  @keys: sealed; the verifiers come with the blobs.
 */
int provision_e2e_add(struct request *rq, struct kernel *k, const struct ks_key *keys,
		      const struct ks_wrapped *w, size_t n, uint64_t handle,
		      const uint8_t *hpoint, size_t *done)
{
	int r = e2e_add_batches(k, instance(rq->d), keys, w, n, handle, hpoint, done);

	for (; !r && *done < n; (*done)++) {
		const struct ks_key *key = &keys[*done];

		r = kernel_add_e2e(k, key, instance(rq->d), handle, hpoint, w[*done].blob,
				   w[*done].len);
		if (r == -ESTALE)
			return r;
		if (r && r != -EEXIST)
			return fail(rq, r, "the kernel refused key '%s' version %u (wrapped by the HSM): %s%s%s",
				    key->name, key->version, strerror(-r),
				    *kernel_errmsg(k) ? ": " : "", kernel_errmsg(k));
		if (!r)
			e2e_added(key);
		r = 0;
	}
	return r;
}

/* @keys' verifiers are filled in from the backend's round. */
int provision_e2e(struct request *rq, struct kernel *k, struct ks_key *keys, size_t n)
{
	struct backend *be = rq->d->be;
	uint8_t kpoint[HSMKEY_E2E_POINT_LEN], hpoint[HSMKEY_E2E_POINT_LEN];
	struct ks_wrap_req *req = calloc(n, sizeof(*req));
	struct ks_wrapped *w = calloc(n, sizeof(*w));
	size_t done = 0;
	uint64_t handle;
	int r = req && w ? 0 : -ENOMEM;

	for (size_t i = 0; !r && i < n; i++)
		req[i] = (struct ks_wrap_req){ keys[i].id, keys[i].version, keys[i].type };
	for (int attempt = 0; !r && done < n; attempt++) {
		r = kernel_ephemeral(k, (uint32_t)(n - done), &handle, kpoint);
		if (r == -ENOPKG) {
			r = fail(rq, r, "hsmkey.ko cannot take keys wrapped end to end (no ecdh-nist-p256 or kw(aes) in this kernel): the pkcs11 backend's keys cannot be provisioned");
			break;
		}
		if (r) {
			r = fail(rq, r, "the kernel gave no ephemeral key: %s", kernel_errmsg(k));
			break;
		}
		r = be->ops->wrap_for_kernel(be, kpoint, req + done, n - done, hpoint, w + done, 0);
		if (r) {
			r = fail(rq, r, "the HSM did not wrap key '%s' for the kernel: %s",
				 keys[done].name, strerror(-r));
			break;
		}
		for (size_t i = done; i < n; i++)
			memcpy(keys[i].verifier, w[i].verifier, sizeof(keys[i].verifier));
		r = provision_e2e_add(rq, k, keys, w, n, handle, hpoint, &done);
		if (r == -ESTALE && !attempt)
			r = 0;	/* expired between the calls: once more */
		else if (r == -ESTALE)
			r = fail(rq, r, "the kernel's ephemeral key expired twice while key '%s' was delivered",
				 keys[done].name);
	}
	if (w)
		wipe(w, n * sizeof(*w));
	free(req);
	free(w);
	return r;
}

/* Make sure the kernel holds @key (unsealed); EEXIST is success. */
int provision(struct request *rq, struct kernel *k, const struct ks_key *key)
{
	struct ks_key copy;
	int r;

	if (ks_type_daemon(key->type))
		return 0;	/* hsmkeyd's own: never the kernel's */
	if (rq->d->be->ops->wrap_for_kernel) {
		copy = *key;
		r = provision_e2e(rq, k, &copy, 1);
		ks_key_wipe(&copy);
		return r;
	}
	r = kernel_add(k, key, instance(rq->d));

	if (r == -EEXIST)
		return 0;
	if (r)
		return fail(rq, r, "the kernel refused key '%s': %s%s%s", key->name,
			    strerror(-r), *kernel_errmsg(k) ? ": " : "",
			    kernel_errmsg(k));
	log_info("provisioned key %s version %u", key->name, key->version);
	return 0;
}

int provision_read_sealed(struct request *rq, const struct ks_key *meta, uint32_t v,
			  struct ks_key *out)
{
	int r = rq->d->be->ops->get(rq->d->be, meta->name, v, false, out);

	if (r == -ENOENT)
		return 0;
	if (r)
		return fail(rq, r, "key '%s' version %u cannot be read: %s", meta->name, v,
			    strerror(-r));
	return 1;
}

/*
 * Every version of @meta's key in one batch: no material is read here, and
 * the verifiers come from the backend's wrapping round.
 */
static int provision_versions_e2e(struct request *rq, struct kernel *k, const struct ks_key *meta)
{
	struct ks_key *keys = calloc(meta->current, sizeof(*keys));
	size_t n = 0;
	int r = keys ? 0 : -ENOMEM;

	for (uint32_t v = 1; r >= 0 && v <= meta->current; v++) {
		r = provision_read_sealed(rq, meta, v, &keys[n]);
		n += r > 0;
	}
	r = r < 0 ? r : 0;
	if (!r && n)
		r = provision_e2e(rq, k, keys, n);
	for (size_t i = 0; keys && i < meta->current; i++)
		ks_key_wipe(&keys[i]);
	free(keys);
	return r;
}

/*
 * Provision every version of @meta's key: older versions stay loaded so
 * that data written under them (a volume whose header pins a version's
 * token) stays readable.
 */
int provision_versions(struct request *rq, struct kernel *k, const struct ks_key *meta)
{
	struct ks_key key;
	int r = 0;

	if (ks_type_daemon(meta->type))
		return 0;
	if (rq->d->be->ops->wrap_for_kernel)
		return provision_versions_e2e(rq, k, meta);

	for (uint32_t v = 1; !r && v <= meta->current; v++) {
		r = rq->d->be->ops->get(rq->d->be, meta->name, v, true, &key);
		if (r == -ENOENT) {
			r = 0;
			continue;
		}
		if (r)
			r = fail(rq, r, "key '%s' version %u cannot be read: %s", meta->name, v,
				 strerror(-r));
		else
			r = provision(rq, k, &key);
		ks_key_wipe(&key);
	}
	return r;
}

/*
 * Keep what the kernel has spent of a version of ours (@kk), so that a
 * limit (GCM's 2^32 invocations) survives the kernel forgetting it.
 */
void save_usage(struct daemon *d, const char *name, const struct kernel_key *kk)
{
	int r;

	if ((!kk->bytes && !kk->requests) || kms_kernel_is_data_key(kk->name, NULL, NULL))
		return;	/* nothing spent, or no key of the storage */
	r = d->be->ops->set_usage(d->be, name, kk->version, kk->bytes, kk->requests);
	if (r < 0)
		log_warn("cannot store the usage of key %s version %u: %s", name, kk->version,
			 strerror(-r));
}

/* Revoke (or with @remove, remove) every version of @key in the kernel. */
int kernel_revoke_all(struct request *rq, struct kernel *k, const struct ks_key *key,
			     bool remove)
{
	if (ks_type_kms(key->type))
		return kms_kernel_follow(rq, k, key, KS_REVOKED);	/* its data keys */
	for (uint32_t v = 1; !ks_type_daemon(key->type) && v <= key->current; v++) {
		struct kernel_key kk;
		int r;

		if (!kernel_get(k, key->id, v, &kk))
			save_usage(rq->d, key->name, &kk);
		r = remove ? kernel_remove(k, key->id, v) : kernel_revoke(k, key->id, v);

		if (r && r != -ENOKEY)
			return fail(rq, r, "the kernel did not revoke '%s' version %u: %s",
				    key->name, v, strerror(-r));
	}
	return 0;
}

/* Disable or enable every version the kernel holds. */
int kernel_state_all(struct request *rq, struct kernel *k, const struct ks_key *key,
			    bool enable)
{
	if (ks_type_kms(key->type))
		return kms_kernel_follow(rq, k, key, enable ? KS_ACTIVE : KS_DISABLED);
	for (uint32_t v = 1; !ks_type_daemon(key->type) && v <= key->current; v++) {
		int r = kernel_set_state(k, key->id, v, enable);

		if (r == -ENOKEY || (r == -EKEYREVOKED && !enable))
			continue;	/* not loaded (or gone for good): nothing to do */
		if (r)
			return fail(rq, r, "the kernel did not %s '%s' version %u: %s%s%s",
				    enable ? "enable" : "disable", key->name, v, strerror(-r),
				    *kernel_errmsg(k) ? ": " : "", kernel_errmsg(k));
	}
	return 0;
}

/* Reply with a new key version and provision it if the module is there. */
int reply_and_provision(struct request *rq, const struct ks_key *key)
{
	struct kernel *k;
	int r = 0;

	add_key_fields(rq->reply, key);
	kms_keys_remember(rq->d, key);
	r = reach_kernel(rq, &k);
	if (!r && k)
		r = provision(rq, k, key);
	kernel_close(k);
	return r;
}


static int cmp_kid(const void *a, const void *b)
{
	const struct kernel_key *x = a, *y = b;
	int c = memcmp(x->id, y->id, HSMKEY_ID_LEN);

	return c ? c : (x->version > y->version) - (x->version < y->version);
}

struct held_ctx {
	struct kernel_key *held;
	size_t n, cap;
};

static int collect_held(const struct kernel_key *key, void *arg)
{
	struct held_ctx *h = arg;
	struct kernel_key *tmp;

	if (h->n == h->cap) {
		tmp = realloc(h->held, (h->cap ? 2 * h->cap : 64) * sizeof(*tmp));
		if (!tmp)
			return -ENOMEM;
		h->held = tmp;
		h->cap = h->cap ? 2 * h->cap : 64;
	}
	h->held[h->n++] = *key;
	return 0;
}

int kernel_held(struct kernel *k, struct kernel_key **held, size_t *n)
{
	struct held_ctx h = { 0 };
	int r = kernel_list(k, collect_held, &h);

	if (r) {
		free(h.held);
		return r;
	}
	if (h.n)
		qsort(h.held, h.n, sizeof(*h.held), cmp_kid);
	*held = h.held;
	*n = h.n;
	return 0;
}

const struct kernel_key *kernel_held_find(const struct kernel_key *held, size_t n,
					  const uint8_t *id, uint32_t version)
{
	struct kernel_key want = { .version = version };

	memcpy(want.id, id, HSMKEY_ID_LEN);
	return n ? bsearch(&want, held, n, sizeof(*held), cmp_kid) : NULL;
}
