/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Key storage backends.  The daemon reaches key storage only through this
 * table of operations; the embedded keystore (keystore.c) is the first
 * implementation, a PKCS#11 HSM and a KMIP key server come next.
 *
 * Contract for every backend:
 *  - Names are valid_name() strings; a key is a name with a type, a 128-bit
 *    id never reused, versions 1..current (rotate adds one), a state, a
 *    policy, and for each version a secret verifier and the material.
 *  - get() with @unseal fills the secrets of the version asked for (0: the
 *    current one); the caller wipes them with ks_key_wipe().  Without it,
 *    no secret is read.
 *  - Errors are -errno: -ENOENT no such key, -EEXIST name taken, -EBADMSG
 *    or -EINVAL a stored key that does not authenticate or parse (the
 *    backend logs which), -E2BIG too many versions, -EIO anything else.
 *  - Calls may block (an HSM or key server can take seconds); the daemon
 *    makes them only from its worker threads (worker.h), never from the
 *    event loop, and from several at once: a backend serialises what it
 *    must itself.
 *  - destroy() removes every version for good; ->destruction says in one
 *    sentence what that guarantees for this backend.
 *  - State rules are the backend's to keep, so no caller can break them:
 *    revoked is terminal (set_state() from KS_REVOKED to anything but
 *    KS_PENDING_DELETION is -EPERM); scheduling a deletion remembers the
 *    state before it (->prior_state) and cancel_deletion() restores it.
 *  - What a backend stores about a key (state, versions, policy, usage)
 *    is authenticated, and an older copy restored in its place is refused
 *    (-EBADMSG, logged as a rollback).
 *  - A backend whose storage can be unreachable (an HSM) says so with
 *    -EHOSTDOWN or -ETIMEDOUT, never -ENOENT: a caller must take the key
 *    as unknown, not as gone (reconciliation would revoke it).
 *  - With ->wrap_for_kernel set, the daemon never holds the material:
 *    get(..., unseal) fills the verifier but never the material (it stays
 *    zero), and the kernel gets each version wrapped end to end instead
 *    (uapi/linux/hsmkey.h).  create()/rotate() with @material (a raw
 *    import) is then the only path where material passes through the
 *    daemon (a wrapped import goes by ->import_wrapped()).
 */
#ifndef HSMKEY_BACKEND_H
#define HSMKEY_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "key.h"

struct backend;

/* One version to wrap for the kernel (->wrap_for_kernel), and the result. */
struct ks_wrap_req {
	const uint8_t *id;
	uint32_t version;
	int type;
};

#define KS_WRAP_NO_FAILOVER	1u	/* ->wrap_for_kernel's flags */
#define KS_WRAP_IN_TURN		2u	/* wrapped after the calls in turn before it */

struct ks_wrapped {
	uint8_t blob[HSMKEY_MATERIAL_MAX + 8];	/* RFC 3394: 8 bytes more than the key */
	uint32_t len;
	uint8_t verifier[HSMKEY_VERIFIER_LEN];	/* the version's, as get() would give */
};

/* The public half of an import wrapping key kept in the storage. */
struct ks_import_key {
	uint8_t n[512];		/* RSA modulus, big endian */
	uint32_t nlen;
	uint8_t e[8];		/* public exponent */
	uint32_t elen;
	const char *algorithm;	/* "RSAES_OAEP_SHA_256" or "RSAES_OAEP_SHA_1" (MGF1 alike) */
};

/* What backup() and restore() did. */
struct ks_copy_report {
	char token[64];			/* the backup token's label */
	uint64_t generation;		/* the key store's, now in every token copied to */
	size_t copied, destroyed;	/* key versions */
	size_t missing;			/* restore: versions the records name, the backup lacks */
	char missing_names[512];	/* "k4 v1, k1 v3" (as many as fit) */
	char why[256];			/* an error, worded for the operator */
};

/*
 * A daemon key's version used where the storage keeps it (->use): the
 * local KMS API's AES-GCM, HMAC-SHA256 and signatures (key_use.h has the
 * shapes).
 */
