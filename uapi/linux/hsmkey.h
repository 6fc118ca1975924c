/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * hsmkey: kernel crypto algorithms whose keys are references to keys held
 * by the hsmkey module, provisioned by hsmkeyd over generic netlink:
 * xts(hsmaes) for AES-XTS keys (dm-crypt), cbc(hsmaes) for AES-CBC keys
 * and the AEAD gcm(hsmaes) for AES-GCM keys (AF_ALG).
 *
 * This header is the one definition of the protocol between hsmkey.ko,
 * hsmkeyd, hsmkeyctl and the tests.  Enums are append-only.
 *
 * Tokens
 * ------
 * A crypto API user (dm-crypt, AF_ALG) binds a tfm of an hsmkey algorithm
 * to a key by passing a token to setkey().  A token is exactly
 * HSMKEY_TOKEN_LEN bytes, laid out as struct hsmkey_token.  It names one
 * version of one key by its 128-bit identifier (random, never reused) and
 * carries that version's random 256-bit verifier, which the module compares
 * in constant time; it holds no key material.  Tokens stay valid across
 * reboots and module reloads as long as the key version is provisioned
 * again with the same identifier and verifier.
 *
 * setkey() with bytes of the right length that are not a token (wrong
 * magic, format or non-zero reserved bytes) returns 0 and leaves the tfm
 * unbound: every request on it then fails with -ENOKEY, and the bytes are
 * never used as a key.  This keeps cryptsetup's cipher probe and dm-crypt's
 * key wipe working without ever confusing a key with a token.
 *
 * Binding: what setkey() with a well-formed token returns
 * --------------------------------------------------------
 *   0              bound
 *   -EINVAL        wrong length
 *   -ENOKEY        no such key version, the verifier does not match, or the
 *                  token's type byte is not the key's type
 *   -EKEYREVOKED   the key version has been revoked (by command, by expiry
 *                  or by removal)
 *   -EPERM         the key version is disabled
 *   -EKEYREJECTED  the key's type does not fit the algorithm, or the
 *                  algorithm is not in the key's allowed set
 *   -EKEYEXPIRED   before the key's not-before or after its not-after time
 *   -EACCES        the caller's effective uid and groups match none of the
 *                  key's allowed uids and gids
 *   -EUSERS        the key already has its maximum number of bindings
 *   -EDQUOT        the key's usage limit is used up
 * Checked in this order; each refusal of a well-formed token emits a DENY
 * event carrying the errno.  Credentials are those of the task calling
 * setkey(): the process that loads a dm-crypt table, or the AF_ALG user.
 *
 * Requests on a tfm fail with -ENOKEY while it is unbound, -EKEYREVOKED
 * once its key has been revoked and -EDQUOT once a usage limit is used up.
 *
 * States: ACTIVE keys bind.  DISABLED keys refuse new bindings with -EPERM;
 * tfms already bound keep working (disable is reversible: ENABLE).  Revoke
 * is the way to stop existing users.  REVOKED is final: the material and
 * every expanded key schedule are gone.
 *
 * Policy (HSMKEY_A_KEY_POLICY, nested enum hsmkey_policy_attr)
 * -----------------------------------------------------------
 *   HSMKEY_P_UIDS, HSMKEY_P_GIDS  arrays of __u32 (initial user namespace),
 *       at most HSMKEY_POLICY_IDS_MAX each.  When either is present, the
 *       caller must have one of the uids as effective uid or one of the gids
 *       as effective or supplementary group.  Absent: anyone holding the
 *       token may bind.
 *   HSMKEY_P_ALGS         __u32 mask of HSMKEY_ALG_* the key may be used
 *       with; absent or 0: every algorithm that fits its type.
 *   HSMKEY_P_NOT_BEFORE, HSMKEY_P_NOT_AFTER  __u64 seconds since the epoch
 *       (CLOCK_REALTIME); 0 or absent: no bound.  When not-after passes, the
 *       module revokes the key from a workqueue and emits an EXPIRE event:
 *       within 1 second (plus scheduling delay) of the time passing, within
 *       60 seconds if the realtime clock is set forward.  Binds after
 *       not-after fail at once.
 *   HSMKEY_P_MAX_BYTES, HSMKEY_P_MAX_REQUESTS  __u64 usage limits over the
 *       key version's life in this module (encrypt and decrypt count alike;
 *       bytes are the request's cryptlen); 0 or absent: none.  A GCM key
 *       always has a request limit of at most 2^32 (the default), since
 *       random 96-bit nonces allow no more.  Usage is charged before the
 *       request runs, from per-CPU credit taken in batches from the key's
 *       pool, so it never exceeds the limit (overshoot 0); requests fail
 *       with -EDQUOT once the pool and all credit are used, and one LIMIT
 *       event is emitted.
 *   HSMKEY_P_MAX_BINDINGS __u32 cap on concurrent bindings; 0: none.
 *
 * Transport wrapping and /dev/hsmkey
 * ----------------------------------
 * Key material never crosses netlink in the clear.  The daemon opens
 * /dev/hsmkey (CAP_SYS_ADMIN; one opener at a time, a second open fails
 * with -EBUSY) and reads a random 256-bit transport key with
 * HSMKEY_IOC_TRANSPORT_KEY (once per open).  Material travels in
 * HSMKEY_A_KEY_WRAPPED as nonce[12] || AES-256-GCM ciphertext || tag[16]
 * under that key, with struct hsmkey_wrap_aad as associated data.  Closing
 * the device wipes the transport key.  While the device is open, only the
 * process holding it may change key state; -EBUSY for any other.
 *
 * Generic netlink family "hsmkey" (HSMKEY_GENL_NAME), version 1
 * ----------------------------------------------------------------
 * The family exists in the initial network namespace only.  Commands that
 * change key state need CAP_SYS_ADMIN in the initial user namespace
 * (CAP_NET_ADMIN is not enough); errors carry an extack message naming the
 * bad attribute.
 *
 * HSMKEY_CMD_KEY_ADD (holder of /dev/hsmkey): provision key versions, one
 *   given by top-level attributes, or a batch of up to HSMKEY_BATCH_MAX in
 *   HSMKEY_A_KEYS (each entry nested, carrying the same attributes).  A
 *   batch is all or nothing.
 *     HSMKEY_A_KEY_ID        binary[16], required
 *     HSMKEY_A_KEY_VERSION   u32, required, >= 1
 *     HSMKEY_A_KEY_NAME      NUL-terminated string < HSMKEY_NAME_MAX, required
 *     HSMKEY_A_KEY_TYPE      u32 enum hsmkey_key_type, required
 *     HSMKEY_A_KEY_VERIFIER  binary[32], required
 *     HSMKEY_A_KEY_WRAPPED   binary, 28 + key length, required
 *     HSMKEY_A_KEY_POLICY    nested, optional
 *     HSMKEY_A_KEY_OWNER     binary[16], optional: the keystore instance
 *   -EEXIST if an id and version is already present; -EKEYREJECTED for an
 *   XTS key with equal halves; -EBADMSG if unwrapping fails.
 *
 * HSMKEY_CMD_KEY_REVOKE: revoke one key version.
 *     HSMKEY_A_KEY_ID, HSMKEY_A_KEY_VERSION, both required
 *   When it returns, binds of the key fail, requests on every tfm bound to
 *   it fail with -EKEYREVOKED, in-flight requests have completed, and the
 *   material and the inner expanded key schedules have been wiped.  The key
 *   stays listed, in state HSMKEY_STATE_REVOKED.
 *
 * HSMKEY_CMD_KEY_REMOVE: revoke one key version, as above, and take it out
 *   of the table.  Tfms still bound to it keep failing with -EKEYREVOKED;
 *   the id and version can be added again afterwards.
 *
 * HSMKEY_CMD_KEY_DISABLE, HSMKEY_CMD_KEY_ENABLE: see States.  -EKEYREVOKED
 *   for a revoked key.
 *
 * HSMKEY_CMD_KEY_SET_POLICY: replace a key version's policy with
 *   HSMKEY_A_KEY_POLICY (required).  Usage already counted stays counted.
 *
 * HSMKEY_CMD_KEY_GET: metadata of one key version (doit, with HSMKEY_A_KEY_ID
 *   and HSMKEY_A_KEY_VERSION) or of all (dump).  Each reply carries
 *     HSMKEY_A_KEY_ID, HSMKEY_A_KEY_VERSION, HSMKEY_A_KEY_NAME,
 *     HSMKEY_A_KEY_TYPE, HSMKEY_A_KEY_STATE, HSMKEY_A_KEY_BINDINGS,
 *     HSMKEY_A_KEY_POLICY, HSMKEY_A_KEY_OWNER (if set), and the counters
 *     HSMKEY_A_KEY_BYTES, HSMKEY_A_KEY_REQUESTS, HSMKEY_A_KEY_BINDS,
 *     HSMKEY_A_KEY_DENIES (u64)
 *   and never material or verifier.
 *
 * HSMKEY_CMD_INFO: module information and statistics.
 *     HSMKEY_A_INFO_VERSION      string, module version
 *     HSMKEY_A_INFO_NKEYS        u32, key versions in the table
 *     HSMKEY_A_INFO_INNER_XTS, _CBC, _GCM  string, driver behind each
 *     HSMKEY_A_INFO_HOLDER       u32, pid holding /dev/hsmkey (0: none)
 *     HSMKEY_A_INFO_BINDS, _DENIES, _REVOKES, _EXPIRIES, _LIMITS,
 *     HSMKEY_A_INFO_EVENTS       u64, totals since load (EVENTS: sequence)
 *
 * HSMKEY_CMD_AUDIT_ANCHOR: the audit log's anchor outside the log file, the
 *   latest record's sequence number and chain head, kept in module memory
 *   (lost when the module unloads), one per keystore instance: the
 *   HSMKEY_A_KEY_OWNER given (absent: all zeroes), up to 16 instances.
 *   Without HSMKEY_A_AUDIT_SEQ: read it (anyone).  With HSMKEY_A_AUDIT_SEQ
 *   (u64) and HSMKEY_A_AUDIT_HEAD (binary[32]): set it (as a key change:
 *   CAP_SYS_ADMIN and the /dev/hsmkey holder); -ESTALE if the sequence
 *   number goes backwards, -ENOSPC for a 17th instance.  The reply carries
 *   all three (sequence 0: never set).
 *
 * Multicast group "events" (HSMKEY_GENL_MCGRP_EVENTS), initial network
 * namespace only; joining it needs CAP_SYS_ADMIN.  Each event is an
 * HSMKEY_CMD_EVENT message, and never carries material or verifier:
 *     HSMKEY_A_EVENT_TYPE    u32 enum hsmkey_event_type
 *     HSMKEY_A_EVENT_SEQ     u64, one more than the previous event's: a gap
 *                            means events were lost (the socket overran)
 *     HSMKEY_A_KEY_ID, HSMKEY_A_KEY_VERSION
 *     HSMKEY_A_EVENT_UID, HSMKEY_A_EVENT_PID, HSMKEY_A_EVENT_COMM
 *                            who caused it (initial namespaces; a kernel
 *                            worker for EXPIRE and LIMIT)
 *     HSMKEY_A_EVENT_ERRNO   u32, positive errno, on DENY
 *   DENY events are rate-limited (10 a second); the sequence still counts
 *   the ones not sent.
 */
