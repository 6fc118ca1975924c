// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer: the LUKS2 header editor of "hsmkeyctl luks format" (a
 * header comes from a device, which may be anyone's).  The input is the
 * first bytes of a device; both header copies are parsed and, when they
 * are well formed, rewritten in memory.  Each input runs twice: as given
 * (the checksum checks), and with both copies' checksums made valid, so
 * that mutations reach the JSON checks behind them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "luks2.h"

static void fix_checksums(uint8_t *hdr, size_t len)
{
	size_t size = luks2_header_size(hdr, len);
	unsigned int mdlen = 32;

	if (!size || len < 2 * size)
		return;
	for (size_t off = 0; off < 2 * size; off += size) {
		memset(hdr + off + 448, 0, 64);
		EVP_Digest(hdr + off, size, hdr + off + 448, &mdlen, EVP_sha256(), NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		return 0;
	for (int pass = 0; pass < 2; pass++) {
		memcpy(copy, data, size);
		if (pass)
			fix_checksums(copy, size);
		luks2_set_cipher_buf(copy, size, "capi:xts(hsmaes)-plain64");
	}
	free(copy);
	return 0;
}
