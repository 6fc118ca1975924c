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

/* Make sure the kernel holds @key (unsealed); EEXIST is success. */
int provision(struct request *rq, struct kernel *k, const struct ks_key *key)
{
	int r = kernel_add(k, key, instance(rq->d));

	if (r == -EEXIST)
		return 0;
	if (r)
		return fail(rq, r, "the kernel refused key '%s': %s%s%s", key->name,
			    strerror(-r), *kernel_errmsg(k) ? ": " : "",
			    kernel_errmsg(k));
	log_info("provisioned key %s version %u", key->name, key->version);
	return 0;
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

	if (!kk->bytes && !kk->requests)
		return;
	r = d->be->ops->set_usage(d->be, name, kk->version, kk->bytes, kk->requests);
	if (r < 0)
		log_warn("cannot store the usage of key %s version %u: %s", name, kk->version,
			 strerror(-r));
}

/* Revoke (or with @remove, remove) every version of @key in the kernel. */
int kernel_revoke_all(struct request *rq, struct kernel *k, const struct ks_key *key,
			     bool remove)
{
	for (uint32_t v = 1; v <= key->current; v++) {
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
	for (uint32_t v = 1; v <= key->current; v++) {
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
