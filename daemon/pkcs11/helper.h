/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the helper's files share: the loaded module and token (struct
 * hp_server, one per helper process, or per struct hsm in_process), a
 * PKCS#11 session (struct hp_session, one per daemon connection), and the
 * operations they serve.  The daemon side (helper.c) sees only
 * hp_server_open/close and hp_serve, for in_process mode.
 */
#ifndef HSMKEY_PKCS11_HELPER_H
#define HSMKEY_PKCS11_HELPER_H

#include <pthread.h>
#include <stdbool.h>
#include <p11-kit/pkcs11.h>
#include "pkcs11/proto.h"

/* Mechanisms the probe looks for; a bit each in hp_server.missing. */
enum hp_mech {
	HM_ECDH,
	HM_ECB_DATA,
	HM_KEY_WRAP,
	HM_EC_GEN,
	HM_HMAC,
	HM_AES_GEN,
	HM_SECRET_GEN,
	HM_ED_GEN,
	HM_EDDSA,
	HM_AES_GCM,
	HM_RSA_GEN,
	HM_ECDSA,
	HM_RSA_PKCS,
	HM_RSA_PSS,
	__HM_MAX
};
/* What end-to-end delivery to the kernel needs (hsm_lacks()). */
#define HM_DELIVERY	((1UL << HM_ECDH) | (1UL << HM_ECB_DATA) | (1UL << HM_KEY_WRAP) | \
			 (1UL << HM_EC_GEN))

struct hp_server {
	void *dl;
	CK_FUNCTION_LIST *p;
	CK_SLOT_ID slot;
	char label[33];
	char *pin;		/* locked, not dumped; wiped at close */
	size_t pin_len;
	unsigned long missing;	/* 1 << enum hp_mech */
	int beat_fd;		/* HP_INIT's control socket while opening, else 0 */
	pthread_mutex_t login;
	CK_SESSION_HANDLE keep;	/* open from login to C_Finalize */
	pthread_mutex_t handles_lock;
	/*
	 * Held by a batch wrap in turn (HSM_WRAP_IN_TURN) from its ECDH to
	 * its last key: the token wraps them one at a time, the next (sent
	 * before this one is done, daemon/batch.c) waiting here, so that it
	 * starts at once.
	 */
	pthread_mutex_t wraps;
	struct hp_handle *handles;	/* handles.c */
	size_t handles_cap, handles_n;
	/* hsmkey:* objects, found or made at open */
	CK_OBJECT_HANDLE delivery, record, root, audit, instance;
	/*
	 * Session copies of record and root in @keep (secrets.c), made at
	 * first use; 0: none (yet, or the token refused, or a logout took it).
	 */
	CK_OBJECT_HANDLE record_copy, root_copy;
	bool copies_tried;
	uint8_t qh[HSM_POINT_LEN];
	uint8_t audit_pub[HSM_PUB_LEN];
	uint32_t oaep;		/* enum hsm_oaep, found at first use; 0: not yet */
	bool join;		/* hsm_config.join: the shared objects are copied in, not made */
	/* copy.c, under its lock: hsmkey:pair's private key, the last peer key used */
	CK_OBJECT_HANDLE pair, peer;
	uint8_t peer_member[HSM_MEMBER_LEN];
	/* copy.c: the log said once that versions come in with their length unchecked */
	bool said_unchecked;
};

struct hp_session {
	struct hp_server *srv;
	int turn_fd;		/* its connection, for a wrap's turn (HP_BEAT); 0: none */
	CK_SESSION_HANDLE h;
	bool open;
	CK_RV rv;		/* the last failure and the call that gave it */
	const char *call;
	char why[HP_WHY_MAX];	/* set with an error that is not a CK_RV's */
};

