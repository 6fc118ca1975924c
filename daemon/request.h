/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A control request as its handler sees it, and the handlers, one file per
 * subject: keys.c, import.c, listing.c, states.c, policy.c, volumes.c,
 * verify.c.  Each handler returns 0 with its results in @reply, or -errno
 * with @err saying what failed and what to do (fail()); control.c sends
 * one or the other.  Fields are type-checked before a handler runs.
 */
#ifndef HSMKEY_REQUEST_H
#define HSMKEY_REQUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <json-c/json.h>
#include "audit.h"
#include "control.h"
#include "key.h"

struct kernel_key;

#define REQUEST_INPUT_MAX	8192	/* an RSA-3072 PEM with text around it */

struct request {
	struct daemon *d;
	struct json_object *req;
	struct json_object *reply;
	int cfd;			/* the client's socket */
	int fd;				/* a descriptor it passed, or -1 */
	struct ucred cred;		/* the client's, when it connected */
	char comm[AUDIT_COMM_MAX];	/* its name, for the audit log */
	int sock;			/* tls-handshake's socket (take_socket()), or -1 */
	/* Read or opened before the mutation lock (client I/O never under it). */
	uint8_t *input;			/* the key file passed as a descriptor: */
					/* REQUEST_INPUT_MAX bytes, read_input()'s */
	int ninput;			/* -1: none passed */
	uint8_t pair[KS_MATERIAL_MAX];	/* create: an identity key's pair, */
	bool made;			/* made (make_key_pair()) */
	/* A payload that came after the request's JSON (proto.h), and one for */
	/* the reply (a handler's, malloc'd): both wiped and freed with it. */
	uint8_t *payload;
	size_t npayload;
	uint8_t *out;
	size_t nout;
	dev_t device;			/* dm-open's block device */
	uint64_t device_bytes;
	int64_t send_by;		/* one deadline for all a reply's messages */
	bool detached;			/* handed to a handshake thread: its now */
					/* (never an admin op's: dispatch() audits */
					/* those after they return) */
	char err[400];
};

/*
 * Send a message ahead of the reply (a streamed listing's chunk): with
 * @wait, until the send deadline; without, -EAGAIN unless taken at once.
 */
int reply_more(struct request *rq, const char *text, size_t len, bool wait);
/* The client, as its audit records name it. */
struct audit_who request_who(const struct request *rq);
/* Word @rq's error once; returns -@err. */
int fail(struct request *rq, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Request field @field, a valid key or volume name. */
int get_name(struct request *rq, const char *field, const char **out);
/* Version @version (0: the current one) of key @name, with secrets if @unseal. */
int get_version(struct request *rq, const char *name, uint32_t version, bool unseal,
		struct ks_key *key);
int get_key(struct request *rq, const char *name, bool unseal, struct ks_key *key);
/* The key the request names in "name", as get_key(): most handlers' first step. */
int get_named_key(struct request *rq, bool unseal, const char **name, struct ks_key *key);
int bad_type(struct request *rq, const char *tname);
bool is_xts(int type);
/* A key's fields in a reply (never its secrets). */
void add_key_fields(struct json_object *o, const struct ks_key *key);
/* What the kernel holds of a key version (@kk; NULL: nothing), in a reply. */
void add_kernel_fields(struct json_object *o, const struct kernel_key *kk);
/* The keystore's instance id: the owner of its kernel keys. */
const uint8_t *instance(struct daemon *d);
int64_t deletion_wait(struct daemon *d);

/* keys.c */
/*
 * The key storage did not store @what ("key 'NAME'", "the revocation of
 * 'NAME'", ...): -@r worded once for every request that changes a key.
 * -EINPROGRESS: written, but not confirmed by the storage (an HSM's
 * anchor); it stands or is undone when the storage answers again.
 */
int store_failed(struct request *rq, int r, const char *what);
/* 0 if the key storage keeps keys of @type; else worded -EOPNOTSUPP. */
int storage_keeps(struct request *rq, int type);
int create_common(struct request *rq, int type, const uint8_t *material, bool generated);
/* Before the mutation lock: an identity key's pair (RSA's take a while). */
int make_key_pair(struct request *rq);
int op_create(struct request *rq);
int op_load(struct request *rq);
int op_show(struct request *rq);
/* Identity key @name's public key (PEM) into the reply. */
int add_public_key(struct request *rq, const char *name);
int op_token(struct request *rq);
int op_rotate(struct request *rq);
/* csr.c */
int op_csr(struct request *rq);
/*
 * handshake.c; take_socket() runs before the mutation lock.  A handshake
 * authorised goes on on a handshake thread (worker.h): op_tls_handshake()
 * sets rq->detached, and handshake_job_run() ends the request there.
 */
int take_socket(struct request *rq);
int op_tls_handshake(struct request *rq);
/* Finish a detached handshake; whether its client stays connected. */
bool handshake_job_run(void *job);
/* import.c */
int op_import(struct request *rq);
int op_import_key(struct request *rq);
int op_import_key_renew(struct request *rq);
/* listing.c */
int op_list(struct request *rq);
int op_status(struct request *rq);
/* states.c */
int op_revoke(struct request *rq);
int op_disable(struct request *rq);
int op_enable(struct request *rq);
int op_schedule_deletion(struct request *rq);
int op_cancel_deletion(struct request *rq);
/* policy.c */
int op_policy(struct request *rq);
/* volumes.c; open_device() runs before the mutation lock */
int open_device(struct request *rq);
int op_dm_open(struct request *rq);
int op_dm_close(struct request *rq);
/* backup.c */
int op_backup(struct request *rq);
int op_restore(struct request *rq);
/* verify.c */
int op_audit_verify(struct request *rq);
/* kms.c: the local KMS API */
int op_encrypt(struct request *rq);
int op_decrypt(struct request *rq);
/* kms_sign.c */
int op_sign(struct request *rq);
int op_verify(struct request *rq);
int op_public_key(struct request *rq);
/* kms_data.c */
int op_data_key(struct request *rq);
int op_unwrap_to_kernel(struct request *rq);
/* kms_reencrypt.c */
int op_re_encrypt(struct request *rq);
/* kms_mac.c */
int op_generate_mac(struct request *rq);
int op_verify_mac(struct request *rq);
/* kms_random.c */
int op_random(struct request *rq);

#endif
