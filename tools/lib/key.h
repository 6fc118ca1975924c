/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Keys as the daemon, its backends and the CLI speak of them.
 */
#ifndef HSMKEY_KEY_H
#define HSMKEY_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/hsmkey.h>

enum ks_state {
	KS_ACTIVE = 1,
	KS_REVOKED = 2,
	KS_DISABLED = 3,
	KS_PENDING_DELETION = 4,	/* disabled until ->delete_at, then destroyed */
};

#define KS_VERSIONS_MAX	32

/*
 * Identity keys: private keys that sign TLS handshakes and CSRs.  The
 * daemon keeps and uses them; they never reach the kernel, so their types
 * are the daemon's own, numbered apart from enum hsmkey_key_type (never
 * renumbered: key files name types, key ids and tokens carry them).  The
 * material is the private scalar (ECDSA, big endian, the curve's length),
 * the seed (Ed25519, RFC 8032), or for RSA the public exponent (4 bytes)
 * then the primes p > q (each half the modulus), big endian: the rest of
 * the private key is computed from them where it is used.
 */
enum ks_identity_type {
	KS_TYPE_ECDSA_P256 = 64,	/* 32 bytes */
	KS_TYPE_ECDSA_P384,		/* 48 */
	KS_TYPE_ED25519,		/* 32 */
	KS_TYPE_RSA_2048,		/* 4 + 2 x 128 */
	KS_TYPE_RSA_3072,		/* 4 + 2 x 192 */
};

static inline bool ks_type_identity(int type)
{
	return type >= KS_TYPE_ECDSA_P256 && type <= KS_TYPE_RSA_3072;
}

static inline bool ks_type_rsa(int type)
{
	return type == KS_TYPE_RSA_2048 || type == KS_TYPE_RSA_3072;
}

/*
 * The most material a key has (an rsa-3072 key's): the daemon's own.  The
 * kernel's keys have at most HSMKEY_MATERIAL_MAX, and only those go there.
 */
#define KS_MATERIAL_MAX	388

/*
 * Application keys of the local KMS API (daemon/kms.c): AES keys the
 * daemon encrypts and decrypts with itself, in AES-GCM with a random
 * nonce.  They never reach the kernel either: an AF_ALG user choosing
 * its own nonces under the same key could repeat one of the daemon's.
 */
enum ks_kms_type {
	KS_TYPE_KMS_AES_128 = 80,	/* 16 bytes */
	KS_TYPE_KMS_AES_256,		/* 32 */
	/*
	 * MAC keys (daemon/kms_mac.c): HMAC-SHA256 keys the daemon makes
	 * and checks MACs with itself.  Not ks_type_kms(): they neither
	 * encrypt nor count GCM invocations.
	 */
	KS_TYPE_HMAC_SHA256,		/* 32 */
};

static inline bool ks_type_kms(int type)
{
	return type == KS_TYPE_KMS_AES_128 || type == KS_TYPE_KMS_AES_256;
}

static inline bool ks_type_mac(int type)
{
	return type == KS_TYPE_HMAC_SHA256;
}

/* The daemon's own keys: used in hsmkeyd, never given to the kernel. */
static inline bool ks_type_daemon(int type)
{
	return ks_type_identity(type) || ks_type_kms(type) || ks_type_mac(type);
}

/*
 * What a grant allows: the KMS operations on a daemon key, which the
 * kernel's policy fields (uids, gids) do not cover.  No grant, no use:
 * root and the admin group too need one (hsmkeyctl policy --grant).
 */
enum ks_op {
	KS_OP_ENCRYPT = 1u << 0,
	KS_OP_DECRYPT = 1u << 1,
	KS_OP_SIGN = 1u << 2,
	KS_OP_VERIFY = 1u << 3,
	/*
	 * Data keys made under the key or unwrapped into the kernel (the
	 * plaintext of one it made: decrypt).
	 */
	KS_OP_DATA_KEY = 1u << 4,
	KS_OP_MAC = 1u << 5,	/* generate-mac and verify-mac */
};

