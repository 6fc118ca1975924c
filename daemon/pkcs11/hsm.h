/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One PKCS#11 token as the daemon sees it.  hsmkeyd never loads a PKCS#11
 * module itself: each token is served by a helper process (hsmkeyd
 * --pkcs11-helper), which loads the module, reads the PIN, logs in and
 * makes every PKCS#11 call.  Software tokens hold a clear key in the
 * calling process while they wrap it, a hung HSM blocks a call for ever,
 * and a module that crashes takes its process with it: the helper is that
 * process, hsmkeyd is not.  The daemon gives each call a deadline; a helper
 * that misses it is killed and started again with backoff.
 *
 * Every call here blocks (it is a round trip to the helper) and is made
 * only from worker threads.  Calls from several threads at once are fine:
 * each takes a connection of its own to the helper, and each connection is
 * a PKCS#11 session of its own there (wraps in turn, HSM_WRAP_IN_TURN,
 * then wait for each other).
 *
 * Errors are -errno, and hsm_error() words the last one of the calling
 * thread for the operator ("token 'a': CKR_DEVICE_ERROR"):
 *   -EHOSTDOWN	the token cannot be reached (helper down, token absent,
 *		device error); keys already in the kernel keep working
 *   -ETIMEDOUT	the helper missed its deadline and was killed
 *   -EACCES	the PIN is wrong, locked, expired or missing: the helper is
 *		not started again until hsm_retry()
 *   -ENOENT	no such object
 *   -EEXIST	an object with that id is there already
 *   -EOPNOTSUPP the token lacks a mechanism this needs (named by hsm_error())
 *   -EMEDIUMTYPE an object to adopt is of the wrong type or length, or
 *		cannot be wrapped (not extractable, or trusted wrapping only)
 *   -EIO	any other PKCS#11 failure
 *
 * Names of the objects in a token (all CKA_TOKEN, CKA_PRIVATE):
 *   a key version	CKO_SECRET_KEY, CKA_ID = key id (16) || be32(version),
 *			CKA_LABEL "hsmkey:NAME:vVERSION"; CKK_AES for AES keys,
 *			CKK_GENERIC_SECRET for XTS; SENSITIVE, EXTRACTABLE only
 *			to be wrapped, no other use allowed; a KMS key
 *			(kms-aes-*) CKK_AES that may also ENCRYPT and DECRYPT,
 *			a MAC key (hmac-sha256) CKK_GENERIC_SECRET that may
 *			also SIGN and VERIFY: hsm_key_use(); an identity key
 *			a key pair made in the token (identity.c), its
 *			private key never extractable, SIGN only
 *   hsmkey:delivery	EC P-256 pair: ECDH with the kernel's ephemeral keys
 *   hsmkey:record	HMAC-SHA256 key: the daemon's records (hsm_mac()); shared
 *   hsmkey:root	HMAC-SHA256 key: hsm_derive() and the verifiers; shared
 *   hsmkey:audit	Ed25519 pair: audit checkpoint signatures; each token's
 *			own (an EdDSA private key cannot be copied, see
 *			HSM_OBJ_AUDIT)
 *   hsmkey:instance	CKO_DATA, 16 bytes: hsm_instance(); shared, and the
 *			mark of a token that has joined a key store
 *   hsmkey:anchor:N	CKO_DATA: the rollback anchor (hsm_anchor_*())
 *   hsmkey:import	RSA-3072 pair: wrapped import (hsm_import_key()), made
 *			at first use; the private key may only unwrap
 *   hsmkey:member	CKO_DATA, 8 random bytes: this token's identity among
 *			the tokens of one key store (hsm_member()), never copied
 *   hsmkey:pair	RSA-3072 pair receiving copies from other tokens
 *			(hsm_pair_pub()); private UNWRAP only, public WRAP only;
 *			CKA_ID: the OAEP hash it unwraps with (1 byte)
 *   hsmkey:peer:M	another token's hsmkey:pair public key, WRAP only, M
 *			its member id in hex; CKA_ID: member || OAEP hash
 *   hsmkey:copy-in	a copy unwrapped but not yet checked (staged); what a
 *			helper that died left so is destroyed at the next open
 * hsm_open() makes the other hsmkey:* objects a token lacks, but with
 * hsm_config.join it makes none of the shared ones (record, root,
 * instance) nor hsmkey:audit while the token lacks hsmkey:instance.
 *
 * "Shared": every token ("member") of one key store holds the same one,
 * copied from the first (hsm_export() of HSM_OBJ_RECORD, HSM_OBJ_ROOT,
 * then hsm_instance_set()).  Per member, never copied: anchor, delivery,
 * import, member, pair, peer, audit.  Tokens made by this code make record
 * and root CKA_SENSITIVE and CKA_EXTRACTABLE, only so that they can be
 * wrapped to another member's hsmkey:pair.  That does not weaken the
 * store: key versions, which protect the data, are extractable for
 * wrapping already, and whoever holds the PIN could already compute any
 * MAC or derivation with root and record, which is all they are for.
 * Tokens made before keep non-extractable ones: such a store cannot gain
 * another member (hsm_export() says so, -EMEDIUMTYPE).
 */