#ifndef _UAPI_LINUX_HSMKEY_H
#define _UAPI_LINUX_HSMKEY_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define HSMKEY_GENL_NAME		"hsmkey"
#define HSMKEY_GENL_VERSION		1
#define HSMKEY_GENL_MCGRP_EVENTS	"events"

#define HSMKEY_NAME_MAX		64	/* including the terminating NUL */
#define HSMKEY_ID_LEN		16
#define HSMKEY_VERIFIER_LEN	32
#define HSMKEY_MATERIAL_MAX	64
#define HSMKEY_OWNER_LEN	16
#define HSMKEY_BATCH_MAX	256
#define HSMKEY_POLICY_IDS_MAX	16
#define HSMKEY_TRANSPORT_KEY_LEN 32
#define HSMKEY_WRAP_NONCE_LEN	12
#define HSMKEY_WRAP_TAG_LEN	16
#define HSMKEY_WRAP_OVERHEAD	(HSMKEY_WRAP_NONCE_LEN + HSMKEY_WRAP_TAG_LEN)
#define HSMKEY_AUDIT_HEAD_LEN	32
#define HSMKEY_GCM_MAX_REQUESTS	0x100000000ULL	/* 2^32 */

enum hsmkey_key_type {
	HSMKEY_TYPE_UNSPEC,
	HSMKEY_TYPE_AES_128_XTS,	/* 32 bytes of material */
	HSMKEY_TYPE_AES_256_XTS,	/* 64 */
	HSMKEY_TYPE_AES_128_CBC,	/* 16 */
	HSMKEY_TYPE_AES_256_CBC,	/* 32 */
	HSMKEY_TYPE_AES_128_GCM,	/* 16 */
	HSMKEY_TYPE_AES_256_GCM,	/* 32 */
	__HSMKEY_TYPE_MAX
};