enum ks_use_op {
	KS_USE_SEAL = 1,	/* AES-GCM: ciphertext || 16-byte tag */
	KS_USE_OPEN,		/* the reverse; -EBADMSG if it does not open */
	KS_USE_MAC,		/* HMAC-SHA256: 32 bytes */
	KS_USE_SIGN,		/* an identity key's signature (key_use.h) */
	KS_USE_PUBLIC,		/* an identity key's public key, raw (key_use.h) */
};

#define KS_SIGN_PSS	1u	/* ks_use.flags: RSA-PSS, not PKCS #1 v1.5 */
#define KS_RANDOM_MAX	1024	/* ->random's most bytes in one call */

struct ks_use {
	enum ks_use_op op;
	uint32_t flags;			/* SIGN: KS_SIGN_* */
	const uint8_t *iv;		/* SEAL, OPEN: 12 bytes */
	const uint8_t *aad;
	size_t aad_len;
	const uint8_t *in;
	size_t len;
};

/*
 * The length @u makes: AES-GCM's and HMAC's exactly (OPEN: @u->len is at
 * least the tag's 16); a signature's or a public key's at most @room.
 */
static inline size_t ks_use_len(const struct ks_use *u, size_t room)
{
	return u->op == KS_USE_SEAL ? u->len + 16 : u->op == KS_USE_OPEN ? u->len - 16 :
	       u->op == KS_USE_MAC ? 32 : room;
}