#ifndef HSMKEY_PKCS11_HSM_H
#define HSMKEY_PKCS11_HSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <linux/hsmkey.h>

#define HSM_POINT_LEN		65	/* 0x04 || X || Y, big endian */
#define HSM_MAC_LEN		32
#define HSM_SIG_LEN		64	/* Ed25519 */
#define HSM_PUB_LEN		32
#define HSM_ANCHOR_MAX		256
#define HSM_RSA_MAX		512	/* an RSA modulus or OAEP blob: RSA-4096 at most */
/* RFC 3394 AES-KW of the material: 8 bytes more than the key. */
#define HSM_WRAPPED_MAX		(HSMKEY_MATERIAL_MAX + 8)

struct hsm;

struct hsm_config {
	const char *module;	/* PKCS#11 module path */
	const char *token;	/* RFC 7512 pkcs11: URI selecting one token */
	const char *pin_file;	/* the user PIN; NULL: $CREDENTIALS_DIRECTORY/pkcs11-pin */
	unsigned int timeout_ms;	/* per call; 0: 10 s */
	/* An eventfd hsm_ups_fd() gives (a copy of); 0: one of its own. */
	int ups_fd;
	/*
	 * Test-only: load the module in this process instead of a helper.
	 * It exists so that tests can set the helper beside it (the same
	 * calls; the wrap rate with and without the helper's round trips).
	 */
	bool in_process;
	/*
	 * A token joining a key store (every member but the first): while it
	 * lacks hsmkey:instance, its hsmkey:instance, record, root and audit
	 * are not made (those present are found).  hsm_instance(), hsm_mac(),
	 * hsm_derive(), hsm_sign() and the deliveries' verifiers then fail
	 * -ENOENT ("token 'b' has not joined a key store yet") until the
	 * shared objects are copied in and hsm_instance_set() is done; that
	 * also makes the token's own hsmkey:audit.
	 */
	bool join;
};

enum hsm_state {
	HSM_UP = 1,
	HSM_DOWN,		/* unreachable; retried with backoff */
	HSM_BAD_PIN,		/* refused the PIN; waits for hsm_retry() */
};

/*
 * Start the token's helper.  Succeeds while the token is down (the helper
 * is retried in the background, and calls fail -EHOSTDOWN until it is up);
 * fails only on a configuration that can never work (no module file, a
 * URI that does not parse).
 */
int hsm_open(const struct hsm_config *cfg, struct hsm **out);
void hsm_close(struct hsm *h);
/* The state and, unless up, why ("CKR_DEVICE_ERROR since 12:03:04"). */
enum hsm_state hsm_state(struct hsm *h, char *why, size_t len);
/* Start again now (after SIGHUP: a PIN file that was fixed). */
void hsm_retry(struct hsm *h);
/*
 * How many times the token has come up (each new helper that answered,
 * or each open in_process): a change means it was down meanwhile, and
 * what changed in the daemon then may not have reached the kernel.
 */
unsigned int hsm_ups(struct hsm *h);
/* An eventfd readable after each time it came up (read it to clear it). */
int hsm_ups_fd(struct hsm *h);
/* The calling thread's last error, worded for the operator. */
const char *hsm_error(void);
/* The token's label as it reports it. */
const char *hsm_label(struct hsm *h);
/*
 * What the token lacks for end-to-end delivery to the kernel, as its
 * helper's probe found at its last start: the number of mechanisms, and
 * their names in @buf ("CKM_ECDH1_DERIVE, CKM_AES_KEY_WRAP"); 0 and ""
 * when it lacks none, or has not been up yet.  Known at start, before a
 * delivery fails on it.
 */
