/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The embedded keystore: one JSON file per key under STATE/keys, each key's
 * verifier and material sealed with AES-256-GCM under the master key in
 * STATE/master.key, with name, version, type and id as associated data.
 */
#ifndef HSMKEY_KEYSTORE_H
#define HSMKEY_KEYSTORE_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/hsmkey.h>

enum ks_state { KS_ACTIVE = 1, KS_REVOKED = 2 };

struct ks_key {
	char name[HSMKEY_NAME_MAX];
	int type;
	uint8_t id[HSMKEY_ID_LEN];
	uint32_t version;
	int state;
	int64_t created;
	/* Secrets: only after ks_get(..., true); wipe with ks_key_wipe(). */
	uint8_t verifier[HSMKEY_VERIFIER_LEN];
	uint8_t material[HSMKEY_MATERIAL_MAX];
};

struct keystore;

int ks_open(const char *dir, struct keystore **out);
void ks_close(struct keystore *ks);
int ks_create(struct keystore *ks, const char *name, int type,
	      const uint8_t *material, struct ks_key *out);
int ks_get(struct keystore *ks, const char *name, bool unseal,
	   struct ks_key *out);
int ks_set_state(struct keystore *ks, const char *name, int state);
int ks_list(struct keystore *ks,
	    int (*fn)(const struct ks_key *key, void *arg), void *arg);
void ks_key_wipe(struct ks_key *key);
void ks_token(const struct ks_key *key, struct hsmkey_token *tok);
const char *ks_state_name(int state);

#endif
