// SPDX-License-Identifier: GPL-2.0
/*
 * The embedded keystore as a backend (backend.h): its table of operations,
 * each taken under the keystore's lock.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

/*
 * The embedded keystore as a backend.  The daemon calls backends from its
 * worker threads; the keystore takes one operation at a time (each is a
 * few file operations), so a master key replacement never meets a read.
 */
static struct keystore *be_ks(struct backend *b)
{
	return (struct keystore *)((char *)b - offsetof(struct keystore, be));
}

#ifdef HSMKEY_CRASH_POINTS
/*
 * Test builds only: $HSMKEY_TEST_SLOW seconds of delay in creating or
 * rotating a key whose name starts with "slow", as a remote HSM or key
 * server may take: the daemon must go on serving everything else.
 */
static void emb_test_slow(const char *name)
{
	const char *s = getenv("HSMKEY_TEST_SLOW");

	if (s && !strncmp(name, "slow", 4))
		sleep((unsigned int)atoi(s));
}
#else
static inline void emb_test_slow(const char *name)
{
	(void)name;
}
#endif

#define EMB_LOCKED(b, call) ({				\
	struct keystore *__ks = be_ks(b);		\
	int __r;					\
	pthread_mutex_lock(&__ks->lock);		\
	__r = (call);					\
	pthread_mutex_unlock(&__ks->lock);		\
	__r;						\
})

static int emb_create(struct backend *b, const char *name, int type,
		      const uint8_t *material, struct ks_key *out)
{
	emb_test_slow(name);
	return EMB_LOCKED(b, ks_create(be_ks(b), name, type, material, out));
}

static int emb_get(struct backend *b, const char *name, uint32_t version,
		   bool unseal, struct ks_key *out)
{
	return EMB_LOCKED(b, ks_get_version(be_ks(b), name, version, unseal, out));
}

static int emb_list(struct backend *b, const char *after,
		    int (*fn)(const struct ks_key *key, void *arg), void *arg)
{
	return EMB_LOCKED(b, ks_list(be_ks(b), after, fn, arg));
}

static int emb_set_state(struct backend *b, const char *name, int state, int64_t delete_at)
{
	return EMB_LOCKED(b, ks_set_state_at(be_ks(b), name, state, delete_at));
}

static int emb_cancel_deletion(struct backend *b, const char *name, struct ks_key *out)
{
	return EMB_LOCKED(b, ks_cancel_deletion(be_ks(b), name, out));
}

static int emb_set_usage(struct backend *b, const char *name, uint32_t version,
			 uint64_t used_bytes, uint64_t used_requests)
{
	return EMB_LOCKED(b, ks_set_usage(be_ks(b), name, version, used_bytes, used_requests));
}

static int emb_record_load(struct backend *b, const char *name, void *buf, size_t len)
{
	return EMB_LOCKED(b, ks_record_load(be_ks(b), name, buf, len));
}

static int emb_record_store(struct backend *b, const char *name, const void *buf, size_t len)
{
	return EMB_LOCKED(b, ks_record_store(be_ks(b), name, buf, len));
}

static int emb_set_policy(struct backend *b, const char *name, const struct ks_policy *p)
{
	return EMB_LOCKED(b, ks_set_policy(be_ks(b), name, p));
}

static int emb_rotate(struct backend *b, const char *name, const uint8_t *material,
		      struct ks_key *out)
{
	emb_test_slow(name);
	return EMB_LOCKED(b, ks_rotate(be_ks(b), name, material, out));
}

static int emb_destroy(struct backend *b, const char *name)
{
	return EMB_LOCKED(b, ks_destroy(be_ks(b), name));
}

static int emb_derive(struct backend *b, const char *label, uint8_t *out, size_t len)
{
	return EMB_LOCKED(b, ks_derive(be_ks(b), label, out, len));
}

static const uint8_t *emb_instance(struct backend *b)
{
	return ks_instance(be_ks(b));
}

static void emb_close(struct backend *b)
{
	ks_close(be_ks(b));
}

static const struct backend_ops embedded_ops = {
	.name = "embedded",
	.destruction = "the key file is removed and every other key is re-sealed under a new master key, so a copy of the file kept from before cannot be opened with the master key that remains (a backup of the old master key and the file together still can)",
	.create = emb_create,
	.get = emb_get,
	.list = emb_list,
	.set_state = emb_set_state,
	.cancel_deletion = emb_cancel_deletion,
	.set_policy = emb_set_policy,
	.set_usage = emb_set_usage,
	.rotate = emb_rotate,
	.destroy = emb_destroy,
	.derive = emb_derive,
	.record_load = emb_record_load,
	.record_store = emb_record_store,
	.instance = emb_instance,
	.close = emb_close,
};

int embedded_open(const char *dir, const char *passfile, unsigned int flags,
		  struct backend **out)
{
	struct keystore *ks;
	int r = ks_open_flags(dir, passfile, (flags & BACKEND_ACCEPT ? KS_OPEN_ACCEPT : 0) |
			      (flags & BACKEND_UPGRADE ? KS_OPEN_UPGRADE : 0), &ks);

	if (r)
		return r;
	ks->be.ops = &embedded_ops;
	*out = &ks->be;
	return 0;
}

