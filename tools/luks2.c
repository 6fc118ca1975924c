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
 * The editor only touches what it understands: both copies must carry a
 * valid checksum and the same sequence id, there must be exactly one
 * segment, and no "requirements" (a reencryption in progress, features
 * this editor would silently drop).  It holds cryptsetup's metadata lock
 * while it reads and writes, as libcryptsetup does: flock(2) on
 * /run/cryptsetup/L_<major>:<minor> for a block device, on the file
 * itself for an image file.
 *
 * On-disk layout (LUKS2 specification): a 4096-byte binary header (magic,
 * version 2, header size, sequence id, ..., checksum algorithm at 72, the
 * checksum at 448) followed by the JSON area, the whole header twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include "luks2.h"

#define LUKS2_HDR_BIN	4096
#define LUKS2_CSUM_OFF	448
#define LUKS2_CSUM_LEN	64
#define LUKS2_HDR_OFF	256	/* where this copy says it sits */
#define LUKS2_LOCK_DIR	"/run/cryptsetup"
#define LUKS2_ERASE_LEN	(16 << 20)
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

/* SHA-256 over a header copy with its checksum field zeroed, into @md. */
static int header_digest(const uint8_t *h, size_t size, uint8_t md[32])
{
	uint8_t *copy = malloc(size);
	unsigned int mdlen = 32;
	int ok;

	if (!copy)
		return -ENOMEM;
	memcpy(copy, h, size);
	memset(copy + LUKS2_CSUM_OFF, 0, LUKS2_CSUM_LEN);
	ok = EVP_Digest(copy, size, md, &mdlen, EVP_sha256(), NULL);
	free(copy);
	return ok ? 0 : -EIO;
}

/* Both copies as stored: valid checksums (cryptsetup's own rule). */
static int check_checksums(uint8_t *const copy[2], size_t size)
{
	uint8_t md[32];

	for (int i = 0; i < 2; i++) {
		int r = header_digest(copy[i], size, md);

		if (r)
			return r;
		if (memcmp(md, copy[i] + LUKS2_CSUM_OFF, sizeof(md)))
			return -EBADMSG;
	}
	return 0;
}

/* Exactly one segment, named "0", and no requirements: -EOPNOTSUPP else. */
static int check_layout(struct json_object *o, struct json_object **seg)
{
	struct json_object *segs = json_object_object_get(o, "segments");
	struct json_object *config = json_object_object_get(o, "config");

	if (!json_object_is_type(segs, json_type_object) ||
	    !json_object_object_get_ex(segs, "0", seg) ||
	    !json_object_is_type(*seg, json_type_object) ||
	    !json_object_object_get(*seg, "encryption"))
		return -EINVAL;
	if (json_object_object_length(segs) != 1)
		return -EOPNOTSUPP;
	if (json_object_object_get_ex(config, "requirements", NULL))
		return -EOPNOTSUPP;
	return 0;
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
	int r;

	if (!size || len < 2 * size)
		return -EINVAL;
	copy[0] = hdr;
	copy[1] = hdr + size;
	if (memcmp(copy[1], magic2, 6) || get_be64(copy[1] + 8) != size ||
	    get_be64(copy[1] + LUKS2_HDR_OFF) != size ||
	    get_be64(copy[0] + 16) != get_be64(copy[1] + 16))
		return -EINVAL;
	r = check_checksums(copy, size);
	if (r)
		return r;
	json = strndup((const char *)copy[0] + LUKS2_HDR_BIN, size - LUKS2_HDR_BIN);
	if (!json)
		return -ENOMEM;
	o = json_tokener_parse(json);
	free(json);
	r = -EINVAL;
	if (!o || !json_object_is_type(o, json_type_object))
		goto out;
	r = check_layout(o, &seg);
	if (r)
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
		memset(h + LUKS2_CSUM_OFF, 0, LUKS2_CSUM_LEN);
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

/*
 * cryptsetup's write lock on @fd's device, as a descriptor to close when
 * done (libcryptsetup's utils_device_locking.c is the reference).  The
 * lock file of a block device may be unlinked by the cryptsetup that held
 * it last: after flock(), check it is still the one at the path.
 */
static int lock_metadata(int fd)
{
	struct stat st, held, now;
	char path[64];
	int lfd;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode)) {
		if (flock(fd, LOCK_EX) < 0)
			return -errno;
		lfd = dup(fd);
		return lfd < 0 ? -errno : lfd;
	}
	if (!S_ISBLK(st.st_mode))
		return -ENOTBLK;
	snprintf(path, sizeof(path), LUKS2_LOCK_DIR "/L_%u:%u", major(st.st_rdev),
		 minor(st.st_rdev));
	if (mkdir(LUKS2_LOCK_DIR, 0700) < 0 && errno != EEXIST)
		return -errno;
	for (;;) {
		lfd = open(path, O_CREAT | O_NOFOLLOW | O_RDWR | O_CLOEXEC, 0644);
		if (lfd < 0)
			return -errno;
		if (flock(lfd, LOCK_EX) < 0) {
			close(lfd);
			return -errno;
		}
		if (!fstat(lfd, &held) && !stat(path, &now) && held.st_ino == now.st_ino &&
		    held.st_dev == now.st_dev)
			return lfd;
		close(lfd);
	}
}

/* @device opened for writing, its lock held in *@lfd: the fd, or -errno. */
static int open_locked(const char *device, int *lfd)
{
	int fd = open(device, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	*lfd = lock_metadata(fd);
	if (*lfd < 0) {
		close(fd);
		return *lfd;
	}
	return fd;
}

int luks2_set_cipher(const char *device, const char *cipher)
{
	uint8_t bin[LUKS2_HDR_BIN], *hdr = NULL;
	size_t size;
	int fd, lfd = -1, r = -EINVAL;

	fd = open_locked(device, &lfd);
	if (fd < 0)
		return fd;
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
	close(lfd);
	close(fd);
	return r;
}

/*
 * Both header copies (the secondary sits at most 4 MiB in, the LUKS2
 * maximum) and the default keyslot area: zeros over the first 16 MiB, or
 * the whole device when smaller.
 */
int luks2_erase(const char *device)
{
	static const uint8_t zeros[1 << 16];
	off_t end, off;
	int fd, lfd = -1, r = 0;

	fd = open_locked(device, &lfd);
	if (fd < 0)
		return fd;
	end = lseek(fd, 0, SEEK_END);
	if (end < 0)
		r = -errno;
	if (end > LUKS2_ERASE_LEN)
		end = LUKS2_ERASE_LEN;
	for (off = 0; !r && off < end; off += (off_t)sizeof(zeros)) {
		size_t n = end - off < (off_t)sizeof(zeros) ? (size_t)(end - off) : sizeof(zeros);

		if (pwrite(fd, zeros, n, off) != (ssize_t)n)
			r = -EIO;
	}
	if (!r && fsync(fd) < 0)
		r = -errno;
	close(lfd);
	close(fd);
	return r;
}
