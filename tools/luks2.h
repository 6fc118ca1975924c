/* SPDX-License-Identifier: GPL-2.0 */
/* Setting the data cipher of a LUKS2 volume's header, and erasing one: see luks2.c. */
#ifndef HSMKEY_LUKS2_H
#define HSMKEY_LUKS2_H

#include <stddef.h>
#include <stdint.h>

/* The header size a LUKS2 binary header announces, 0 if not one we edit. */
size_t luks2_header_size(const uint8_t *bin, size_t len);
/* In @hdr (both copies, @len bytes): set segment 0's cipher, re-checksum. */
int luks2_set_cipher_buf(uint8_t *hdr, size_t len, const char *cipher);
/*
 * The same on @device, in place, under cryptsetup's metadata lock: 0 or
 * -errno (-EBADMSG: a checksum is wrong; -EOPNOTSUPP: several segments or
 * requirements).
 */
int luks2_set_cipher(const char *device, const char *cipher);
/* Wipe both header copies and the keyslots: nothing left opens. */
int luks2_erase(const char *device);

#endif
