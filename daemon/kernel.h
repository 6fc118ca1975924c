/* SPDX-License-Identifier: GPL-2.0 */
/* hsmkeyd's side of the generic netlink family "hsmkey". */
#ifndef HSMKEY_KERNEL_H
#define HSMKEY_KERNEL_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/hsmkey.h>
#include "key.h"

struct kernel;

struct kernel_key {
	uint8_t id[HSMKEY_ID_LEN];
	uint32_t version;
	char name[HSMKEY_NAME_MAX];
	int type;
	int state;
	uint32_t bindings;
	bool has_owner;
	uint8_t owner[HSMKEY_OWNER_LEN];
	uint64_t bytes, requests;
	int delivery;			/* enum hsmkey_delivery; 0: not said (old module) */
};

struct kernel_info {
	char version[32];
	uint32_t nkeys;
	char inner_xts[64];
	uint32_t sessions;		/* kTLS session keys waiting for their socket */
	uint32_t sessions_bound;	/* and bound to one */
};

/*
 * A socket of the family: reads (get, list, info, audit get) go out on it.
 * Changes (add, set policy, set state, revoke, remove, audit set) go out
 * on the one socket registered on /dev/hsmkey, which the first change
 * opens and registers and which is held for the daemon's life, one
 * change at a time whatever @k the caller passes; the kernel's message
 * still reaches kernel_errmsg(@k).
 * -ENOENT means the module is not loaded, and only that: any other error
 * (the module is there but cannot be reached) is a failure.
 */
int kernel_open(struct kernel **out);
/* Give up /dev/hsmkey and its socket and wipe the transport key (at exit). */
void kernel_device_release(void);
void kernel_close(struct kernel *k);
/* The last error message the kernel attached (extack), or "". */
const char *kernel_errmsg(struct kernel *k);
/* Provision @key, recorded as owned by keystore instance @owner. */
int kernel_add(struct kernel *k, const struct ks_key *key, const uint8_t *owner);
/*
 * End-to-end delivery (uapi/linux/hsmkey.h).  kernel_ephemeral() asks the
 * module for an ephemeral ECDH key that may unwrap @uses versions: its
 * handle and public point (HSMKEY_E2E_POINT_LEN bytes).  -ENOPKG: the
 * kernel cannot do end-to-end delivery.  kernel_add_e2e() provisions @key
 * (its verifier, never its material) with @wrapped (@wlen bytes, AES-KW
 * under the key derived from ephemeral @handle and the HSM's @hpoint).
 * -ESTALE: the ephemeral key expired or was used up; ask for another.
 */
int kernel_ephemeral(struct kernel *k, uint32_t uses, uint64_t *handle, uint8_t *point);
int kernel_add_e2e(struct kernel *k, const struct ks_key *key, const uint8_t *owner,
		   uint64_t handle, const uint8_t *hpoint, const uint8_t *wrapped,
		   uint32_t wlen);
/*
 * kernel_add_e2e_batch(): the first *@sent of @keys (as many as one message
 * holds, at least one) in one KEY_ADD batch under ephemeral key @handle:
 * the kernel computes the shared secret once for them, and takes all of
 * them or none.
 */
struct kernel_e2e_key {
	const struct ks_key *key;	/* its verifier, never its material */
	const uint8_t *wrapped;
	uint32_t wlen;
};

int kernel_add_e2e_batch(struct kernel *k, const struct kernel_e2e_key *keys, size_t n,
			 const uint8_t *owner, uint64_t handle, const uint8_t *hpoint,
			 size_t *sent);
int kernel_set_policy(struct kernel *k, const struct ks_key *key);
int kernel_set_state(struct kernel *k, const uint8_t *id, uint32_t version, bool enable);
int kernel_revoke(struct kernel *k, const uint8_t *id, uint32_t version);
/* Revoke and take the version out of the kernel's table. */
int kernel_remove(struct kernel *k, const uint8_t *id, uint32_t version);
int kernel_get(struct kernel *k, const uint8_t *id, uint32_t version,
	       struct kernel_key *out);
int kernel_list(struct kernel *k,
		int (*fn)(const struct kernel_key *key, void *arg), void *arg);
int kernel_info(struct kernel *k, struct kernel_info *out);

/*
 * kTLS session keys (uapi/linux/hsmkey.h, "kTLS session tokens").
 * kernel_session_add_pair() hands the module two 16- or 32-byte session
 * keys (a kTLS socket's two directions), wrapped under the transport
 * key, usable by this process for @ttl seconds (0: the module's
 * default), in one round trip: both are added or neither; their tokens
 * and handles in @out and @out2.  kernel_session_get_pair() says what
 * became of two (state, records; -ENOENT if either is gone);
 * kernel_session_revoke() withdraws a waiting one or stops a bound one.
 */
struct kernel_session {
	unsigned int len;
	uint8_t token[32];
	uint32_t handle;
	uint32_t state;			/* enum hsmkey_session_state */
	uint64_t records;
};

int kernel_session_add_pair(struct kernel *k, const uint8_t *key, const uint8_t *key2,
			    unsigned int len, unsigned int ttl, struct kernel_session *out,
			    struct kernel_session *out2);
int kernel_session_get_pair(struct kernel *k, uint32_t handle, uint32_t handle2,
			    struct kernel_session *out, struct kernel_session *out2);
int kernel_session_revoke(struct kernel *k, uint32_t handle);

/* Keystore instance @owner's audit anchor: read it (seq 0: never set) ... */
int kernel_audit_get(struct kernel *k, const uint8_t *owner, uint64_t *seq, uint8_t *head);
/* ... or move it forward to @seq (>= 1) and @head. */
int kernel_audit_set(struct kernel *k, const uint8_t *owner, uint64_t seq,
		     const uint8_t *head);

/* The events group. */
struct kernel_event {
	uint32_t type;
	uint64_t seq;
	uint64_t suppressed;	/* held back by the rate limit since load */
	uint8_t id[HSMKEY_ID_LEN];
	uint32_t version, uid, pid, err;
	char comm[16];
};

int kernel_events_open(struct kernel **out);
int kernel_events_fd(struct kernel *k);
/* Read what is queued; -ENOBUFS when the socket overran (events lost). */
int kernel_events_read(struct kernel *k, int (*fn)(const struct kernel_event *e, void *arg),
		       void *arg);

#endif
