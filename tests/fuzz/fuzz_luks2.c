// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer: the LUKS2 header editor of "hsmkeyctl luks format" (a
 * header comes from a device, which may be anyone's).  The input is the
 * first bytes of a device; both header copies are parsed and, when they
 * are well formed, rewritten in memory.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "luks2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	luks2_set_cipher_buf(copy, size, "capi:xts(hsmaes)-plain64");
	free(copy);
	return 0;
}
