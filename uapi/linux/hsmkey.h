/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * hsmkey: kernel crypto algorithms whose keys are references to keys held
 * by the hsmkey module, provisioned by hsmkeyd over generic netlink:
 * xts(hsmaes) for AES-XTS keys (dm-crypt) and cbc(hsmaes) for AES-CBC keys.
 *
 * This header is the one definition of the protocol between hsmkey.ko,
 * hsmkeyd, hsmkeyctl and the tests.  Enums are append-only.
 *
 * Tokens
 * ------
 * A crypto API user (dm-crypt, AF_ALG) binds a tfm of an hsmkey algorithm
 * to a key by passing a token to setkey().  A token is exactly
 * HSMKEY_TOKEN_LEN bytes, laid out as struct hsmkey_token.  It names one
 * version of one key and carries a random verifier that the module compares
 * in constant time; it holds no key material.
 *
 * setkey() with bytes of the right length that are not a token (wrong
 * magic, format or non-zero reserved bytes) returns 0 and leaves the tfm
 * unbound: every request on it then fails with -ENOKEY, and the bytes are
 * never used as a key.  This keeps cryptsetup's cipher probe and dm-crypt's
 * key wipe working without ever confusing a key with a token.
 *
 * setkey() with a well-formed token that cannot be bound fails:
 *
 *   -ENOKEY        no such key version, or the verifier does not match
 *   -EKEYREVOKED   the key version has been revoked
 *   -EKEYREJECTED  the key's type does not fit the algorithm
 *   -EINVAL        wrong length
 *
 * Requests on a tfm fail with -ENOKEY while it is unbound and with
 * -EKEYREVOKED once its key has been revoked.
 *
 * Generic netlink family "hsmkey" (HSMKEY_GENL_NAME), version 1
 * ----------------------------------------------------------------
 * The family exists in the initial network namespace only.  Commands that
 * change key state need CAP_SYS_ADMIN; errors carry an extack message.
 *
 * HSMKEY_CMD_KEY_ADD (CAP_SYS_ADMIN): provision one key version.
 *     HSMKEY_A_KEY_ID        binary[16], required
 *     HSMKEY_A_KEY_VERSION   u32, required, >= 1
 *     HSMKEY_A_KEY_NAME      NUL-terminated string < HSMKEY_NAME_MAX, required
 *     HSMKEY_A_KEY_TYPE      u32 enum hsmkey_key_type, required
 *     HSMKEY_A_KEY_VERIFIER  binary[32], required
 *     HSMKEY_A_KEY_MATERIAL  binary, length fixed by the type, required
 *   -EEXIST if that id and version is already present.
 *
 * HSMKEY_CMD_KEY_REVOKE (CAP_SYS_ADMIN): revoke one key version.
 *     HSMKEY_A_KEY_ID, HSMKEY_A_KEY_VERSION, both required
 *   When it returns, binds of the key fail, requests on every tfm bound to
 *   it fail with -EKEYREVOKED, in-flight requests have completed, and the
 *   material and the inner expanded key schedule have been wiped.  The key
 *   stays listed, in state HSMKEY_STATE_REVOKED.
 *
 * HSMKEY_CMD_KEY_REMOVE (CAP_SYS_ADMIN): revoke one key version, as above,
 *   and take it out of the table.  Tfms still bound to it keep failing with
 *   -EKEYREVOKED; the id and version can be added again afterwards.
 *     HSMKEY_A_KEY_ID, HSMKEY_A_KEY_VERSION, both required
 *
 * HSMKEY_CMD_KEY_GET: metadata of one key version (doit, with HSMKEY_A_KEY_ID
 *   and HSMKEY_A_KEY_VERSION) or of all (dump).  Each reply carries
 *     HSMKEY_A_KEY_ID, HSMKEY_A_KEY_VERSION, HSMKEY_A_KEY_NAME,
 *     HSMKEY_A_KEY_TYPE, HSMKEY_A_KEY_STATE, HSMKEY_A_KEY_BINDINGS
 *   and never material or verifier.
 *
 * HSMKEY_CMD_INFO: module information.
 *     HSMKEY_A_INFO_VERSION      string, module version
 *     HSMKEY_A_INFO_NKEYS        u32, key versions in the table
 *     HSMKEY_A_INFO_INNER_XTS    string, driver behind xts(hsmaes)
 *     HSMKEY_A_INFO_INNER_CBC    string, driver behind cbc(hsmaes)
 *
 * Multicast group "events" (HSMKEY_GENL_MCGRP_EVENTS), initial network
 * namespace only; joining it needs CAP_SYS_ADMIN.  Each event is an
 * HSMKEY_CMD_EVENT message, and never carries material or verifier:
 *     HSMKEY_A_EVENT_TYPE    u32 enum hsmkey_event_type
 *     HSMKEY_A_EVENT_SEQ     u64, one more than the previous event's: a gap
 *                            means events were lost (the socket overran)
 *     HSMKEY_A_KEY_ID, HSMKEY_A_KEY_VERSION
 *     HSMKEY_A_EVENT_UID, HSMKEY_A_EVENT_PID, HSMKEY_A_EVENT_COMM
 *                            who caused it (initial namespaces)
 *     HSMKEY_A_EVENT_ERRNO   u32, positive errno, on DENY
 *   DENY events are rate-limited (10 a second); the sequence still counts
 *   the ones not sent.
 */
#ifndef _UAPI_LINUX_HSMKEY_H
#define _UAPI_LINUX_HSMKEY_H

#include <linux/types.h>

#define HSMKEY_GENL_NAME		"hsmkey"
#define HSMKEY_GENL_VERSION		1
#define HSMKEY_GENL_MCGRP_EVENTS	"events"

#define HSMKEY_NAME_MAX		64	/* including the terminating NUL */
#define HSMKEY_ID_LEN		16
#define HSMKEY_VERIFIER_LEN	32
#define HSMKEY_MATERIAL_MAX	64

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
	__HSMKEY_A_MAX
};

#define HSMKEY_A_MAX (__HSMKEY_A_MAX - 1)

#endif /* _UAPI_LINUX_HSMKEY_H */
