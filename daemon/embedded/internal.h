/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the files of the embedded keystore share and nothing outside it
 * sees: the keystore itself, a key file in memory, and the calls each
 * layer offers the one above.  The layers, bottom up: master.c (master
 * key, KDF, sealing), record.c (one key file), root.c (the sealed root
 * record), store.c (the key directory), backend.c (the backend adapter).
 */
#ifndef HSMKEY_EMBEDDED_INTERNAL_H
#define HSMKEY_EMBEDDED_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "backend.h"
#include "keystore.h"

#define KS_MASTER_LEN	32
#define KS_MKID_LEN	8
#define KS_NONCE_LEN	12
#define KS_TAG_LEN	16
#define KS_FILE_MAX	32768
#define KS_SEALED_MAX	(HSMKEY_VERIFIER_LEN + HSMKEY_MATERIAL_MAX)
#define KS_ROOT		"root.json"

struct json_object;

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
};

struct ks_record {
	struct ks_key meta;		/* no secrets; version == current */
	uint8_t mkid[KS_MKID_LEN];
	uint32_t nver;
	struct ks_ver v[KS_VERSIONS_MAX];
};

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
int ks_parse_record(const char *file, const char *data, size_t n, struct ks_record *rec);
uint32_t ks_find_version(const struct ks_record *rec, uint32_t version);

/* root.c */
int ks_root_load(struct keystore *ks, const char *dir);
int ks_root_store(struct keystore *ks);
int ks_instance_load(struct keystore *ks, const char *dir);

#endif
