/* SPDX-License-Identifier: GPL-2.0 */
/* Making the kernel hold a key and follow the keystore (provision.c). */
#ifndef HSMKEY_PROVISION_H
#define HSMKEY_PROVISION_H

#include <stdbool.h>
#include <stddef.h>
#include "kernel.h"
#include "request.h"

/* The kernel, for a request that needs it: the module must be loaded. */
int open_kernel(struct request *rq, struct kernel **k);
/* The kernel if the module is loaded (*@k NULL if not); reachable or fail. */
int reach_kernel(struct request *rq, struct kernel **k);
/* Make the kernel hold @key (unsealed), with what it spent before; EEXIST is success. */
int provision(struct request *rq, struct kernel *k, const struct ks_key *key);
/* ... every version of @meta's key. */
int provision_versions(struct request *rq, struct kernel *k, const struct ks_key *meta);
/* Version @v of @meta's key, sealed, into *@out: 1, 0 if there is none, or -errno (worded). */
int provision_read_sealed(struct request *rq, const struct ks_key *meta, uint32_t v,
			  struct ks_key *out);
/*
 * End to end (a backend with ->wrap_for_kernel): @n versions (sealed; one
 * ephemeral key of the kernel's, wrapped by the backend, unwrapped by the
 * kernel), their verifiers filled in from the backend's round.
 */
int provision_e2e(struct request *rq, struct kernel *k, struct ks_key *keys, size_t n);
/* ... the kernel's part: @w wrapped for ephemeral key @handle; *@done added so far. */
int provision_e2e_add(struct request *rq, struct kernel *k, const struct ks_key *keys,
		      const struct ks_wrapped *w, size_t n, uint64_t handle,
		      const uint8_t *hpoint, size_t *done);
/*
 * Start-up loading (batch.c): versions of many keys gathered into batches
 * of up to HSMKEY_BATCH_MAX, each delivered under one ephemeral key of the
 * kernel's, the HSM wrapping one while the kernel takes the one before
 * (a backend with ->wrap_for_kernel; otherwise each key is provisioned at
 * once).  new: @held (kernel_held(), sorted; borrowed until free) says
 * which versions the kernel has, if @have_held; else each is asked for.
 * add: 0 or -errno for @meta's key (none of its versions gathered then:
 * the caller counts it); flush: what is gathered, the number of keys that
 * failed.
 */
struct provision_batch;
struct provision_batch *provision_batch_new(struct request *rq, struct kernel *k,
					    const struct kernel_key *held, size_t nheld, bool have_held);
int provision_batch_add(struct provision_batch *pb, const struct ks_key *meta);
int provision_batch_flush(struct provision_batch *pb);
void provision_batch_free(struct provision_batch *pb);
/* Reply with @key and provision it if the module is there. */
int reply_and_provision(struct request *rq, const struct ks_key *key);
/* Revoke (with @remove: remove) every version in the kernel, its usage kept first. */
int kernel_revoke_all(struct request *rq, struct kernel *k, const struct ks_key *key,
		      bool remove);
/* Disable or enable every version the kernel holds. */
int kernel_state_all(struct request *rq, struct kernel *k, const struct ks_key *key,
		     bool enable);
/* Store what the kernel has spent of version @kk of our key @name. */
void save_usage(struct daemon *d, const char *name, const struct kernel_key *kk);
/* What the kernel holds, from one dump, sorted by id and version (free *@held). */
int kernel_held(struct kernel *k, struct kernel_key **held, size_t *n);
const struct kernel_key *kernel_held_find(const struct kernel_key *held, size_t n,
					  const uint8_t *id, uint32_t version);

#endif
