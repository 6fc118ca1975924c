// SPDX-License-Identifier: GPL-2.0
/*
 * cryptsetup's luksFormat proves a cipher by decrypting a sector with a
 * random key, which capi:xts(hsmaes) refuses (a non-token key binds
 * nothing, so no request runs).  So "hsmkeyctl luks format" formats the
 * volume with stock aes-xts-plain64 and the same volume key (the token),
 * then sets the data segment's cipher in the LUKS2 metadata: both header
 * copies, each with a higher sequence id and a fresh SHA-256 checksum over
 * the binary header and its JSON area, the secondary copy written first.
 * Nothing is ever written to the data area under the stock cipher.
 *
 * On-disk layout (LUKS2 specification): a 4096-byte binary header (magic,
 * version 2, header size, sequence id, ..., checksum algorithm at 72, the
 * checksum at 448) followed by the JSON area, the whole header twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include "luks2.h"

#define LUKS2_HDR_BIN	4096
#define LUKS2_CSUM_OFF	448
#define LUKS2_HDR_MAX	(4u << 20)

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

size_t luks2_header_size(const uint8_t *bin, size_t len)
{
	static const uint8_t magic[6] = { 'L', 'U', 'K', 'S', 0xba, 0xbe };
	uint64_t size;

	if (len < LUKS2_HDR_BIN || memcmp(bin, magic, 6) || bin[6] != 0 || bin[7] != 2 ||
	    memchr(bin + 72, '\0', 32) == NULL || strcmp((const char *)bin + 72, "sha256"))
		return 0;
	size = get_be64(bin + 8);
	if (size < 2 * LUKS2_HDR_BIN || size > LUKS2_HDR_MAX || size % LUKS2_HDR_BIN)
		return 0;
	return (size_t)size;
}

int luks2_set_cipher_buf(uint8_t *hdr, size_t len, const char *cipher)
{
	static const uint8_t magic2[6] = { 'S', 'K', 'U', 'L', 0xba, 0xbe };
	struct json_object *o = NULL, *seg;
	size_t size = luks2_header_size(hdr, len);
	uint8_t *copy[2];
	const char *text;
	uint64_t seqid;
	char *json;
	int r = -EINVAL;

	if (!size || len < 2 * size)
		return -EINVAL;
	copy[0] = hdr;
	copy[1] = hdr + size;
	if (memcmp(copy[1], magic2, 6) || get_be64(copy[1] + 8) != size ||
	    get_be64(copy[0] + 16) != get_be64(copy[1] + 16))
		return -EINVAL;
	json = strndup((const char *)copy[0] + LUKS2_HDR_BIN, size - LUKS2_HDR_BIN);
	if (!json)
		return -ENOMEM;
	o = json_tokener_parse(json);
	free(json);
	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(json_object_object_get(o, "segments"), "0", &seg) ||
	    !json_object_is_type(seg, json_type_object) ||
	    !json_object_object_get(seg, "encryption"))
		goto out;
	json_object_object_add(seg, "encryption", json_object_new_string(cipher));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (strlen(text) >= size - LUKS2_HDR_BIN) {
		r = -ENOSPC;
		goto out;
	}
	seqid = get_be64(copy[0] + 16) + 1;
	for (int i = 0; i < 2; i++) {
		uint8_t *h = copy[i];
		unsigned int mdlen = 32;

		memset(h + LUKS2_HDR_BIN, 0, size - LUKS2_HDR_BIN);
		memcpy(h + LUKS2_HDR_BIN, text, strlen(text));
		put_be64(h + 16, seqid);
		memset(h + LUKS2_CSUM_OFF, 0, 64);
		if (!EVP_Digest(h, size, h + LUKS2_CSUM_OFF, &mdlen, EVP_sha256(), NULL)) {
			r = -EIO;
			goto out;
		}
	}
	r = 0;
out:
	json_object_put(o);
	return r;
}

int luks2_set_cipher(const char *device, const char *cipher)
{
	uint8_t bin[LUKS2_HDR_BIN], *hdr = NULL;
	size_t size;
	int fd, r = -EINVAL;

	fd = open(device, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (pread(fd, bin, sizeof(bin), 0) != (ssize_t)sizeof(bin))
		goto out;
	size = luks2_header_size(bin, sizeof(bin));
	hdr = size ? malloc(2 * size) : NULL;
	if (!hdr || pread(fd, hdr, 2 * size, 0) != (ssize_t)(2 * size))
		goto out;
	r = luks2_set_cipher_buf(hdr, 2 * size, cipher);
	if (r)
		goto out;
	/* The secondary copy first: a crash leaves one valid header. */
	if (pwrite(fd, hdr + size, size, (off_t)size) != (ssize_t)size || fsync(fd) < 0 ||
	    pwrite(fd, hdr, size, 0) != (ssize_t)size || fsync(fd) < 0)
		r = -EIO;
out:
	free(hdr);
	close(fd);
	return r;
}
