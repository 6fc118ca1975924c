/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _HSMKEY_AEAD_H
#define _HSMKEY_AEAD_H

#include "skcipher.h"

struct crypto_aead;

int hsmkey_aead_register(void);
void hsmkey_aead_unregister(void);
const char *hsmkey_aead_inner_driver(void);
int hsmkey_aead_attach(struct crypto_aead *tfm, struct hsmkey_key *key);

#endif