int hsm_lacks(struct hsm *h, char *buf, size_t len);

/* A new random key version in the token. */
int hsm_key_generate(struct hsm *h, const uint8_t id[HSMKEY_ID_LEN], uint32_t version,
		     int type, const char *name);
/* A key version from @material (raw import: the daemon held it; wipe it). */
int hsm_key_import(struct hsm *h, const uint8_t id[HSMKEY_ID_LEN], uint32_t version,
		   int type, const char *name, const uint8_t *material);
/*
 * Adopt the one secret key labelled @label that the token already holds
 * (made by the HSM's own tools): its type and length must match @type and
 * it must be extractable; it is made sensitive (*@was_readable: it was not
 * before) and renamed to ours.
 */
int hsm_key_adopt(struct hsm *h, const char *label, const uint8_t id[HSMKEY_ID_LEN],
		  uint32_t version, int type, const char *name, bool *was_readable);
/*
 * A key version from @blob, RSA-OAEP-wrapped to hsmkey:import: unwrapped
 * by the token (C_UnwrapKey) into the object hsm_key_import() would make,
 * so the material is in clear nowhere outside the token.  Also:
 *   -EKEYREJECTED	@blob does not decrypt with the import key
 *   -EMSGSIZE, -ENODATA the key in it is longer, shorter than @type's
 * (no object is left then).
 */
int hsm_key_unwrap(struct hsm *h, const uint8_t id[HSMKEY_ID_LEN], uint32_t version,
		   int type, const char *name, const uint8_t *blob, size_t len);
/* Destroy every object holding the version (C_DestroyObject); -ENOENT: none. */
int hsm_key_destroy(struct hsm *h, const uint8_t id[HSMKEY_ID_LEN], uint32_t version);
/* 0 if the token holds the version, -ENOENT if not. */
int hsm_key_find(struct hsm *h, const uint8_t id[HSMKEY_ID_LEN], uint32_t version);
/*
 * Every key version object in the token (a secret key labelled
 * hsmkey:NAME:vN whose CKA_ID is a version's), ordered by id and version:
 * *@out (free() it) and their count; whether a record names each is the
 * caller's to know.
 */
struct hsm_version {
	uint8_t id[HSMKEY_ID_LEN];
	uint32_t version;
};

int hsm_key_list(struct hsm *h, struct hsm_version **out, size_t *n);

/*
 * End-to-end delivery (uapi/linux/hsmkey.h): for the kernel's ephemeral
 * public key @kpoint, the token's hsmkey:delivery point into @hpoint and
 * each version of @req wrapped under the key both sides derive for it,
 * with the version's verifier (hsm_verifier_label(), derived in the same
 * round: one trip to the helper for a batch, not one per version), or
 * zeros for those flagged HSM_WRAP_NO_VERIFIER.
 * The helper derives and wraps inside the token: no key is in clear here.
 */
struct hsm_wrap_req {
	uint8_t id[HSMKEY_ID_LEN];
	uint32_t version;
	int type;
	uint32_t flags;		/* HSM_WRAP_* */
};

/* The caller has the version's verifier (a cache): none is derived, zeros come back. */
#define HSM_WRAP_NO_VERIFIER	1U

struct hsm_wrapped {
	uint8_t blob[HSM_WRAPPED_MAX];
	uint32_t len;
	uint8_t verifier[HSMKEY_VERIFIER_LEN];
};

#define HSM_VERIFIER_LABEL_MAX	64

/* A key version's id in the token (CKA_ID) and in the verifier cache: id || be32(version). */
#define HSM_VID_LEN	(HSMKEY_ID_LEN + 4)
static inline void hsm_vid(const uint8_t *id, uint32_t version, uint8_t out[HSM_VID_LEN])
{
	memcpy(out, id, HSMKEY_ID_LEN);
	out[HSMKEY_ID_LEN] = version >> 24;
	out[HSMKEY_ID_LEN + 1] = version >> 16;
	out[HSMKEY_ID_LEN + 2] = version >> 8;
	out[HSMKEY_ID_LEN + 3] = version;
}

/* The hsm_derive() label of a version's verifier. */
void hsm_verifier_label(const uint8_t id[HSMKEY_ID_LEN], uint32_t version,
			char label[HSM_VERIFIER_LABEL_MAX]);

