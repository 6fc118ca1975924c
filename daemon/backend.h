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
 */
#ifndef HSMKEY_BACKEND_H
#define HSMKEY_BACKEND_H

#include "keystore.h"

struct backend;

struct backend_ops {
	const char *name;
	const char *destruction;
	int (*create)(struct backend *b, const char *name, int type,
		      const uint8_t *material, struct ks_key *out);
	int (*get)(struct backend *b, const char *name, uint32_t version,
		   bool unseal, struct ks_key *out);
	/*
	 * Every readable key (current version, unsealed to authenticate it);
	 * @fn may call the backend's other operations.
	 */
	int (*list)(struct backend *b,
		    int (*fn)(const struct ks_key *key, void *arg), void *arg);
	/* @delete_at: for KS_PENDING_DELETION, when destruction is due. */
	int (*set_state)(struct backend *b, const char *name, int state,
			 int64_t delete_at);
	int (*set_policy)(struct backend *b, const char *name,
			  const struct ks_policy *p);
	/* A new current version: @material, or random when NULL. */
	int (*rotate)(struct backend *b, const char *name,
		      const uint8_t *material, struct ks_key *out);
	int (*destroy)(struct backend *b, const char *name);
	/* @len bytes for @label's purpose (the audit log's keys), stable for
	 * the life of the backend's storage. */
	int (*derive)(struct backend *b, const char *label, uint8_t *out,
		      size_t len);
	/* The random 128-bit identity that owns this storage's kernel keys. */
	const uint8_t *(*instance)(struct backend *b);
	void (*close)(struct backend *b);
};

struct backend {
	const struct backend_ops *ops;
};

/* The embedded keystore in @dir; with @passfile, a passphrase master key. */
int embedded_open(const char *dir, const char *passfile, struct backend **out);

#endif
