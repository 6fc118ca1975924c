/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A KMS or MAC key's version used where it lives, for the local KMS API:
 * inside the key storage when the backend can (->use: a PKCS#11 token, the
 * key never in the daemon), else here, the version unsealed for the one
 * call and wiped after it (the embedded key store).
 */
#ifndef HSMKEY_KEY_USE_H
#define HSMKEY_KEY_USE_H

#include "backend.h"

struct request;

#define KEY_USE_TAG_LEN		16	/* AES-GCM's */
#define KEY_USE_MAC_LEN		32	/* HMAC-SHA256's */

/*
 * @u with version @key->version of key @key->name, whose id and type must
 * be @key's (as get() without unseal gave them), the output into @out:
 * KS_USE_SEAL @u->len + KEY_USE_TAG_LEN bytes, KS_USE_OPEN @u->len -
 * KEY_USE_TAG_LEN, KS_USE_MAC KEY_USE_MAC_LEN.  0, or:
 *   -EBADMSG	a ciphertext that does not open (@out wiped); not worded
 *   -ESTALE	the name holds another key now (made again meanwhile); not worded
 *   other	worded in @rq
 */
int key_use(struct request *rq, const struct ks_key *key, const struct ks_use *u, uint8_t *out);

#endif