#define HSMKEY_TYPE_MAX (__HSMKEY_TYPE_MAX - 1)

enum hsmkey_key_state {
	HSMKEY_STATE_UNSPEC,
	HSMKEY_STATE_ACTIVE,
	HSMKEY_STATE_REVOKED,
	HSMKEY_STATE_DISABLED,
	__HSMKEY_STATE_MAX
};

/*
 * struct hsmkey_token - what setkey() takes instead of key bytes
 * @magic:	HSMKEY_TOKEN_MAGIC
 * @format:	HSMKEY_TOKEN_FORMAT
 * @key_type:	enum hsmkey_key_type of the named key
 * @reserved:	zero
 * @key_id:	identifier of the key, never reused
 * @key_version: version of the key, big endian
 * @reserved2:	zero
 * @verifier:	random secret of this key version
 */
struct hsmkey_token {
	__u8	magic[4];
	__u8	format;
	__u8	key_type;
	__u8	reserved[2];
	__u8	key_id[HSMKEY_ID_LEN];
	__be32	key_version;
	__u8	reserved2[4];
	__u8	verifier[HSMKEY_VERIFIER_LEN];
};

#define HSMKEY_TOKEN_LEN	64
#define HSMKEY_TOKEN_MAGIC	"HSMK"
#define HSMKEY_TOKEN_FORMAT	1

