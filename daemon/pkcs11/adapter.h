/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the PKCS#11 backend adapter's files share: the backend itself
 * (backend.c, the backend_ops table over hsm.h), its record store
 * (records.c), adoption (adopt.c) and the orphan listing (orphans.c).
 * The store keeps each key's metadata in a file of its own,
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
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include "backend.h"
#include "config.h"
#include "hsm.h"

struct json_object;

#define P11_FILE_MAX	32768
#define P11_RECORDS	"records"	/* the daemon's records; no key is named so */
#define P11_SUFFIX	".key"
/*
 * An anchor: the records' count (8 bytes, big-endian) and the sum of
 * their MACs (records.c), then, in a key store of several tokens, the
 * members in step when it was written (members.c).
 */
#define P11_ANCHOR_LEN	(8 + HSM_MAC_LEN)

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

/*
 * One token of the key store (members.c).  @synced: its anchor is the
 * store's, so it takes every change as it is made and may take over; a
 * member that missed one is brought up to date (p11_members_sync())
 * before it is again.
 */
#define P11_SUSPECTS	16

struct p11_member {
	struct hsm *hsm;
	bool synced;
	bool foreign;			/* another key store's, or diverged: not used */
	bool diverged;			/* its anchor is as new as the store's, and another */
	bool have_id;
	uint8_t id[HSM_MEMBER_LEN];	/* hsm_member() */
	bool fenced;			/* left out by the operator: not used */
	/*
	 * This process saw it miss a change and has not brought it up to
	 * date since: it holds nothing newer than the members in step, so
	 * a reload (not a start) need not wait for it (members.c).
	 */
	bool lagging;
	bool twin;			/* the same token as member twin_of: not used */
	size_t twin_of;
	unsigned int tried;		/* hsm_ups() at the last attempt to sync it */
	bool tried_once;
	/*
	 * Versions it may hold as another key than the store's (made there
	 * by a call that timed out, then again elsewhere; a copy refused as
	 * another key): destroyed in it before it is brought up to date.
	 * In memory only.
	 */
	struct hsm_version suspect[P11_SUSPECTS];
	size_t nsuspect;
};

#define P11_MEMBERS_MAX	CONFIG_TOKENS_MAX
#define P11_FENCED_MAX	8

