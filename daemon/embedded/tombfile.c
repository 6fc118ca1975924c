// SPDX-License-Identifier: GPL-2.0
/*
 * STATE/tombs: the tombstones on disk, apart from the root record so that
 * a root record write stays small whatever their number.  Append-only,
 * 17 bytes an entry (id, state; a later entry for an id raises its
 * state).  The sealed root record holds the number of entries it counts,
 * N, and a hash chain over them (h_0 = SHA-256 of a label, h_i =
 * SHA-256(h_{i-1} || entry i)): each change costs O(1), and at open a
 * file cut short, changed or removed does not match and the keystore
 * does not open (revocation is terminal: no --accept-keystore for it).
 * An entry is appended and synced before the root record counting it is
 * written; entries beyond N (a change that was not counted) are ignored
 * and cut off before the next append, once the root record on disk no
 * longer counts them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "internal.h"
#include "util.h"

static const char ks_tomb_label[] = "hsmkey tombstones v1";

/* h_0: the chain over no entry. */
static int ks_chain_start(uint8_t *hash)
{
	return EVP_Digest(ks_tomb_label, sizeof(ks_tomb_label) - 1, hash, NULL,
			  EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

/* @hash = SHA-256(@hash || @entry). */
static int ks_chain_next(uint8_t *hash, const uint8_t *entry)
{
	uint8_t buf[KS_MAC_LEN + KS_TOMB_LEN];

	memcpy(buf, hash, KS_MAC_LEN);
	memcpy(buf + KS_MAC_LEN, entry, KS_TOMB_LEN);
	return EVP_Digest(buf, sizeof(buf), hash, NULL, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

/*
 * Entry (@id, @state) at the end of the file, the chain extended; synced
 * by ks_tombfile_sync() before the root record counting it is written.
 * Entries beyond the count go first, unless the root record on disk
 * still counts them (a failed write left it behind): -EAGAIN then, until
 * a root record is written.
 */
int ks_tombfile_append(struct ks_tombs *tb, const uint8_t *id, int state)
{
	uint8_t entry[KS_TOMB_LEN];

	if (tb->extra && tb->stored > tb->count)
		return -EAGAIN;
	if (tb->extra && ftruncate(tb->fd, (off_t)(tb->count * KS_TOMB_LEN)) < 0)
		return -errno;
	tb->extra = false;
	memcpy(entry, id, HSMKEY_ID_LEN);
	entry[HSMKEY_ID_LEN] = (uint8_t)state;
	tb->dirty = true;
	if (write_full(tb->fd, entry, sizeof(entry)) < 0) {
		tb->extra = true;	/* a part of it may be there */
		return -EIO;
	}
	tb->count++;
	return ks_chain_next(tb->hash, entry);
}

/* What was appended, on disk: before any root record that counts it. */
int ks_tombfile_sync(struct ks_tombs *tb)
{
	if (!tb->file || !tb->dirty)
		return 0;
	if (fsync(tb->fd) < 0)
		return -errno;
	tb->dirty = false;
	return 0;
}

static int ks_tomb_cmp(const void *a, const void *b)
{
	return memcmp(a, b, HSMKEY_ID_LEN);
}

/* The table from @n entries at @in: sorted by id, each at its highest state. */
static int ks_tomb_build(struct ks_tombs *tb, const uint8_t *in, size_t n)
{
	struct ks_tomb *t = n ? malloc(n * sizeof(*t)) : NULL;
	size_t k = 0;

	if (n && !t)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++, in += KS_TOMB_LEN) {
		memcpy(t[i].id, in, HSMKEY_ID_LEN);
		t[i].state = in[HSMKEY_ID_LEN];
		if (t[i].state != KS_TOMB_REVOKED && t[i].state != KS_TOMB_DESTROYED) {
			free(t);
			return -EBADMSG;
		}
	}
	if (n)
		qsort(t, n, sizeof(*t), ks_tomb_cmp);
	for (size_t i = 0; i < n; i++) {
		if (k && !memcmp(t[k - 1].id, t[i].id, HSMKEY_ID_LEN)) {
			if (t[i].state > t[k - 1].state)
				t[k - 1].state = t[i].state;
			continue;
		}
		t[k++] = t[i];
	}
	free(tb->t);
	tb->t = t;
	tb->n = tb->cap = k;
	return 0;
}

/* STATE/tombs, opened for appending; made (and the directory synced) if @create. */
static int ks_tombfile_open(struct ks_tombs *tb, int dirfd, bool create)
{
	int flags = O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW;
	struct stat st;

	tb->fd = openat(dirfd, KS_TOMBS, flags);
	if (tb->fd < 0 && errno == ENOENT && create) {
		tb->fd = openat(dirfd, KS_TOMBS, flags | O_CREAT | O_EXCL, 0600);
		if (tb->fd >= 0 && fsync(dirfd) < 0)
			return -errno;
	}
	if (tb->fd < 0)
		return -errno;
	tb->file = true;
	if (fstat(tb->fd, &st) < 0)
		return -errno;
	return S_ISREG(st.st_mode) ? 0 : -EBADMSG;
}

/*
 * At open, the root record counting @n entries hashed to @hash: the file
 * read, the chain over its first @n entries checked, the table built.
 */
int ks_tombfile_load(struct ks_tombs *tb, int dirfd, const char *dir, uint64_t n,
		     const uint8_t *hash)
{
	size_t len = (size_t)n * KS_TOMB_LEN;
	uint8_t *buf = NULL, h[KS_MAC_LEN];
	struct stat st;
	int r;

	r = ks_tombfile_open(tb, dirfd, n == 0);
	if (r == -ENOENT)
		return log_errno(EBADMSG, "%s/%s is missing, but %s/%s counts %llu tombstones (keys revoked or destroyed) in it: refusing to open, also with --accept-keystore (revocation is final): restore the file",
				 dir, KS_TOMBS, dir, KS_ROOT, (unsigned long long)n);
	if (r)
		return log_errno(-r, "cannot open %s/%s: %s", dir, KS_TOMBS, strerror(-r));
	if (fstat(tb->fd, &st) < 0)
		return log_errno(errno, "cannot read %s/%s: %m", dir, KS_TOMBS);
	if ((uint64_t)st.st_size < len)
		return log_errno(EBADMSG, "%s/%s holds %llu tombstones where %s/%s counts %llu: it was cut short or replaced; refusing to open, also with --accept-keystore (revocation is final): restore the file",
				 dir, KS_TOMBS, (unsigned long long)st.st_size / KS_TOMB_LEN,
				 dir, KS_ROOT, (unsigned long long)n);
	buf = len ? malloc(len) : NULL;
	r = len && !buf ? -ENOMEM : 0;
	if (!r && len && pread(tb->fd, buf, len, 0) != (ssize_t)len)
		r = -EIO;
	if (!r)
		r = ks_chain_start(h);
	for (size_t i = 0; !r && i < len; i += KS_TOMB_LEN)
		r = ks_chain_next(h, buf + i);
	if (!r && CRYPTO_memcmp(h, hash, KS_MAC_LEN))
		r = -EBADMSG;
	if (!r)
		r = ks_tomb_build(tb, buf, (size_t)n);
	free(buf);
	if (r == -EBADMSG)
		return log_errno(EBADMSG, "%s/%s does not match the tombstones %s/%s counts (an entry was changed or the file replaced): refusing to open, also with --accept-keystore (revocation is final): restore the file",
				 dir, KS_TOMBS, dir, KS_ROOT);
	if (r)
		return log_errno(-r, "cannot read %s/%s: %s", dir, KS_TOMBS, strerror(-r));
	memcpy(tb->hash, hash, KS_MAC_LEN);
	tb->count = tb->stored = n;
	tb->extra = (uint64_t)st.st_size != len;
	return 0;
}

/*
 * STATE/tombs written anew from the table (a new keystore, or a root
 * record of an older format whose tombstones it takes over), synced; the
 * root record that counts them is written next.
 */
int ks_tombfile_create(struct ks_tombs *tb, int dirfd)
{
	uint8_t *buf = tb->n ? malloc(tb->n * KS_TOMB_LEN) : NULL;
	int r = tb->n && !buf ? -ENOMEM : ks_tombfile_open(tb, dirfd, true);

	if (!r && ftruncate(tb->fd, 0) < 0)
		r = -errno;
	if (!r)
		r = ks_chain_start(tb->hash);
	for (size_t i = 0; !r && i < tb->n; i++) {
		memcpy(buf + i * KS_TOMB_LEN, tb->t[i].id, HSMKEY_ID_LEN);
		buf[i * KS_TOMB_LEN + HSMKEY_ID_LEN] = tb->t[i].state;
		r = ks_chain_next(tb->hash, buf + i * KS_TOMB_LEN);
	}
	if (!r && tb->n && write_full(tb->fd, buf, tb->n * KS_TOMB_LEN) < 0)
		r = -EIO;
	if (!r && fsync(tb->fd) < 0)
		r = -errno;
	free(buf);
	if (r && tb->file) {
		close(tb->fd);		/* made again at the next root record write */
		tb->file = false;
	}
	if (r)
		return log_errno(-r, "cannot write the keystore's %s: %s", KS_TOMBS, strerror(-r));
	tb->count = tb->n;
	tb->stored = 0;
	tb->extra = tb->dirty = false;
	return 0;
}
