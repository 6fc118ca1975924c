/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _HSMKEY_SKCIPHER_H
#define _HSMKEY_SKCIPHER_H

#include <linux/crypto.h>
#include "keys.h"

struct crypto_skcipher;

/* The implementation an algorithm forwards to, found at registration. */
struct hsmkey_inner {
	const char *name;
	char driver[CRYPTO_MAX_ALG_NAME];
	char direct[CRYPTO_MAX_ALG_NAME];	/* its SIMD core, or "" */
	unsigned int reqsize;			/* the larger of the two */
};

int hsmkey_skcipher_register(void);
void hsmkey_skcipher_unregister(void);
const char *hsmkey_skcipher_inner_driver(enum hsmkey_mode mode);
int hsmkey_skcipher_attach(struct crypto_skcipher *tfm, struct hsmkey_key *key);
int hsmkey_skcipher_prepare(struct hsmkey_key *key, void *arg);

#endif