/*
 * hsm_wrap_for_kernel()'s @flags.  HSM_WRAP_IN_TURN: the helper wraps
 * such batches one at a time, each waiting there for the one ahead of it
 * (a pipeline sends the next before one is done, daemon/batch.c); the
 * call's deadline, pkcs11_timeout, counts from its turn (proto.h,
 * HP_BEAT), its wait for it held to HSM_TURN_WAIT timeouts.  Other
 * batches are wrapped beside them, each on its session.
 */
#define HSM_WRAP_IN_TURN	1U
#define HSM_TURN_WAIT		4

int hsm_wrap_for_kernel(struct hsm *h, const uint8_t kpoint[HSM_POINT_LEN],
			const struct hsm_wrap_req *req, size_t n,
			uint8_t hpoint[HSM_POINT_LEN], struct hsm_wrapped *out,
			unsigned int flags);

/*
 * The import wrapping key, hsmkey:import: an RSA-3072 pair made in the
 * token at first use (always when @renew: the old pair is destroyed, and
 * what was wrapped to it no longer imports).  Its public key, and the OAEP
 * hash the token unwraps with: SHA-256 where a trial unwrap at first use
 * works, else SHA-1 (SoftHSM 2.6.1 takes only SHA-1, F22); MGF1 with the
 * same hash.
 */
enum hsm_oaep {
	HSM_OAEP_SHA1 = 1,
	HSM_OAEP_SHA256,
};

struct hsm_import_key {
	uint32_t nlen, elen;	/* big-endian, no leading zeros needed */
	uint32_t hash;		/* enum hsm_oaep */
	uint8_t n[HSM_RSA_MAX];
	uint8_t e[8];
};

int hsm_import_key(struct hsm *h, bool renew, struct hsm_import_key *out);

/*
 * Copies between tokens (several tokens as one key store): a key version
 * leaves one token only wrapped (RSA-OAEP) under the hsmkey:pair public
 * key of another, which unwraps it; the daemon carries public keys and
 * blobs, never a key.  The OAEP hash is the receiving token's: SHA-256
 * where its pair unwraps with it (a trial when the pair is made), else
 * SHA-1 (SoftHSM 2.6.1); MGF1 with the same hash.
 */
#define HSM_MEMBER_LEN	8

/* This token's hsmkey:member (made at first use). */
int hsm_member(struct hsm *h, uint8_t out[HSM_MEMBER_LEN]);
/* hsmkey:pair's public key and OAEP hash (the pair is made at first use). */
int hsm_pair_pub(struct hsm *h, struct hsm_import_key *out);
/*
 * Keep @pub (another token's hsm_pair_pub()) as hsmkey:peer:@member.
 * Again with the same key: 0; with another key: -EEXIST.
 */
int hsm_peer_add(struct hsm *h, const uint8_t member[HSM_MEMBER_LEN],
		 const struct hsm_import_key *pub);

/*
 * What a copy holds.  For all but HSM_OBJ_VERSION the id, version, type
 * and name arguments are ignored (give zeros and NULL).
 *   HSM_OBJ_RECORD, HSM_OBJ_ROOT  hsmkey:record, hsmkey:root (RSA-OAEP
 *		as a version; an old token's non-extractable key: -EMEDIUMTYPE)
 *   HSM_OBJ_AUDIT  hsmkey:audit's private key: always -EOPNOTSUPP.  An
 *		Ed25519 private key cannot leave a token by C_WrapKey (RSA-OAEP
 *		carries only secret keys; AES key wrap of its PKCS#8 would do,
 *		but SoftHSM 2.6.1 answers CKR_KEY_NOT_WRAPPABLE for CKK_EC_EDWARDS
 *		and cannot unwrap one either), so each member has its own audit
 *		key, and the daemon must pin each member's public key.
 */
enum hsm_obj {
	HSM_OBJ_VERSION = 1,
	HSM_OBJ_RECORD,
	HSM_OBJ_ROOT,
	HSM_OBJ_AUDIT,
};

