/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The messages between hsmkeyd and a token's helper process.  Both sides
 * are the same binary (the helper is /proc/self/exe), so a message is a
 * fixed C struct sent as one SOCK_SEQPACKET record; the only variable part
 * is the array or buffer at its end, and each side checks that a record is
 * exactly as long as its header says before it reads anything else.
 *
 * The control socket carries HP_INIT (daemon → helper: module, token URI,
 * PIN file, never the PIN) and its reply, then one connection per message
 * (SCM_RIGHTS).  Every other request goes over a connection, one at a time:
 * each connection is a PKCS#11 session in the helper.
 */
#ifndef HSMKEY_PKCS11_PROTO_H
#define HSMKEY_PKCS11_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include "key.h"
#include "pkcs11/hsm.h"

#define HP_NAME_MAX	64	/* key names: 63 characters and the NUL */
#define HP_LABEL_MAX	128	/* a label to adopt */
#define HP_URI_MAX	1024
#define HP_DATA_MAX	65536	/* a message to MAC or sign */
#define HP_WHY_MAX	200
#define HP_BLOB_MAX	HSM_RSA_MAX

enum hp_op {
	HP_INIT = 1,
	HP_GENERATE,
	HP_IMPORT,
	HP_ADOPT,
	HP_DESTROY,
	HP_FIND,
	HP_KEY_LIST,		/* key: the cursor; reply data: version ids */
	HP_WRAP,
	HP_MAC,
	HP_DERIVE,
	HP_SIGN,
	HP_INSTANCE,
	HP_ANCHOR_LOAD,
	HP_ANCHOR_STORE,
	HP_IMPORT_KEY,
	HP_UNWRAP,
	HP_MEMBER,		/* reply: member */
	HP_PAIR_PUB,		/* reply: import_key, hsmkey:pair's */
	HP_PEER_ADD,		/* peer */
	HP_EXPORT,		/* copy (no blob); reply: copy */
	HP_IMPORT_COPY,		/* copy (no member) */
	HP_INSTANCE_SET,	/* data: the instance id */
	HP_USE,			/* use; reply data: the output (hsm_key_use()) */
	HP_RANDOM,		/* data.n: how many bytes (no data); reply data: them */
	__HP_OP_MAX
};

/*
 * While it opens the token, before its HP_INIT reply, the helper sends a
 * one-byte datagram HP_BEAT on the control socket after each step that
 * called the token.  The daemon's deadline then counts from the last
 * step, not from the request: opening takes longer the more objects a
 * token holds (SoftHSM reads each one's file, a search visits them all),
 * while a token that hangs sends nothing.  A wrap in turn
 * (HSM_WRAP_IN_TURN) sends one HP_BEAT on its connection when its turn
 * comes: its deadline counts from then.  No other reply is one byte.
 */
#define HP_BEAT		0x42

/* A reply's @fatal: the helper exits after sending it. */
enum hp_fatal {
	HP_FATAL_NONE,
	HP_FATAL_DOWN,		/* the token failed: start a new helper, with backoff */
	HP_FATAL_PIN,		/* the PIN was refused: wait for hsm_retry() */
};

struct hp_init {
	char module[PATH_MAX];
	char uri[HP_URI_MAX];
	char pin_file[PATH_MAX];	/* empty: $CREDENTIALS_DIRECTORY/pkcs11-pin */
	uint32_t join;			/* hsm_config.join: 0 or 1 */
};

/* GENERATE, IMPORT, ADOPT, DESTROY, FIND */
struct hp_key {
	uint8_t id[HSMKEY_ID_LEN];
	uint32_t version;
	int32_t type;
	char name[HP_NAME_MAX];
	char label[HP_LABEL_MAX];
	uint8_t material[KS_MATERIAL_MAX];	/* IMPORT: key_type_len(type) of it */
};

/* UNWRAP: a new key version from @blob, RSA-OAEP-wrapped to hsmkey:import */
struct hp_unwrap {
	struct hp_key key;	/* its material is unused */
	uint32_t len;
	uint32_t pad;
	uint8_t blob[HP_BLOB_MAX];
};

/* PEER_ADD: another token's hsmkey:pair public key */
struct hp_peer {
	uint8_t member[HSM_MEMBER_LEN];
	struct hsm_import_key pub;
};

