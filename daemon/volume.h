/* SPDX-License-Identifier: GPL-2.0 */
/* dm-crypt volumes keyed by token, through the kernel keyring. */
#ifndef HSMKEY_VOLUME_H
#define HSMKEY_VOLUME_H

#include "key.h"

#define VOLUME_UUID_PREFIX "HSMKEY-PLAIN-"

int volume_open(const char *device, const char *map, const struct ks_key *key,
		char *err, size_t errlen);
int volume_close(const char *map, char *err, size_t errlen);

#endif