/*
 * A copy's blob as the daemon carries it (hsm_export() gives it,
 * hsm_import_copy() takes it whole):
 *   HSM_OBJ_VERSION	OAEP				(the receiver's modulus
 *							length: 384 for RSA-3072)
 *   HSM_OBJ_RECORD,	OAEP || tag[HSM_MAC_LEN]	tag = HMAC-SHA256, in the
 *   HSM_OBJ_ROOT					exporting token, under the
 *			key exported, of "hsmkey copy check v1" NUL "hsmkey:record"
 *			(or "hsmkey:root"): the copy check (hsm_import_copy()).
 * At most HSM_COPY_MAX bytes.
 */
#define HSM_COPY_MAX	(HSM_RSA_MAX + HSM_MAC_LEN)

/*
 * Key version @id/@version (or the record, root) wrapped under peer
 * @member's hsmkey:pair (C_WrapKey, CKM_RSA_PKCS_OAEP), as laid out above:
 * @blob holds HSM_COPY_MAX bytes, *@len is set.  -ENOENT: no such peer or
 * version (or no such record, root: a token that has not joined).
 * -EMEDIUMTYPE: the record or root cannot be wrapped (made before tokens
 * could be paired).
 */
int hsm_export(struct hsm *h, const uint8_t member[HSM_MEMBER_LEN], enum hsm_obj o,
	       const uint8_t id[HSMKEY_ID_LEN], uint32_t version, uint8_t *blob, size_t *len);
/*
 * @blob (hsm_export() of another token to this one's member) unwrapped
 * under hsmkey:pair into the object hsm_key_generate() would make.  Only
 * once the copy is checked does it become the version, and only where the
 * token holds none (the same key there already: 0, nothing changed).  An
 * OAEP blob is not authenticated (whoever has the pair's public key can
 * make one), so a copy never replaces a key.  Refused, it leaves the token
 * as it was:
 *   -EEXIST		the token holds another key as that version
 *   -EKEYREJECTED	@blob does not unwrap with hsmkey:pair (made for
 *			another token, or damaged), or (record, root) its tag
 *			is not the copy's
 *   -EMSGSIZE, -ENODATA the key in it is longer, shorter than @type's
 *
 * A version's check is its length, by a trial AES key wrap (the token knows
 * none after C_UnwrapKey, M3).  A token without AES key wrap (behind
 * p11-kit's RPC, which does not carry it, M11) takes the copy unchecked,
 * and its helper logs that once.  That is acceptable: the blob travels
 * only between hsmkeyd's own helpers, from a version made of its type's
 * length; a copy never replaces a key, so a bad one harms no data
 * encrypted before; and a version of the wrong length fails closed at
 * delivery, where the kernel checks each key's length against its type.
 * There, a version the token already holds cannot be compared with the
 * copy either (that too takes AES key wrap): such a copy fails
 * -EOPNOTSUPP, the version unchanged.
 *
 * HSM_OBJ_RECORD, HSM_OBJ_ROOT alike: staged, checked, and committed as
 * hsmkey:record/root (sensitive, extractable, SIGN and VERIFY only) where
 * the token lacks it; the same key there already (an HMAC of a fixed
 * message under both is the same): 0; another: -EEXIST.  The check: the
 * token MACs the tag's message under the staged copy, in the token, and
 * the result must equal the tag (compared in constant time) or the copy
 * is destroyed, -EKEYREJECTED.  That proves the copy is the exporter's
 * key, and it crosses p11-kit's RPC (CKM_SHA256_HMAC does).  Where the
 * token can, the length is checked too (32 bytes: HMAC pads a shorter key
 * with zeros, so a key and one with zeros after it MAC alike; behind the
 * RPC such a twin is taken, and it MACs and derives as the original).
 * The helper's MAC and derivations use it from then on (the token object,
 * not a session copy, until the helper starts again).  As neither blob
 * nor tag proves an origin (the daemon carries both), a joining token
 * takes any 32-byte key wrapped to its pair with a matching tag as its
 * first record or root: the daemon copies only from its own members.
 */
int hsm_import_copy(struct hsm *h, enum hsm_obj o, const uint8_t id[HSMKEY_ID_LEN],
		    uint32_t version, int type, const char *name, const uint8_t *blob,
		    size_t len);