/*
 * EXPORT, IMPORT_COPY: one object copied between tokens.  @tag (record and
 * root only; zeros for a version) is the exporter's HMAC of the copy check
 * message under the key (hsm.h: HSM_COPY_MAX); the daemon carries it as the
 * blob's tail, the helpers as a field of its own.
 */
struct hp_copy {
	uint8_t member[HSM_MEMBER_LEN];	/* EXPORT: to whom */
	uint32_t obj;			/* enum hsm_obj */
	uint32_t len;			/* IMPORT_COPY: of blob */
	struct hp_key key;		/* its material is unused */
	uint8_t blob[HP_BLOB_MAX];
	uint8_t tag[HSM_MAC_LEN];	/* IMPORT_COPY of a record or root */
};

struct hp_wrap {
	uint8_t kpoint[HSM_POINT_LEN];
	uint8_t flags;			/* HSM_WRAP_IN_TURN */
	uint8_t pad[2];
	uint32_t n;
	struct hsm_wrap_req req[HSMKEY_BATCH_MAX];	/* n of them are sent */
};

/*
 * MAC, DERIVE (label in buf, out length in n), SIGN, ANCHOR_STORE,
 * IMPORT_KEY (n: 1 to renew the pair), INSTANCE_SET
 */
struct hp_data {
	uint64_t n;
	uint32_t len;
	uint32_t pad;
	uint8_t buf[HP_DATA_MAX];	/* len bytes of it are sent */
};

/* USE: a KMS or MAC key version used in the token (hsm_key_use()) */
struct hp_use {
	uint8_t id[HSMKEY_ID_LEN];
	uint32_t version;
	int32_t type;
	uint32_t op;		/* enum hsm_use_op */
	uint32_t flags;		/* HSM_SIGN_* */
	uint32_t aad_len;	/* the first aad_len bytes of buf; the input after them */
	uint32_t len;		/* of buf */
	uint8_t iv[HSM_GCM_IV_LEN];
	uint8_t buf[HSM_USE_MAX];	/* len bytes of it are sent */
};

struct hp_request {
	uint32_t op;
	uint32_t pad;
	union {
		struct hp_init init;
		struct hp_key key;
		struct hp_wrap wrap;
		struct hp_data data;
		struct hp_unwrap unwrap;
		struct hp_peer peer;
		struct hp_copy copy;
		struct hp_use use;
	};
};

struct hp_reply {
	int32_t err;		/* 0 or -errno */
	uint32_t fatal;		/* enum hp_fatal */
	char why[HP_WHY_MAX];	/* with err: what failed, for hsm_error() */
	union {
		struct {
			char label[33];		/* the token's label */
			uint8_t pad[3];
			uint32_t missing;	/* the probe's: 1 << enum hp_mech */
		} init;
		uint8_t was_readable;		/* ADOPT */
		struct {
			uint8_t sig[HSM_SIG_LEN];
			uint8_t pub[HSM_PUB_LEN];
		} sign;
		struct {
			uint8_t hpoint[HSM_POINT_LEN];
			uint8_t pad[3];
			uint32_t n;
			struct hsm_wrapped out[HSMKEY_BATCH_MAX];
		} wrap;
		struct hp_data data;	/* MAC, DERIVE, INSTANCE, ANCHOR_LOAD, USE */
		struct hsm_import_key import_key;	/* IMPORT_KEY, PAIR_PUB */
		uint8_t member[HSM_MEMBER_LEN];		/* MEMBER */
		struct {
			uint32_t len;
			uint32_t pad;
			uint8_t blob[HP_BLOB_MAX];
			uint8_t tag[HSM_MAC_LEN];	/* record, root; else zeros */
		} copy;					/* EXPORT */
	};
};

/* The length of @req as sent; 0 if its header is invalid. */
size_t hp_request_len(const struct hp_request *req);
/* 0 if the @len bytes received are one whole, valid request. */
int hp_request_check(const struct hp_request *req, size_t len);
/* The length of the reply @rep to @op as sent. */
size_t hp_reply_len(uint32_t op, const struct hp_reply *rep);
/* 0 if the @len bytes received are one whole, valid reply to @op. */
int hp_reply_check(uint32_t op, const struct hp_reply *rep, size_t len);

#endif