struct p11_store {
	/*
	 * The member in use (m[active].hsm).  Written under the backend's
	 * lock, read without it by deliveries and audit signatures.
	 */
	struct hsm *hsm;
	struct p11_member m[P11_MEMBERS_MAX + 1];	/* + the backup token, for a while */
	size_t nm, active;
	/*
	 * Members the operator left out (hsmkeyd --accept-keystore while
	 * they were away, in step): never used again; carried in every
	 * anchor (members.c), the newest P11_FENCED_MAX.
	 */
	uint8_t fenced[P11_FENCED_MAX][HSM_MEMBER_LEN];
	size_t nfenced;
	bool no_failover;		/* an anchor that must not move the store (members.c) */
	/*
	 * The thread that opened the store (the daemon's start: the audit
	 * log, the first load): no member is brought up to date on it (a
	 * join makes RSA pairs, seconds, before the socket listens); the
	 * workers' first operation does it.
	 */
	pthread_t opener;
	int dirfd;
	bool loaded;			/* verified against the anchor */
	bool accept;			/* BACKEND_ACCEPT: the operator's word */
	bool leave_out;			/* BACKEND_LEAVE_OUT: likewise (members.c) */
	uint64_t generation;		/* the last one given (the anchor's number) */
	uint8_t sum[HSM_MAC_LEN];	/* of every file's MAC */
	unsigned int ups;		/* hsm_ups() when the files' digests were taken */
	struct p11_file *f;		/* sorted by name */
	size_t n, cap;
	/*
	 * The record p11_rec_read() gives without reading its file again:
	 * the one a listing is at (with the store locked), until any write.
	 */
	const struct p11_rec *listing;
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

/* verifiers.c: the verifiers the token derived, sealed under a key it derives. */
struct p11_verifiers {
	pthread_mutex_t lock;
	int dirfd;			/* the store's; not owned */
	struct vc_secrets *s;		/* NULL until opened */
	bool opening;			/* a thread is opening it, the lock let go */
	uint64_t retry_at;		/* CLOCK_MONOTONIC ns: after a failure to open */
	uint64_t gen;			/* drops so far */
};

void p11_verifiers_init(struct p11_verifiers *vc, int dirfd);
/*
 * The verifiers of @req the cache holds into @out, each marked in @req
 * (HSM_WRAP_NO_VERIFIER) so the token is not asked for it; the cache
 * opened through @h first if it is not.  Returns the generation that
 * p11_verifiers_keep() is given for the same batch.
 */
uint64_t p11_verifiers_lookup(struct p11_verifiers *vc, struct hsm *h, struct hsm_wrap_req *req,
			      size_t n, struct hsm_wrapped *out);
/* The cache opened through @h if it is not (and not being opened): ->wrap_prepare. */
void p11_verifiers_open(struct p11_verifiers *vc, struct hsm *h);
/* The verifiers the token gave in @w for the unmarked versions of @req, kept. */
void p11_verifiers_keep(struct p11_verifiers *vc, uint64_t gen, const struct hsm_wrap_req *req,
			size_t n, const struct hsm_wrapped *w);
void p11_verifiers_drop(struct p11_verifiers *vc, const uint8_t *id);
void p11_verifiers_close(struct p11_verifiers *vc);

struct p11be {
	struct backend be;
	struct p11_store st;
	struct p11_verifiers vc;
	pthread_mutex_t lock;		/* one operation at a time; recursive */
	int lockfd;
	bool have_instance;
	uint8_t instance[HSMKEY_OWNER_LEN];
	int last;			/* the last load's result: log changes only */
	size_t orphans;			/* key objects no record names (p11_orphans()) */
	int upfd;			/* every member's comebacks (hsm_ups_fd()) */
	char down_why[256];		/* why the store is not loaded (p->last unreachable) */
	unsigned int restores;		/* counted as comebacks: the kernel gets the keys */
	struct hsm *retired;		/* a backup token's handle, closed with the backend */
	bool no_rng_said;		/* p11_random(): the token has no generator, logged */
	struct config cfg;		/* the tokens' settings (members.c) */
};

static inline bool p11_unreachable(int r)
{
	return r == -EHOSTDOWN || r == -ETIMEDOUT || r == -EACCES;
}

static inline struct p11be *be_p11(struct backend *b)
{
	return (struct p11be *)((char *)b - offsetof(struct p11be, be));
}

/* backend.c */
int p11_ready(struct p11be *p);
bool p11_failover_from(struct p11be *p, struct hsm *h);

/* The member in use, read without the lock (deliveries, audit signatures). */
static inline struct hsm *p11_hsm(struct p11be *p)
{
	return __atomic_load_n(&p->st.hsm, __ATOMIC_ACQUIRE);
}

/* unlocked.c: the operations served without the store's lock */
int p11_sign_audit(struct backend *b, const void *msg, size_t len, uint8_t *sig, uint8_t *pub);
int p11_random(struct backend *b, uint8_t *out, size_t len);
int p11_use(struct backend *b, const struct ks_key *key, const struct ks_use *u, uint8_t *out,
	    size_t *outlen);

/* Keys of every type live in the token (hsmkeyd's own used there, ->use). */
static inline bool p11_keeps(int type)
{
	return type > 0;
}
int p11_wrap(struct backend *b, const uint8_t *kpoint, const struct ks_wrap_req *req, size_t n,
	     uint8_t *hpoint, struct ks_wrapped *out, unsigned int flags);
void p11_wrap_prepare(struct backend *b);
int p11_health(struct backend *b, char *why, size_t len);
bool p11_undeliverable(struct backend *b, char *why, size_t len);
unsigned int p11_comebacks(struct backend *b);
int p11_comebacks_fd(struct backend *b);
void p11_retry(struct backend *b);


/* The token object for a new version: generated, imported, unwrapped or adopted. */
struct p11_source {
	const uint8_t *material;
	const uint8_t *blob;		/* wrapped import: unwrapped by the token */
	size_t blob_len;
	const char *label;		/* adopt */
	bool was_readable;
	bool relabelled;		/* adopt: done before (p11_adopt_begin()) */
};

/* records.c */
int p11_store_load(struct p11_store *st);
/*
 * The store's anchor again, one generation on, the records unchanged (the
 * members in step have changed); any failure unloads the store, as the
 * token may have stored it: the next operation loads it again.
 */
int p11_store_reanchor(struct p11_store *st);
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
/* A new key's record, version 1 (its object not made yet). */
void p11_rec_new(struct p11_rec *rec, const char *name, int type, const uint8_t *id);

/* adopt.c */
/* "pkcs11:object=LABEL" (the one attribute taken; %XX escapes decoded). */
int p11_label(const char *uri, char *label, size_t size);
/* The records file (*@o, new if none) and its notes (*@notes, NULL if none). */
int p11_adopt_notes(struct p11be *p, struct json_object **o, struct json_object **notes);
/* A note's fields: 0, or -EBADMSG for one that does not parse. */
int p11_adopt_parse(struct json_object *n, char *name, int *type, uint8_t *id);
/* Before relabelling @src->label's object as @rec: its note; after it (@r): the note's end. */
int p11_adopt_begin(struct p11be *p, struct p11_rec *rec, struct p11_source *src);
void p11_adopt_end(struct p11be *p, const char *label, int r);
/* At load: each adoption cut short finished or dropped. */
void p11_adopt_recover(struct p11be *p);

/* members.c: several tokens as one key store */
int p11_members_open(struct p11be *p, const struct config *cfg);
void p11_members_close(struct p11be *p);
/* The store loaded against the member whose anchor is newest. */
int p11_members_load(struct p11be *p);
/* Members that came back brought up to date with the one in use. */
void p11_members_sync(struct p11be *p);
/* The one in use failed: the next member in step takes over (true), said in the log. */
bool p11_failover(struct p11_store *st);
/*
 * The anchor (@buf, @len: the records' part) stored in the member in use
 * (failing over) and in every member in step, naming those.
 */
int p11_anchor_all(struct p11_store *st, uint64_t gen, const uint8_t *buf, size_t len);
/* A new version (in the member in use) copied to every member in step. */
int p11_mirror_version(struct p11be *p, const struct p11_rec *rec, uint32_t version);
/* The version may be another key in the member in use (its call failed unreachable). */
void p11_suspect(struct p11_store *st, size_t i, const uint8_t *id, uint32_t version);
/* A version destroyed in every member in step (-ENOENT from none counts). */
int p11_destroy_version(struct p11be *p, const uint8_t *id, uint32_t version);
/* hsmkeyctl backup, restore (backend.h): under the backend's lock */
int p11_backup(struct p11be *p, struct ks_copy_report *rep);
int p11_restore(struct p11be *p, struct ks_copy_report *rep);
/* "token a (in use), token b (in step)" */
void p11_members_describe(struct p11be *p, char *buf, size_t len);
unsigned int p11_members_ups(struct p11be *p);

/* orphans.c: key objects no record names, logged; their count in p->orphans. */
void p11_orphans(struct p11be *p);

#endif