/*
 * A KMS or MAC key version used inside the token (the local KMS API's
 * operations, with a key that never leaves it):
 *   HSM_USE_SEAL  AES-GCM (CKM_AES_GCM, a 96-bit @iv, 128-bit tag) of @in
 *		   with @aad: ciphertext || tag, @len + HSM_GCM_TAG_LEN bytes
 *   HSM_USE_OPEN  the reverse, @in ciphertext || tag: the plaintext,
 *		   @len - HSM_GCM_TAG_LEN bytes; -EBADMSG if it does not open
 *   HSM_USE_MAC   HMAC-SHA256 of @in (CKM_SHA256_HMAC): HSM_MAC_LEN bytes
 *   HSM_USE_SIGN  a signature with an identity key version's private key:
 *		   ECDSA (CKM_ECDSA) of the digest @in, raw r || s; Ed25519
 *		   (CKM_EDDSA) of the message @in; RSA of the digest @in as
 *		   CKM_RSA_PKCS (@in is then a DigestInfo) or, with @flags
 *		   HSM_SIGN_PSS, CKM_RSA_PKCS_PSS (SHA-256, MGF1-SHA-256, a
 *		   salt of 32): the modulus's length
 *   HSM_USE_PUBLIC its public key, no input: an EC point uncompressed, the
 *		   32 bytes of an Ed25519 key, an RSA modulus then exponent
 * @len + @aad_len is at most HSM_USE_MAX.  *@outlen holds @out's size and
 * is set to the length made; -ENOENT: no such version, -EMEDIUMTYPE: the
 * object does not allow the use (another key type).
 */
enum hsm_use_op {
	HSM_USE_SEAL = 1,
	HSM_USE_OPEN,
	HSM_USE_MAC,
	HSM_USE_SIGN,
	HSM_USE_PUBLIC,
};

#define HSM_SIGN_PSS		1u	/* hsm_use.flags */

#define HSM_GCM_IV_LEN		12
#define HSM_GCM_TAG_LEN		16
#define HSM_USE_MAX		65536

struct hsm_use {
	const uint8_t *id;
	uint32_t version;
	int type;
	enum hsm_use_op op;
	uint32_t flags;			/* SIGN: HSM_SIGN_* */
	const uint8_t *iv;		/* SEAL, OPEN: HSM_GCM_IV_LEN bytes */
	const uint8_t *aad;
	size_t aad_len;
	const uint8_t *in;
	size_t len;
};

int hsm_key_use(struct hsm *h, const struct hsm_use *u, uint8_t *out, size_t *outlen);

/* HMAC-SHA256 of @msg under hsmkey:record (the daemon's records). */
int hsm_mac(struct hsm *h, const void *msg, size_t len, uint8_t mac[HSM_MAC_LEN]);
/*
 * @len (<= 64) bytes for @label's purpose: HMAC-SHA256 under hsmkey:root
 * of label || counter.  Used for the daemon's own secrets (the audit log's
 * MAC key, each version's verifier), never for a data key.
 */
int hsm_derive(struct hsm *h, const char *label, uint8_t *out, size_t len);
/* @len (1 to HSM_RANDOM_MAX) bytes of the token's C_GenerateRandom. */
#define HSM_RANDOM_MAX		1024
int hsm_random(struct hsm *h, uint8_t *out, size_t len);
/* Ed25519 signature of @msg under hsmkey:audit, and its public key. */
int hsm_sign(struct hsm *h, const void *msg, size_t len, uint8_t sig[HSM_SIG_LEN],
	     uint8_t pub[HSM_PUB_LEN]);
/* hsmkey:instance; -ENOENT: a token opened with join that has not joined. */
int hsm_instance(struct hsm *h, uint8_t out[HSMKEY_OWNER_LEN]);
/*
 * The last step of a join: hsmkey:instance made with @instance (another
 * member's hsm_instance()), and the token's own hsmkey:audit if it lacks
 * one.  0 also when the token holds that value already; -EEXIST when it
 * holds another (it belongs to another key store); -ENOENT while it lacks
 * hsmkey:record or hsmkey:root (copy them first: a token holding the
 * instance is taken as a whole member).
 */
int hsm_instance_set(struct hsm *h, const uint8_t instance[HSMKEY_OWNER_LEN]);
/* The rollback anchor: the newest hsmkey:anchor:N; -ENOENT if none. */
int hsm_anchor_load(struct hsm *h, uint64_t *n, void *buf, size_t *len);
/* Make hsmkey:anchor:@n (@n > the stored one), then remove the older. */
int hsm_anchor_store(struct hsm *h, uint64_t n, const void *buf, size_t len);

#endif
