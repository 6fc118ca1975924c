/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the PKCS#11 backend adapter's two files share: the backend itself
 * (backend.c, the backend_ops table over hsm.h) and its record store
 * (records.c).  The store keeps each key's metadata in a file of its own,
 * STATE/pkcs11/NAME.key, and the daemon's small records in
 * STATE/pkcs11/records; every file carries an HMAC made by the token
 * (hsm_mac(), the key never leaves it) over its text, its file name and
 * its generation.  Rollback: the sum (mod 2^256) of every file's MAC and
 * the number of files are anchored in the token (hsm_anchor_*()) under
 * the last generation given, so a state directory restored from an older
 * copy, a file removed or an old file put back no longer adds up.  Nothing
 * secret is on disk: versions' verifiers are derived in the token.
 */
#ifndef HSMKEY_PKCS11_ADAPTER_H
#define HSMKEY_PKCS11_ADAPTER_H

#include <openssl/sha.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "backend.h"
#include "hsm.h"

struct json_object;

#define P11_FILE_MAX	32768
#define P11_RECORDS	"records"	/* the daemon's records; no key is named so */
#define P11_SUFFIX	".key"

/*
 * One file of the store in memory: its name, the MAC it was written with,
 * the SHA-256 of its bytes as last authenticated (read back unchanged
 * while the same helper serves the token, it needs no MAC from the token:
 * at start-up that was one token call per key delivered), and a key
 * record's id (which token objects are named by
 * a record).
 */
struct p11_file {
	char name[HSMKEY_NAME_MAX + sizeof(P11_SUFFIX)];
	uint8_t mac[HSM_MAC_LEN];
	uint8_t digest[SHA256_DIGEST_LENGTH];
	bool has_id;
	uint8_t id[HSMKEY_ID_LEN];
};

struct p11_store {
	struct hsm *hsm;
	int dirfd;
	bool loaded;			/* verified against the anchor */
	bool accept;			/* BACKEND_ACCEPT: the operator's word */
	uint64_t generation;		/* the last one given (the anchor's number) */
	uint8_t sum[HSM_MAC_LEN];	/* of every file's MAC */
	unsigned int ups;		/* hsm_ups() when the files' digests were taken */
	struct p11_file *f;		/* sorted by name */
	size_t n, cap;
};

/* A key's record: the metadata, per version what is not secret. */
struct p11_ver {
	uint32_t version;
	int64_t created;
	uint64_t used_bytes, used_requests;
};

struct p11_rec {
	struct ks_key meta;		/* no secrets; version == current */
	bool was_readable;		/* adopted while its value could be read */
	uint32_t nver;
	struct p11_ver v[KS_VERSIONS_MAX];
};

/* records.c */
int p11_store_load(struct p11_store *st);
void p11_store_free(struct p11_store *st);
/* -ENOENT: no such file; -EBADMSG: it does not authenticate or is not the one we wrote. */
int p11_file_read(struct p11_store *st, const char *file, struct json_object **out);
/*
 * Written, but the token did not confirm the anchor and cannot be asked
 * now: the change stands or is refused at the next load, so what the new
 * record names (a key version) must not be undone.
 */
#define P11_UNCONFIRMED	(-EINPROGRESS)

/*
 * Write @o (its "gen", "prev" and "mac" are set here), then anchor the
 * change: 0, P11_UNCONFIRMED, or an error with nothing written.
 */
int p11_file_write(struct p11_store *st, const char *file, struct json_object *o);
/* Anchor the file's absence first, then remove it. */
int p11_file_remove(struct p11_store *st, const char *file);
/* The store's key names in order, those after @after: *@out (free()), their count. */
int p11_key_names(struct p11_store *st, const char *after, char (**out)[HSMKEY_NAME_MAX],
		  size_t *n);
int p11_rec_read(struct p11_store *st, const char *name, struct p11_rec *rec);
int p11_rec_write(struct p11_store *st, const struct p11_rec *rec);
/* The version's index in @rec, or rec->nver. */
uint32_t p11_rec_find(const struct p11_rec *rec, uint32_t version);

#endif
