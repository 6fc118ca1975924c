/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The embedded keystore's calls, for its backend adapter and its tests
 * (the daemon reaches it only through backend.h): one JSON file per key
 * under STATE/keys holding every version of the key, each version's
 * verifier and material sealed with AES-256-GCM under the master key
 * (STATE/master.key, or derived from a passphrase).  Destroying a key
 * replaces the master key and re-seals every other key under the new one
 * (see ks_destroy()).
 */
#ifndef HSMKEY_KEYSTORE_H
#define HSMKEY_KEYSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/hsmkey.h>
#include "key.h"

struct keystore;

int ks_open(const char *dir, struct keystore **out);
/* With @passfile, the master key is derived from the passphrase in it. */
int ks_open_ex(const char *dir, const char *passfile, struct keystore **out);
/*
 * KS_OPEN_ACCEPT: key files that do not match the generations the root
 * record holds (a file removed, or restored from an older copy) are
 * recorded as the current ones instead of refused: the operator's
 * recovery after judging why (hsmkeyd --accept-keystore).
 */
#define KS_OPEN_ACCEPT	1u
/*
 * KS_OPEN_UPGRADE: a store written by a release before key files were
 * authenticated (format 2) is upgraded, its files taken as found; without
 * it such a store does not open (-EPERM), since a root record from before
 * the upgrade put back, with the files turned back into format 2, looks
 * the same (hsmkeyd --upgrade-keystore).
 */
#define KS_OPEN_UPGRADE	2u
int ks_open_flags(const char *dir, const char *passfile, unsigned int flags,
		  struct keystore **out);
void ks_close(struct keystore *ks);
int ks_create(struct keystore *ks, const char *name, int type,
	      const uint8_t *material, struct ks_key *out);
/* The current version. */
int ks_get(struct keystore *ks, const char *name, bool unseal,
	   struct ks_key *out);
/* Version @version (0: the current one). */
int ks_get_version(struct keystore *ks, const char *name, uint32_t version,
		   bool unseal, struct ks_key *out);
int ks_set_state(struct keystore *ks, const char *name, int state);
int ks_set_state_at(struct keystore *ks, const char *name, int state,
		    int64_t delete_at);
/*
 * A key, or a new version, whose material another backend keeps, named
 * there by @ref (a KMIP Unique Identifier: printable ASCII, no spaces,
 * shorter than KS_REF_MAX): only its verifier is sealed here, and get()
 * gives @ref (struct ks_key's ref) but no material.
 */
int ks_create_ref(struct keystore *ks, const char *name, int type, const char *ref,
		  struct ks_key *out);
int ks_rotate_ref(struct keystore *ks, const char *name, const char *ref, struct ks_key *out);
bool ks_valid_ref(const char *ref);
/* A new current version with @material (random when NULL). */
int ks_rotate(struct keystore *ks, const char *name, const uint8_t *material,
	      struct ks_key *out);
/* Remove every version, then re-seal all other keys under a new master key. */
int ks_destroy(struct keystore *ks, const char *name);
/* Replace the master key, re-sealing everything under the new one. */
int ks_rotate_master(struct keystore *ks);
/* Parse key file @file's bytes (what ks_get does after reading it). */
int ks_parse(struct keystore *ks, const char *file, const char *data, size_t n,
	     bool unseal, struct ks_key *key);
int ks_set_policy(struct keystore *ks, const char *name, const struct ks_policy *p);
/* Back to the state before the deletion was scheduled (-EINVAL: none is). */
int ks_cancel_deletion(struct keystore *ks, const char *name, struct ks_key *out);
/* The kernel's spent usage of version @version; it never decreases. */
int ks_set_usage(struct keystore *ks, const char *name, uint32_t version,
		 uint64_t used_bytes, uint64_t used_requests);
/* Small named records of the daemon's, sealed in the root record. */
int ks_record_load(struct keystore *ks, const char *name, void *buf, size_t len);
int ks_record_store(struct keystore *ks, const char *name, const void *buf, size_t len);
/* This keystore's random 128-bit identity: the owner of its kernel keys. */
const uint8_t *ks_instance(const struct keystore *ks);
int ks_dirfd(const struct keystore *ks);	/* the state directory */
/* @len bytes for @label's purpose, derived from the master key (HKDF). */
int ks_derive(const struct keystore *ks, const char *label, uint8_t *out, size_t len);

int ks_list(struct keystore *ks, const char *after,
	    int (*fn)(const struct ks_key *key, void *arg), void *arg);

#endif
