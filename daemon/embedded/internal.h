/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the files of the embedded keystore share and nothing outside it
 * sees: the keystore itself, a key file in memory, and the calls each
 * layer offers the one above.  The layers, bottom up: master.c (master
 * key, KDF, sealing), record.c (one key file), tomb.c (the ids of
 * revoked and destroyed keys), tombfile.c (them on disk, STATE/tombs),
 * root.c (the sealed root record: generations, the tombstones' count
 * and hash), index.c (metadata in memory), store.c (the
 * key directory's files), scan.c (the directory checked as a whole at
 * open), kept.c (records kept for the next use),
 * open.c (the state directory), keys.c (operations on one key),
 * backend.c (the backend adapter).
 */
#ifndef HSMKEY_EMBEDDED_INTERNAL_H
#define HSMKEY_EMBEDDED_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include "backend.h"
#include "keystore.h"

#define KS_MASTER_LEN	32
#define KS_MKID_LEN	8
#define KS_NONCE_LEN	12
#define KS_TAG_LEN	16
#define KS_FILE_MAX	32768
#define KS_SEALED_MAX	(HSMKEY_VERIFIER_LEN + KS_MATERIAL_MAX)
#define KS_MAC_LEN	32
#define KS_ROOT		"root.json"
#define KS_TOMBS	"tombs"

struct json_object;

/*
 * Rollback state, kept in the sealed root record (root.c): the last
 * generation given to a key file, and the sum (mod 2^256) over every key
 * file of HMAC(name, generation), so that the whole directory is checked
 * at open against 32 bytes and each change costs O(1).  @pending: a
 * change begun (root written) whose key file may or may not be in place.
 */
struct ks_gen {
	bool upgraded;			/* format-3 store: the rest is valid */
	bool upgrading;			/* from format 2, under way */
	uint64_t generation;
	uint64_t keys;
	uint8_t sum[KS_MAC_LEN];
	bool pending;
	char pname[HSMKEY_NAME_MAX];
	uint64_t pold, pnew;		/* 0: no file before / after */
};

/*
 * Tombstones (tomb.c): the final state of every key ever revoked or
 * destroyed, by id, sorted in memory; on disk in STATE/tombs (tombfile.c),
 * whose count and hash the root record seals.  KS_TOMBS_MAX bounds the
 * table: a key is only created while every key could still get one
 * (ks_create()).  An id has at most two entries on file (revoked, then
 * destroyed): 35 MiB of STATE/tombs at most.
 */
#define KS_TOMB_REVOKED		1
#define KS_TOMB_DESTROYED	2
#define KS_TOMB_LEN		(HSMKEY_ID_LEN + 1)
#define KS_TOMBS_MAX		(1u << 20)
#define KS_TOMB_ENTRIES_MAX	(2 * KS_TOMBS_MAX)

struct ks_tomb {
	uint8_t id[HSMKEY_ID_LEN];
	uint8_t state;
};

struct ks_tombs {
	struct ks_tomb *t;
	size_t n, cap;
	/* STATE/tombs, when @file (a table without one stays in memory): */
	bool file;
	int fd;
	uint64_t count;			/* its entries counted: the chain's length */
	uint8_t hash[KS_MAC_LEN];	/* the chain over them */
	uint64_t stored;		/* the count of the root record on disk */
	bool extra;			/* entries beyond @count may follow */
	bool dirty;			/* appended, not yet synced */
	uint64_t undo_count;		/* before the last ks_tomb_set() */
	uint8_t undo_hash[KS_MAC_LEN];
};

/* One key in the index (index.c): its authenticated metadata. */
struct ks_entry {
	uint64_t gen;
	/* Its file did not authenticate at open: @gen is what it claims. */
	bool damaged;
	/* The file as last read or written: a change behind our back shows. */
	dev_t dev;
	ino_t ino;
	struct timespec ctime;
	struct ks_key meta;		/* current version, no secrets */
};

struct ks_index {
	struct ks_entry **e;		/* sorted by name */
	size_t n, cap;
};