/* module.c */
struct hp_uri_query {
	char module[PATH_MAX];		/* module-path=, or empty */
	char server[HP_URI_MAX];	/* x-p11kit-server=, or empty */
	char bare[HP_URI_MAX];		/* the URI without its query */
};
int hp_uri_query(const char *uri, struct hp_uri_query *q, char *why, size_t len);
int hp_server_open(struct hp_server *srv, const struct hp_init *init, char *why, size_t len);
void hp_server_close(struct hp_server *srv);
void hp_beat(const struct hp_server *srv);
int hp_need(struct hp_session *s, unsigned long mechs);
/* "CKM_A, CKM_B" for the mechanisms of @mask (1 << enum hp_mech). */
void hp_mech_names(unsigned long mask, char *buf, size_t len);
int hp_login(struct hp_session *s);

/* session.c */
int hp_session_open(struct hp_session *s);
void hp_session_close(struct hp_session *s);
/* Record @rv from @call and return its -errno. */
int hp_fail(struct hp_session *s, CK_RV rv, const char *call);
int hp_failf(struct hp_session *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Forget a failure that was handled (a check skipped): it must not word a later error. */
void hp_clear_error(struct hp_session *s);
const char *hp_rv_name(CK_RV rv, char *buf, size_t len);
/* Serve one request (with the retries of design §5) into @rep. */
void hp_serve(struct hp_session *s, const struct hp_request *req, struct hp_reply *rep);

/* objects.c */
extern CK_BBOOL hp_true, hp_false;
#define ATTR(type, ptr, len) { (type), (void *)(ptr), (len) }
#define ATTR_T(type) { (type), &hp_true, 1 }
#define ATTR_F(type) { (type), &hp_false, 1 }
CK_RV hp_find_next(struct hp_session *s, CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *got);
int hp_find(struct hp_session *s, CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *out,
	    CK_ULONG max, CK_ULONG *found);
int hp_find_all(struct hp_session *s, CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE **out,
		CK_ULONG *found);
/* Destroy every object @t matches: how many there were, or -errno (@what names the call). */
int hp_destroy_all(struct hp_session *s, CK_ATTRIBUTE *t, CK_ULONG n, const char *what);
/* A token CKO_DATA object @label of @len random bytes (an identity: instance, member). */
int hp_make_random_data(struct hp_session *s, const char *label, size_t len,
			CK_OBJECT_HANDLE *h);
/* The same with the value @v. */
int hp_make_data(struct hp_session *s, const char *label, const void *v, size_t len,
		 CK_OBJECT_HANDLE *h);
/*
 * hsmkey:audit found, or (@make) made, if the token has the mechanism; its
 * public key read.  Not found and not made: srv->audit is CK_INVALID_HANDLE.
 */
int hp_audit_ensure(struct hp_session *s, bool make);
/* A copy unwrapped but not yet checked (objects.c, shared.c). */
#define HP_STAGED_LABEL	"hsmkey:copy-in"
int hp_find_one(struct hp_session *s, CK_OBJECT_CLASS cls, const char *label,
		CK_OBJECT_HANDLE *out);
/* A point from CKA_EC_POINT of @pub, @len bytes raw. */
int hp_read_point(struct hp_session *s, CK_OBJECT_HANDLE pub, uint8_t *out, size_t len);
int hp_find_version(struct hp_session *s, const uint8_t *id, uint32_t version,
		    CK_OBJECT_HANDLE *out);
int hp_find_version_again(struct hp_session *s, const uint8_t *id, uint32_t version,
			  CK_OBJECT_HANDLE *out);
int hp_token_objects(struct hp_session *s);
/* A key version unwrapped by the token: with @key, by @m, from @blob. */
struct hp_unwrapping {
	CK_MECHANISM *m;
	CK_OBJECT_HANDLE key;
	const uint8_t *blob;
	CK_ULONG len;
};
int hp_key_unwrap_version(struct hp_session *s, const struct hp_key *k,
			  const struct hp_unwrapping *uw, CK_OBJECT_HANDLE *out);
int hp_wrapped_len(struct hp_session *s, CK_OBJECT_HANDLE h, CK_MECHANISM_TYPE mech,
		   CK_ULONG *len);
int hp_key_generate(struct hp_session *s, const struct hp_key *k);
int hp_key_import(struct hp_session *s, const struct hp_key *k);
int hp_key_adopt(struct hp_session *s, const struct hp_key *k, bool *was_readable);
int hp_key_destroy(struct hp_session *s, const struct hp_key *k);
int hp_key_find(struct hp_session *s, const struct hp_key *k);
/* The key version objects' ids after @k's, in order, as many as @out holds. */
int hp_key_list(struct hp_session *s, const struct hp_key *k, struct hp_data *out);

/* handles.c: a key version's CKA_ID is its id and be32(version) */
#define HP_VID_LEN	(HSMKEY_ID_LEN + 4)
void hp_handle_remember(struct hp_server *srv, const uint8_t *vid, CK_OBJECT_HANDLE h);
void hp_handle_forget(struct hp_server *srv, const uint8_t *vid);
void hp_handles_forget(struct hp_server *srv);
bool hp_handle_recall(struct hp_session *s, const uint8_t *vid, CK_OBJECT_HANDLE *h);
int hp_handles_load(struct hp_session *s);

/* importkey.c: hsmkey:import and the wrapped import */
int hp_import_key(struct hp_session *s, bool renew, struct hsm_import_key *out);
int hp_key_unwrap(struct hp_session *s, const struct hp_unwrap *u);
/* For copy.c too: OAEP with @hash (enum hsm_oaep) and MGF1 alike; a trial of it. */
void hp_oaep_mech(uint32_t hash, CK_RSA_PKCS_OAEP_PARAMS *p, CK_MECHANISM *m);
int hp_oaep_trial(struct hp_session *s, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv,
		  uint32_t hash);
/* The last C_UnwrapKey failed on its blob, not on the token. */
bool hp_blob_refused(struct hp_session *s);
/* The length of a key that came in by C_UnwrapKey (a trial wrap: the token knows none). */
int hp_unwrapped_len(struct hp_session *s, CK_OBJECT_HANDLE h, CK_ULONG *len);

/* copy.c: copies between tokens (hsm_member() ... hsm_import_copy()) */
int hp_copy_serve(struct hp_session *s, const struct hp_request *req, struct hp_reply *rep);

/*
 * shared.c: hsmkey:record and hsmkey:root wrapped by @m under the peer key
 * @peer, with their copy check tag (hsm.h: HSM_COPY_MAX), and unwrapped as
 * @uw says, taken only if the copy MACs to @tag (copy.c finds the keys and
 * mechanism)
 */
int hp_shared_export(struct hp_session *s, uint32_t obj, CK_MECHANISM *m,
		     CK_OBJECT_HANDLE peer, uint8_t *blob, CK_ULONG *len,
		     uint8_t tag[HSM_MAC_LEN]);
int hp_shared_import(struct hp_session *s, uint32_t obj, const struct hp_unwrapping *uw,
		     const uint8_t tag[HSM_MAC_LEN]);
/* -EOPNOTSUPP for HSM_OBJ_AUDIT, said for hsm_error(). */
int hp_audit_copy(struct hp_session *s);
/*
 * objects.c, for copy.c: a version unwrapped under a staging CKA_ID and
 * label, then made the version, or dropped
 */
int hp_key_unwrap_staged(struct hp_session *s, const struct hp_key *k,
			 const struct hp_unwrapping *uw, CK_OBJECT_HANDLE *out);
int hp_key_commit_staged(struct hp_session *s, const struct hp_key *k, CK_OBJECT_HANDLE h);
void hp_key_drop_staged(struct hp_session *s, const struct hp_key *k, CK_OBJECT_HANDLE h);

/* use.c: hsm_key_use() */
int hp_use(struct hp_session *s, const struct hp_use *u, struct hp_data *out);

/* identity.c: identity key pairs (hsm.h) */
/* How a key pair of one identity type is made and what it gives (identity.c). */
struct hp_kind {
	CK_MECHANISM_TYPE gen;
	enum hp_mech gen_need;
	const uint8_t *params;		/* EC: CKA_EC_PARAMS (a named curve) */
	size_t plen;
	CK_ULONG bits;			/* RSA: CKA_MODULUS_BITS */
	size_t publen;			/* EC: the point's, raw; RSA: the modulus's */
	size_t siglen;			/* ECDSA r || s, Ed25519, RSA */
};

int hp_identity_kind(int type, struct hp_kind *k);	/* -EINVAL: no identity type */
/* @k's kind into @kd, if the token does not hold its version yet. */
int hp_identity_new(struct hp_session *s, const struct hp_key *k, struct hp_kind *kd);
int hp_identity_generate(struct hp_session *s, const struct hp_key *k);
/* The same pair from @k->material (identity.h's form), brought in by its parts. */
int hp_identity_import(struct hp_session *s, const struct hp_key *k);
/*
 * The pair the token holds already whose private key is labelled
 * @k->label, checked (type, and that its public key object is its pair's)
 * and taken: made sensitive and never extractable (*@was_readable: it
 * was, or had been, readable or extractable), under @k's id and label.
 */
int hp_identity_adopt(struct hp_session *s, const struct hp_key *k, bool *was_readable);
/* A signature's length for @type (ECDSA: r || s), 0 for no identity type. */
size_t hp_identity_sig_len(int type);
/* @u's signing mechanism into @m (@pss its parameters), and the mechanism it needs. */
enum hp_mech hp_identity_mech(const struct hp_use *u, CK_MECHANISM *m,
			      CK_RSA_PKCS_PSS_PARAMS *pss);
int hp_identity_public(struct hp_session *s, const struct hp_use *u, struct hp_data *out);

/* deliver.c */
int hp_wrap(struct hp_session *s, const struct hp_wrap *w, struct hp_reply *rep);
/* The token's first ECDH, made at its opening (-EHOSTDOWN, -EACCES: it is not up). */
int hp_delivery_warm(struct hp_session *s);

/* secrets.c */
int hp_mac(struct hp_session *s, const struct hp_data *in, struct hp_data *out);
int hp_derive(struct hp_session *s, const struct hp_data *in, struct hp_data *out);
/* HP_RANDOM: @in->n bytes of C_GenerateRandom into @out. */
int hp_random(struct hp_session *s, const struct hp_data *in, struct hp_data *out);
/* The module is closed: its session copies are gone (their handles may name others). */
void hp_copies_forget(struct hp_server *srv);
/* @n bytes derived from hsmkey:root for @label (hsm_derive()); wiped on failure. */
int hp_derive_bytes(struct hp_session *s, const void *label, size_t len, uint8_t *out, size_t n);
int hp_sign(struct hp_session *s, const struct hp_data *in, struct hp_reply *rep);
int hp_instance(struct hp_session *s, struct hp_data *out);
int hp_instance_set(struct hp_session *s, const struct hp_data *in);
/* HMAC-SHA256 of @msg under @key. */
int hp_hmac_with(struct hp_session *s, CK_OBJECT_HANDLE key, const void *msg, size_t len,
		 uint8_t out[HSM_MAC_LEN]);
/* The copied-in hsmkey:root (@root) or hsmkey:record is @h from now on. */
void hp_secret_set(struct hp_server *srv, bool root, CK_OBJECT_HANDLE h);
/* -ENOENT for a shared object @label the token lacks (a token not joined yet). */
int hp_lacks_shared(struct hp_session *s, const char *label);
int hp_anchor_load(struct hp_session *s, struct hp_data *out);
int hp_anchor_store(struct hp_session *s, const struct hp_data *in);

/* helper.c: one request to the token, the error worded for hsm_error() */
struct hsm;
int hsm_call(struct hsm *h, const struct hp_request *req, struct hp_reply *rep);
int hsm_fail(struct hsm *h, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* helper_main.c: the helper process's entry (hsmkeyd --pkcs11-helper FD). */
int hsm_helper_main(const char *fd);

#endif
