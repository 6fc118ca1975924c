/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _HSMKEY_SKCIPHER_H
#define _HSMKEY_SKCIPHER_H

#include "keys.h"

struct crypto_skcipher;

int hsmkey_skcipher_register(void);
void hsmkey_skcipher_unregister(void);
const char *hsmkey_skcipher_inner_driver(enum hsmkey_mode mode);
int hsmkey_skcipher_attach(struct crypto_skcipher *tfm, struct hsmkey_key *key);

#endif
