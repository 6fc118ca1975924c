/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _HSMKEY_SKCIPHER_H
#define _HSMKEY_SKCIPHER_H

#include <linux/crypto.h>
#include "keys.h"

struct crypto_skcipher;

/* The implementation an algorithm forwards to, found at registration. */
struct hsmkey_inner {
	const char *name;
	char driver[CRYPTO_MAX_ALG_NAME];	/* the kernel's best driver */
	/*
	 * Where the best driver is a crypto/simd.c wrapper: its SIMD core,
	 * which a key calls directly when SIMD is usable, and "cryptd(core)",
	 * which it calls otherwise (what the wrapper itself would do, without
	 * the wrapper's own sub-request); else both "" and a key uses the
	 * best driver.
	 */
	char direct[CRYPTO_MAX_ALG_NAME];
	char deferred[CRYPTO_MAX_ALG_NAME];
	unsigned int reqsize;	/* the largest a key's inner tfms need */
};

int hsmkey_skcipher_register(void);
void hsmkey_skcipher_unregister(void);
const char *hsmkey_skcipher_inner_driver(enum hsmkey_mode mode);
bool hsmkey_skcipher_has_direct(enum hsmkey_mode mode);
int hsmkey_skcipher_attach(struct crypto_skcipher *tfm, struct hsmkey_key *key);
int hsmkey_skcipher_prepare(struct hsmkey_key *key, void *arg);

#endif
