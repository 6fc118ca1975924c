/* SPDX-License-Identifier: GPL-2.0 */
/* dm-crypt volumes keyed by token, through the kernel keyring. */
#ifndef HSMKEY_VOLUME_H
#define HSMKEY_VOLUME_H

#include <stdint.h>
#include <sys/types.h>
#include "key.h"

#define VOLUME_UUID_PREFIX "HSMKEY-PLAIN-"

/* A plain dm-crypt mapping @map over block device @device of @bytes. */
int volume_open(dev_t device, uint64_t bytes, const char *map, const struct ks_key *key,
		char *err, size_t errlen);
int volume_close(const char *map, char *err, size_t errlen);

#endif