struct backend_ops {
	const char *name;
	const char *destruction;
	const char *adopt_form;
	const char *storage;	/* "the HSM", "the KMIP server": for messages; NULL: never away */
	/* Whether the storage keeps keys of @type (key.h); NULL: every type. */
	bool (*keeps)(int type);
	/*
	 * @u with version @key->version of key @key (its id and type as get()
	 * gave them) inside the storage, the output into @out (*@outlen bytes
	 * of room; set to the length made, which key_use.h gives): the
	 * material never in the daemon.  -EBADMSG: a ciphertext that does not
	 * open.  Safe beside any other operation.  NULL: the daemon unseals
	 * the version and computes it itself (identity keys included).
	 */
	int (*use)(struct backend *b, const struct ks_key *key, const struct ks_use *u,
		   uint8_t *out, size_t *outlen);
	/*
	 * @len bytes (1 to KS_RANDOM_MAX) of the storage's own random
	 * generator (an HSM's), for the local KMS API's random bytes and data
	 * keys; -EOPNOTSUPP: it has none.  Safe beside any other operation.
	 * NULL, or -EOPNOTSUPP: the kernel's (getrandom(2), key_use_random()).
	 */
	int (*random)(struct backend *b, uint8_t *out, size_t len);
	int (*create)(struct backend *b, const char *name, int type,
		      const uint8_t *material, struct ks_key *out);
	int (*get)(struct backend *b, const char *name, uint32_t version,
		   bool unseal, struct ks_key *out);
	/*
	 * Every readable key (current version, unsealed to authenticate it)
	 * in name order, those after @after (NULL: from the first); a
	 * positive return from @fn stops the walk and is returned.  @fn may
	 * call the backend's other operations.
	 */
	int (*list)(struct backend *b, const char *after,
		    int (*fn)(const struct ks_key *key, void *arg), void *arg);
	/* @delete_at: for KS_PENDING_DELETION, when destruction is due. */
	int (*set_state)(struct backend *b, const char *name, int state,
			 int64_t delete_at);
	/* Back to the state before the deletion was scheduled; @out: the key. */
	int (*cancel_deletion)(struct backend *b, const char *name,
			       struct ks_key *out);
	int (*set_policy)(struct backend *b, const char *name,
			  const struct ks_policy *p);
	/*
	 * What the kernel has spent of version @version (never decreases:
	 * a smaller figure than the stored one is ignored).
	 */
	int (*set_usage)(struct backend *b, const char *name, uint32_t version,
			 uint64_t used_bytes, uint64_t used_requests);
	/* A new current version: @material, or random when NULL. */
	int (*rotate)(struct backend *b, const char *name,
		      const uint8_t *material, struct ks_key *out);
	int (*destroy)(struct backend *b, const char *name);
	/* @len bytes for @label's purpose (the audit log's keys), stable for
	 * the life of the backend's storage. */
	int (*derive)(struct backend *b, const char *label, uint8_t *out,
		      size_t len);
	/*
	 * The audit log's checkpoint signature: Ed25519 over @msg by a key
	 * the storage keeps and never gives out, the signature into @sig (64
	 * bytes), that key's public half into @pub (32).  No lock the other
	 * operations hold: the event loop may call it.  NULL: the audit log
	 * signs with a key it derives (->derive()) and so holds itself.
	 */
	int (*sign_audit)(struct backend *b, const void *msg, size_t len, uint8_t *sig,
			  uint8_t *pub);
	/*
	 * Small named records of the daemon's own (the audit anchor), kept
	 * authenticated and rollback-protected with the keys.  load: the
	 * length read, -ENOENT if none was stored.
	 */
	int (*record_load)(struct backend *b, const char *name, void *buf,
			   size_t len);
	int (*record_store)(struct backend *b, const char *name,
			    const void *buf, size_t len);
	/* The random 128-bit identity that owns this storage's kernel keys. */
	const uint8_t *(*instance)(struct backend *b);
	/*
	 * Wrap @n versions (n <= HSMKEY_BATCH_MAX) for the kernel's ephemeral
	 * key @kpoint (HSMKEY_E2E_POINT_LEN bytes): the backend's point into
	 * @hpoint, each blob and the version's verifier (get()'s, made in
	 * the same round) into @out.  NULL for a backend whose material the
	 * daemon holds.  Safe beside any other operation.  @flags:
	 * KS_WRAP_NO_FAILOVER, fail with the token's error rather than fail
	 * over to another (which takes the storage's lock: for a caller
	 * whose other thread may hold it); KS_WRAP_IN_TURN, wrapped only
	 * once the calls in turn made before it are (a pipeline's rounds:
	 * the next sent before one is done waits in the backend, not in the
	 * daemon), its deadline counting from its turn.
	 */
	int (*wrap_for_kernel)(struct backend *b, const uint8_t *kpoint,
			       const struct ks_wrap_req *req, size_t n,
			       uint8_t *hpoint, struct ks_wrapped *out, unsigned int flags);
	/*
	 * Ahead of a run of wrap_for_kernel() calls, make ready what they
	 * need whatever the keys (PKCS#11: the verifier cache, opened through
	 * the token), so that the first of them does not wait for it.  Safe
	 * beside any other operation, wrap_for_kernel() included, which goes
	 * on without what is not ready yet.  NULL: nothing to make ready.
	 */
	void (*wrap_prepare)(struct backend *b);
	/*
	 * Take as key @name (version 1) a key the storage already holds,
	 * made by other tools: @from names it, in the form @adopt_form says
	 * (a pkcs11: URI, kmip:UID).  NULL: the backend cannot.
	 */
	int (*adopt)(struct backend *b, const char *name, int type, const char *from,
		     struct ks_key *out);
	/*
	 * An import wrapping key the storage keeps and unwraps with itself
	 * (NULL: the daemon keeps one, wrapkey.c).  import_key(): its public
	 * half (@renew: a new pair; what was wrapped to the old one no longer
	 * imports).  import_wrapped(): key @name, version 1, from @blob
	 * wrapped to it, as create() makes one, the material never in the
	 * daemon; -EKEYREJECTED: @blob does not unwrap; -EMSGSIZE, -ENODATA:
	 * the key in it is longer, shorter than @type's (nothing is kept).
	 */
	int (*import_key)(struct backend *b, bool renew, struct ks_import_key *out);
	int (*import_wrapped)(struct backend *b, const char *name, int type,
			      const uint8_t *blob, size_t len, struct ks_key *out);
	/*
	 * 0 while the storage is reachable; otherwise -EHOSTDOWN (or
	 * -EACCES for a refused PIN) and why, worded for the operator.  NULL:
	 * always reachable.
	 */
	int (*health)(struct backend *b, char *why, size_t len);
	/*
	 * Why keys cannot be delivered to the kernel from this storage,
	 * worded for the operator: true and @why, or false when they can
	 * (as far as is known).  NULL: they always can.
	 */
	bool (*undeliverable)(struct backend *b, char *why, size_t len);
	/*
	 * A number that changes each time the storage comes back after being
	 * unreachable (the event loop then reconciles).  NULL: never away.
	 */
	unsigned int (*comebacks)(struct backend *b);
	/* A descriptor readable when comebacks() may have changed (to poll). */
	int (*comebacks_fd)(struct backend *b);
	/*
	 * Changes the storage made on its own since the last call (a key its
	 * KMIP server revoked, revoked here since): each given to @fn once,
	 * for the audit log; then, if some could not be kept to be given,
	 * @fn once with @name NULL (any key may have been revoked).  Called
	 * from the event loop when comebacks_fd is readable.  NULL: the
	 * storage makes none.
	 */
	int (*storage_events)(struct backend *b,
			      void (*fn)(void *arg, const char *name, uint32_t version,
					 const char *why),
			      void *arg);
	/*
	 * Copies between HSMs (NULL: the storage has no backup token).
	 * backup(): the backup token brought up to date with the key store
	 * (it joins it if new: the store's secrets and every key version
	 * copied into it wrapped, token to token; versions destroyed since
	 * the last backup destroyed in it).  restore(): every token of the
	 * key store, all new and empty, given the store's secrets and every
	 * version the backup token holds, and the records taken as they are.
	 */
	int (*backup)(struct backend *b, struct ks_copy_report *out);
	int (*restore)(struct backend *b, struct ks_copy_report *out);
	/* SIGHUP: try an unreachable storage again now (NULL: nothing to do). */
	void (*retry)(struct backend *b);
	void (*close)(struct backend *b);
};

