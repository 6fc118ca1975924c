/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _HSMKEY_TOKEN_H
#define _HSMKEY_TOKEN_H

#include "keys.h"

int hsmkey_token_bind(const u8 *buf, unsigned int len, enum hsmkey_mode mode,
		      int (*prepare)(struct hsmkey_key *key, void *arg),
		      void *arg, struct hsmkey_key **keyp);

#endif