/* A key record kept as read for the next use of its key (kept.c). */
#define KS_KEPT			16
#define KS_KEPT_SETTLE_MS	100	/* how old a file must be to be kept */
struct ks_kept {
	struct ks_record *rec;		/* NULL: empty */
	dev_t dev;			/* the file it was read from */
	ino_t ino;
	struct timespec ctime;
	bool settled;			/* changed long enough before the read */
};

/*
 * Secrets first, in pages of their own that are locked in memory and left
 * out of core dumps.  @next is the master key being put in place while a
 * replacement is under way (see ks_replace_master()); @root is the secret
 * that ks_derive() derives from, sealed in STATE/root.json so that it
 * survives master key replacements (the audit log's keys come from it).
 */
struct keystore {
	uint8_t master[KS_MASTER_LEN];
	uint8_t next[KS_MASTER_LEN];
	uint8_t root[KS_MASTER_LEN];
	uint8_t filekey[KS_MASTER_LEN];	/* key file MACs, from @root */
	uint8_t setkey[KS_MASTER_LEN];	/* the generation sum's items, from @root */
	uint8_t mkid[KS_MKID_LEN];
	uint8_t next_mkid[KS_MKID_LEN];
	bool has_next;
	bool passphrase;
	char passfile[PATH_MAX];
	int dirfd;
	int keysfd;
	int lockfd;
	uint8_t instance[HSMKEY_OWNER_LEN];
	struct json_object *records;	/* daemon records, in root.json */
	struct ks_gen gen;
	struct ks_tombs tombs;
	int root_format;		/* as read: older ones are written anew */
	bool accept;			/* KS_OPEN_ACCEPT: the operator's word */
	bool upgrade;			/* KS_OPEN_UPGRADE: the operator's word */
	struct ks_index index;
	struct ks_kept kept[KS_KEPT];
	unsigned int kept_next;		/* the slot a new record takes */
	struct backend be;
	pthread_mutex_t lock;		/* the backend ops: one thread at a time */
};

/* A key file in memory: the metadata, which master key sealed it, each version sealed. */
struct ks_ver {
	uint32_t version;
	int64_t created;
	uint64_t used_bytes, used_requests;	/* spent by the kernel */
	uint8_t nonce[KS_NONCE_LEN];
	uint8_t tag[KS_TAG_LEN];
	uint8_t sealed[KS_SEALED_MAX];
	char ref[KS_REF_MAX];		/* "": the material is sealed here */
};

struct ks_record {
	struct ks_key meta;		/* no secrets; version == current */
	int format;
	uint64_t gen;
	uint8_t mac[KS_MAC_LEN];	/* format 3 */
	uint8_t mkid[KS_MKID_LEN];
	uint32_t nver;
	struct ks_ver v[KS_VERSIONS_MAX];
};

/* kept.c */
/*
 * Key @name's record for a use, read or kept from the last read when its
 * file has not changed since; valid until the lock that serialises this
 * keystore is let go or the next ks_read_kept().  Errors as ks_read().
 */
int ks_read_kept(struct keystore *ks, const char *name, const struct ks_record **out);
/* Forget (and wipe) what is kept of key @name: its file is changing. */
void ks_kept_drop(struct keystore *ks, const char *name);
void ks_kept_free(struct keystore *ks);

/* master.c */
int ks_master_load(struct keystore *ks, const char *dir);
const uint8_t *ks_master_for(const struct keystore *ks, const uint8_t *mkid);
const uint8_t *ks_seal_master(const struct keystore *ks, const uint8_t **mkid);
int ks_gcm(const uint8_t *master, bool seal, const uint8_t *aad, int aadlen,
	   const uint8_t *nonce, uint8_t *tag, const uint8_t *in, uint8_t *out, int len);
int ks_new_master(struct keystore *ks);
int ks_finish_master(struct keystore *ks);

/* record.c */
const char *jstr(struct json_object *o, const char *k);
int64_t jint(struct json_object *o, const char *k);
int ks_unseal(const struct keystore *ks, const struct ks_record *rec, uint32_t idx,
	      struct ks_key *key);