enum hsmkey_event_type {
	HSMKEY_EVENT_UNSPEC,
	HSMKEY_EVENT_BIND,	/* a tfm was bound to the key */
	HSMKEY_EVENT_DENY,	/* a well-formed token was refused */
	HSMKEY_EVENT_REVOKE,
	HSMKEY_EVENT_REMOVE,
	HSMKEY_EVENT_EXPIRE,	/* not-after passed: the key was revoked */
	HSMKEY_EVENT_LIMIT,	/* a usage limit was reached */
	HSMKEY_EVENT_ADD,
	HSMKEY_EVENT_DISABLE,
	HSMKEY_EVENT_ENABLE,
	HSMKEY_EVENT_POLICY,	/* the policy was replaced */
	__HSMKEY_EVENT_MAX
};

enum hsmkey_cmd {
	HSMKEY_CMD_UNSPEC,
	HSMKEY_CMD_KEY_ADD,
	HSMKEY_CMD_KEY_REVOKE,
	HSMKEY_CMD_KEY_GET,
	HSMKEY_CMD_INFO,
	HSMKEY_CMD_KEY_REMOVE,
	HSMKEY_CMD_EVENT,
	HSMKEY_CMD_KEY_DISABLE,
	HSMKEY_CMD_KEY_ENABLE,
	HSMKEY_CMD_KEY_SET_POLICY,
	HSMKEY_CMD_AUDIT_ANCHOR,
	__HSMKEY_CMD_MAX
};