#define KS_OPS_ALL	(KS_OP_ENCRYPT | KS_OP_DECRYPT | KS_OP_SIGN | KS_OP_VERIFY | KS_OP_DATA_KEY | \
			 KS_OP_MAC)
#define KS_OPS_KMS	(KS_OP_ENCRYPT | KS_OP_DECRYPT | KS_OP_DATA_KEY)

/* Whether keys of @type do @ops: KMS keys encrypt, identity keys sign, MAC keys MAC. */
static inline bool ks_op_fits(int type, uint32_t ops)
{
	uint32_t can = ks_type_kms(type) ? KS_OPS_KMS :
		       ks_type_identity(type) ? KS_OP_SIGN | KS_OP_VERIFY :
		       ks_type_mac(type) ? KS_OP_MAC : 0;

	return ops && !(ops & ~can);
}
#define KS_GRANTS_MAX	16

struct ks_grant {
	uint32_t ops;		/* enum ks_op bits, never 0 */
	uint32_t id;		/* a uid, or a gid when @group */
	bool group;
};

const char *ks_op_name(uint32_t op);	/* one bit */
int ks_op_from_name(const char *name);	/* the bit, or -EINVAL */

/*
 * What the kernel enforces for a key (see uapi/linux/hsmkey.h), plus
 * whether the daemon provisions it at start.  Ids are numeric, resolved
 * from names when set; zero means no restriction.
 */
struct ks_policy {
	uint32_t nuids, ngids;
	uint32_t uids[HSMKEY_POLICY_IDS_MAX];
	uint32_t gids[HSMKEY_POLICY_IDS_MAX];
	uint32_t algs;			/* HSMKEY_ALG_* */
	uint32_t max_bindings;
	int64_t not_before, not_after;	/* seconds since the epoch */
	uint64_t max_bytes, max_requests;
	bool no_load_at_start;
	uint32_t ngrants;
	struct ks_grant grants[KS_GRANTS_MAX];
};

#define KS_REF_MAX	128	/* struct ks_key's ref, with its NUL */

struct ks_key {
	char name[HSMKEY_NAME_MAX];
	int type;
	uint8_t id[HSMKEY_ID_LEN];
	uint32_t version;		/* the version this describes */
	uint32_t current;		/* the newest version */
	int state;
	int64_t created;		/* of the key */
	int64_t version_created;	/* of this version */
	int64_t delete_at;		/* KS_PENDING_DELETION: when */
	/*
	 * Edits are detected: the key store's MAC covers all of it, and the
	 * seal's associated data all but the grants (embedded/record.c).
	 */
	bool has_policy;
	struct ks_policy policy;
	int prior_state;		/* KS_PENDING_DELETION: the state before */
	/* Spent by the kernel (GCM's invocation limit survives restarts). */
	uint64_t used_bytes, used_requests;
	/*
	 * Where this version's material is kept when not with the key (a
	 * KMIP server's Unique Identifier), "" when it is: a backend that
	 * keeps material elsewhere fetches it for get(..., true).
	 */
	char ref[KS_REF_MAX];
	/* Secrets: only after get(..., true); wipe with ks_key_wipe(). */
	uint8_t verifier[HSMKEY_VERIFIER_LEN];
	uint8_t material[KS_MATERIAL_MAX];
};

/* Revoked, or revoked and now waiting for its deletion: final either way. */
static inline bool ks_key_revoked(const struct ks_key *key)
{
	return key->state == KS_REVOKED ||
	       (key->state == KS_PENDING_DELETION && key->prior_state == KS_REVOKED);
}

const char *ks_state_name(int state);
int ks_state_from_name(const char *s);	/* -EINVAL: none */
void ks_key_wipe(struct ks_key *key);
void ks_token(const struct ks_key *key, struct hsmkey_token *tok);

struct json_object;
struct json_object *ks_policy_to_json(const struct ks_policy *p);
int ks_policy_from_json(struct json_object *o, struct ks_policy *p);

#endif