int ks_reseal(const struct keystore *ks, const struct ks_record *old,
	      const struct ks_key *meta, const struct ks_key *add, struct ks_record *out);
int ks_record_text(const struct ks_record *rec, char **text);
int ks_record_mac(const struct keystore *ks, const struct ks_record *rec, uint8_t *out);
int ks_record_verify(const struct keystore *ks, struct ks_record *rec, bool *legacy);
int ks_parse_record(const char *file, const char *data, size_t n, struct ks_record *rec);
uint32_t ks_find_version(const struct ks_record *rec, uint32_t version);

/* tomb.c */
int ks_tomb_find(const struct ks_tombs *tb, const uint8_t *id);
int ks_tomb_set(struct ks_tombs *tb, const uint8_t *id, int state, int *prev);
void ks_tomb_undo(struct ks_tombs *tb, const uint8_t *id, int prev);
int ks_tomb_keep(const struct ks_tombs *tb, struct ks_key *meta, bool *forced);
int ks_tomb_decode(struct ks_tombs *tb, const uint8_t *in, size_t n);
void ks_tomb_free(struct ks_tombs *tb);

/* tombfile.c */
int ks_tombfile_append(struct ks_tombs *tb, const uint8_t *id, int state);
int ks_tombfile_sync(struct ks_tombs *tb);
int ks_tombfile_load(struct ks_tombs *tb, int dirfd, const char *dir, uint64_t n,
		     const uint8_t *hash);
int ks_tombfile_create(struct ks_tombs *tb, int dirfd);

/* root.c */
int ks_root_load(struct keystore *ks, const char *dir);
int ks_root_store(struct keystore *ks);
int ks_instance_load(struct keystore *ks, const char *dir);
void ks_gen_item(const struct keystore *ks, const char *name, uint64_t gen, uint8_t *out);
void ks_sum_add(uint8_t *sum, const uint8_t *item);
int ks_gen_begin(struct keystore *ks, const char *name, uint64_t old, bool keep,
		 uint64_t *gen);
int ks_gen_end(struct keystore *ks, bool done);
bool ks_gen_matches(const struct keystore *ks, const uint8_t *sum, uint64_t keys);
int ks_gen_check(struct keystore *ks, const uint8_t *sum, uint64_t keys);

/* store.c */
int ks_files(struct keystore *ks, char ***out, size_t *count);
void ks_files_free(char **names, size_t n);
/* Read and parse key file @file (no check of its MAC); -errno. */
int ks_load(struct keystore *ks, const char *file, struct ks_record *rec, struct stat *st);
/* Write @rec (its generation set) as its key file, MAC made; the index follows. */
int ks_write(struct keystore *ks, struct ks_record *rec);
/* Key file @file is set aside: logged, saying so. */
void ks_report_file(const char *file);
int ks_reseal_all(struct keystore *ks, const char *skip);
struct ks_record *ks_record_new(void);
void ks_report(const char *name, int r);
int ks_absent(struct keystore *ks, const char *name);
int ks_read(struct keystore *ks, const char *name, struct ks_record *rec);
int ks_commit(struct keystore *ks, struct ks_record *rec, uint64_t old);
int ks_remove(struct keystore *ks, const char *name, uint64_t old);
int ks_replace_master(struct keystore *ks, const char *skip);

/* scan.c */
int ks_scan(struct keystore *ks, const char *dir);

/* index.c */
struct ks_entry *ks_index_find(const struct ks_index *ix, const char *name);
/* The position of the first entry after @name (NULL: 0). */
size_t ks_index_after(const struct ks_index *ix, const char *name);
int ks_index_put(struct ks_index *ix, const struct ks_record *rec, const struct stat *st);
int ks_index_put_damaged(struct ks_index *ix, const char *name, uint64_t gen);
void ks_index_remove(struct ks_index *ix, const char *name);
void ks_index_free(struct ks_index *ix);

#endif