#define HSMKEY_CMD_MAX (__HSMKEY_CMD_MAX - 1)

enum hsmkey_attr {
	HSMKEY_A_UNSPEC,
	HSMKEY_A_KEY_ID,
	HSMKEY_A_KEY_VERSION,
	HSMKEY_A_KEY_NAME,
	HSMKEY_A_KEY_TYPE,
	HSMKEY_A_KEY_VERIFIER,
	HSMKEY_A_KEY_MATERIAL,
	HSMKEY_A_KEY_STATE,
	HSMKEY_A_KEY_BINDINGS,
	HSMKEY_A_INFO_VERSION,
	HSMKEY_A_INFO_NKEYS,
	HSMKEY_A_INFO_INNER_XTS,
	HSMKEY_A_INFO_INNER_CBC,
	HSMKEY_A_PAD,
	HSMKEY_A_EVENT_TYPE,
	HSMKEY_A_EVENT_SEQ,
	HSMKEY_A_EVENT_UID,
	HSMKEY_A_EVENT_PID,
	HSMKEY_A_EVENT_COMM,
	HSMKEY_A_EVENT_ERRNO,
	HSMKEY_A_KEY_WRAPPED,
	HSMKEY_A_KEY_POLICY,
	HSMKEY_A_KEY_OWNER,
	HSMKEY_A_KEYS,
	HSMKEY_A_KEY_BYTES,
	HSMKEY_A_KEY_REQUESTS,
	HSMKEY_A_KEY_BINDS,
	HSMKEY_A_KEY_DENIES,
	HSMKEY_A_INFO_INNER_GCM,
	HSMKEY_A_INFO_HOLDER,
	HSMKEY_A_INFO_BINDS,
	HSMKEY_A_INFO_DENIES,
	HSMKEY_A_INFO_REVOKES,
	HSMKEY_A_INFO_EXPIRIES,
	HSMKEY_A_INFO_LIMITS,
	HSMKEY_A_INFO_EVENTS,
	HSMKEY_A_AUDIT_SEQ,
	HSMKEY_A_AUDIT_HEAD,
	__HSMKEY_A_MAX
};

#define HSMKEY_A_MAX (__HSMKEY_A_MAX - 1)

/* Attributes nested in HSMKEY_A_KEY_POLICY. */
enum hsmkey_policy_attr {
	HSMKEY_P_UNSPEC,
	HSMKEY_P_UIDS,
	HSMKEY_P_GIDS,
	HSMKEY_P_ALGS,
	HSMKEY_P_NOT_BEFORE,
	HSMKEY_P_NOT_AFTER,
	HSMKEY_P_MAX_BYTES,
	HSMKEY_P_MAX_REQUESTS,
	HSMKEY_P_MAX_BINDINGS,
	HSMKEY_P_PAD,
	__HSMKEY_P_MAX
};

#define HSMKEY_P_MAX (__HSMKEY_P_MAX - 1)

/* Algorithms, for HSMKEY_P_ALGS. */
#define HSMKEY_ALG_XTS	0x1U	/* xts(hsmaes) */
#define HSMKEY_ALG_CBC	0x2U	/* cbc(hsmaes) */
#define HSMKEY_ALG_GCM	0x4U	/* gcm(hsmaes) */

/* Associated data of a wrapped key: binds it to its id, version and type. */
struct hsmkey_wrap_aad {
	__u8	key_id[HSMKEY_ID_LEN];
	__be32	key_version;
	__be32	key_type;
};

/* /dev/hsmkey */
#define HSMKEY_DEVICE_NAME	"hsmkey"

struct hsmkey_transport_key {
	__u8	key[HSMKEY_TRANSPORT_KEY_LEN];
};

#define HSMKEY_IOC_TRANSPORT_KEY _IOR('H', 1, struct hsmkey_transport_key)

#endif /* _UAPI_LINUX_HSMKEY_H */
