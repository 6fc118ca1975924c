/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _HSMKEY_E2E_H
#define _HSMKEY_E2E_H

#include <linux/types.h>
#include "keys.h"

#define HSMKEY_E2E_Z_LEN	32
#define HSMKEY_E2E_KEK_LEN	32

/* What one key version of a KEY_ADD brings in its E2E nest. */
struct hsmkey_e2e_wrapped {
	u64 handle;
	const u8 *hpoint;		/* HSMKEY_E2E_POINT_LEN bytes */
	const u8 *blob;			/* HSMKEY_E2E_KW_LEN(key length) bytes */
};

/* The ephemeral keys of one KEY_ADD message, and the unwrapping it does. */
struct hsmkey_e2e_batch;

bool hsmkey_e2e_available(void);
/* A new ephemeral key (@priv: 32 bytes big endian, or NULL: random). */
int hsmkey_e2e_new(const u8 *priv, u32 uses, u32 ttl, u64 *handle, u8 *point);
void hsmkey_e2e_reset(void);
void hsmkey_e2e_exit(void);

struct hsmkey_e2e_batch *hsmkey_e2e_batch_new(void);
void hsmkey_e2e_batch_free(struct hsmkey_e2e_batch *b);
int hsmkey_e2e_unwrap(struct hsmkey_e2e_batch *b,
		      const struct hsmkey_e2e_wrapped *w,
		      const struct hsmkey_kid *kid, u32 type, u8 *material);
int hsmkey_e2e_commit(struct hsmkey_e2e_batch *b, int (*insert)(void *arg),
		      void *arg);

/*
 * The design's §2.4 known answer (e2e_kat.c): material 0x40..0x7f, id
 * 00..0f, version HSMKEY_E2E_KAT_VERSION, AES-256-XTS.
 */
#define HSMKEY_E2E_KAT_PRIV_LEN	32
#define HSMKEY_E2E_KAT_VERSION	3
extern const u8 hsmkey_e2e_kat_priv[HSMKEY_E2E_KAT_PRIV_LEN];
extern const u8 hsmkey_e2e_kat_hpoint[HSMKEY_E2E_POINT_LEN];
extern const u8 hsmkey_e2e_kat_blob[HSMKEY_E2E_KW_LEN(64)];

/* The steps, for the KUnit suite. */
int hsmkey_e2e_shared(u64 handle, const u8 *hpoint, u8 *kpoint, u8 *z);
void hsmkey_e2e_kek(const u8 *z, const u8 *kpoint, const u8 *hpoint,
		    const struct hsmkey_kid *kid, u32 type, u8 *kek);

#endif