struct backend {
	const struct backend_ops *ops;
};

static inline bool backend_keeps(const struct backend *b, int type)
{
	return !b->ops->keeps || b->ops->keeps(type);
}

/* The embedded keystore in @dir; with @passfile, a passphrase master key. */
/*
 * BACKEND_ACCEPT: what the backend stores is taken as current even where
 * it does not match its rollback protection (the operator's recovery,
 * hsmkeyd --accept-keystore).
 */
#define BACKEND_ACCEPT	1u
/*
 * BACKEND_LEAVE_OUT: a key store of several tokens is loaded as the tokens
 * that answer vouch for it, and those that were in step with them but do
 * not answer are left out for good (hsmkeyd --leave-out-absent).
 */
#define BACKEND_LEAVE_OUT	2u
/*
 * BACKEND_UPGRADE: a key store of an earlier release, whose files are not
 * authenticated, is upgraded, taken as found (hsmkeyd --upgrade-keystore);
 * without it, such a store does not open.
 */
#define BACKEND_UPGRADE		4u
int embedded_open(const char *dir, const char *passfile, unsigned int flags,
		  struct backend **out);

struct config;
/*
 * A PKCS#11 token (daemon/pkcs11/): metadata in @dir/pkcs11, authenticated
 * by the token.  Succeeds while the token is down (the backend is then
 * degraded, and ->health() says why).
 */
int pkcs11_open(const char *dir, const struct config *cfg, unsigned int flags,
		struct backend **out);
/*
 * A KMIP key server (daemon/kmip/store.h): this host's records in
 * @dir/kmip.  Succeeds while the server is down (->health() says so).
 */
int kmip_open(const char *dir, const struct config *cfg, unsigned int flags,
	      struct backend **out);

#endif
