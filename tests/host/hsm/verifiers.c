// SPDX-License-Identifier: GPL-2.0
/*
 * The verifier cache (daemon/pkcs11/verifiers.c) against real tokens: what
 * it gives is what the token derives (hsm_derive(), the reference); its
 * file holds no verifier in clear; an edited entry, entries swapped between
 * versions, a cut-off tail, a symbolic link in its place, or the file of a
 * store with another root: left out, the token asked again, nothing else
 * touched; a destroyed key's entries leave the file, also when the cache
 * was not open; a delivery with a cached verifier asks the token for none
 * and still unwraps.  (p11_wrap() itself runs in the guest, t_pkcs11.)
 */
#include <fcntl.h>
#include <sys/stat.h>
#include "pkcs11/adapter.h"

#define VC_ENTRY_LEN	80	/* vid 20, nonce 12, sealed verifier 32, tag 16 */

struct vc_case {
	struct hsm_wrap_req q[3];
	uint8_t want[3][HSMKEY_VERIFIER_LEN];	/* the token's, by hsm_derive() */
	char dir[sizeof(dir) + 8];
	int dirfd;
};

static long vc_file_len(struct vc_case *c)
{
	struct stat st;

	return fstatat(c->dirfd, ".verifiers", &st, 0) ? -1 : (long)st.st_size;
}

/*
 * A fresh cache on @c's directory (as a daemon's start): which of the
 * three it holds, as a bit mask, each checked against the token's.
 */
static int vc_lookup(struct vc_case *c, struct hsm *h, bool *right)
{
	struct p11_verifiers vc;
	struct hsm_wrap_req q[3];
	struct hsm_wrapped w[3];
	int mask = 0;

	memcpy(q, c->q, sizeof(q));
	memset(w, 0, sizeof(w));
	p11_verifiers_init(&vc, c->dirfd);
	p11_verifiers_lookup(&vc, h, q, 3, w);
	*right = true;
	for (int i = 0; i < 3; i++) {
		if (!(q[i].flags & HSM_WRAP_NO_VERIFIER))
			continue;
		mask |= 1 << i;
		*right &= !memcmp(w[i].verifier, c->want[i], HSMKEY_VERIFIER_LEN);
	}
	p11_verifiers_close(&vc);
	return mask;
}

static bool vc_file_has_verifier(struct vc_case *c, const char *name, const uint8_t *v)
{
	uint8_t buf[4096];
	int fd = openat(c->dirfd, name, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));

	if (fd >= 0)
		close(fd);
	return n > 0 && memmem(buf, (size_t)n, v, 16);
}

/* Delivery through the cache, as p11_wrap() does it: the keys once with the token's verifiers. */
static int vc_fill(struct vc_case *c, struct hsm *h, struct kernel_key *kk)
{
	struct p11_verifiers vc;
	struct hsm_wrap_req q[3];
	struct hsm_wrapped w[3], cached[3];
	uint8_t hpt[65];
	int r;

	uint64_t gen;

	memcpy(q, c->q, sizeof(q));
	p11_verifiers_init(&vc, c->dirfd);
	gen = p11_verifiers_lookup(&vc, h, q, 3, cached);
	r = hsm_wrap_for_kernel(h, kk->point, q, 3, hpt, w, 0);
	if (!r)
		p11_verifiers_keep(&vc, gen, q, 3, w);
	p11_verifiers_close(&vc);
	return r;
}

/*
 * ->wrap_prepare() opens the cache on a thread of its own while the first
 * round is gathered; a round that looks it up meanwhile must not wait.
 */
static void test_verifier_open(struct vc_case *c, struct hsm *h)
{
	struct p11_verifiers vc;
	struct hsm_wrap_req q[3];
	struct hsm_wrapped w[3];

	memcpy(q, c->q, sizeof(q));
	p11_verifiers_init(&vc, c->dirfd);
	vc.opening = true;	/* as while another thread opens it */
	p11_verifiers_lookup(&vc, h, q, 3, w);
	ok(!vc.s && !(q[0].flags | q[1].flags | q[2].flags),
	   "while another thread opens the cache, a lookup goes on without it: none given, the token derives all three");
	vc.opening = false;
	p11_verifiers_open(&vc, h);
	ok(vc.s != NULL, "p11_verifiers_open() (->wrap_prepare) opens it");
	memcpy(q, c->q, sizeof(q));
	p11_verifiers_lookup(&vc, h, q, 3, w);
	ok((q[0].flags & q[1].flags & q[2].flags & HSM_WRAP_NO_VERIFIER) &&
	   !memcmp(w[2].verifier, c->want[2], HSMKEY_VERIFIER_LEN),
	   "a lookup after it gives all three, the token's");
	p11_verifiers_close(&vc);
}

static void test_verifier_cache(struct hsm *h, struct hsm *other)
{
	struct vc_case c = { .dirfd = -1 };
	char label[HSM_VERIFIER_LABEL_MAX];
	struct hsm_wrapped w[3];
	struct kernel_key kk;
	uint8_t hpt[65], out[72], b;
	bool right = false;
	int r = 0;

	snprintf(c.dir, sizeof(c.dir), "%s/vc", dir);
	mkdir(c.dir, 0700);
	c.dirfd = open(c.dir, O_RDONLY | O_DIRECTORY);
	kernel_key_new(&kk);
	for (int i = 0; i < 3 && !r; i++) {
		id_of(c.q[i].id, 400 + i);
		c.q[i].version = 1 + i;
		c.q[i].type = HSMKEY_TYPE_AES_256_XTS;
		r = hsm_key_generate(h, c.q[i].id, c.q[i].version, c.q[i].type, "vc");
		hsm_verifier_label(c.q[i].id, c.q[i].version, label);
		r = r ?: hsm_derive(h, label, c.want[i], HSMKEY_VERIFIER_LEN);
	}
	ok(!r && c.dirfd >= 0, "three key versions, their verifiers as the token derives them");
	ok(vc_lookup(&c, h, &right) == 0 && vc_file_len(&c) <= 0, "an empty cache holds none");
	ok(!vc_fill(&c, h, &kk) && vc_file_len(&c) == 3 * VC_ENTRY_LEN,
	   "a delivery keeps the three the token gave: 3 entries in the file");
	ok(vc_lookup(&c, h, &right) == 7 && right,
	   "a fresh cache (a restart) gives all three: the token's verifiers");
	test_verifier_open(&c, h);
	{
		int fd = openat(c.dirfd, "control", O_WRONLY | O_CREAT | O_TRUNC, 0600);

		ok(fd >= 0 && write(fd, "x", 1) == 1 && write(fd, c.want[2] + 8, 16) == 16 &&
		   !close(fd) && vc_file_has_verifier(&c, "control", c.want[2] + 8),
		   "the scan finds 16 bytes of a verifier in a file that holds them (positive control)");
	}
	ok(!vc_file_has_verifier(&c, ".verifiers", c.want[0]) &&
	   !vc_file_has_verifier(&c, ".verifiers", c.want[0] + 16) &&
	   !vc_file_has_verifier(&c, ".verifiers", c.want[2]) &&
	   !vc_file_has_verifier(&c, ".verifiers", c.want[2] + 16),
	   "the cache file holds no verifier in clear (neither half of one)");
	ok(!vc_fill(&c, h, &kk) && vc_file_len(&c) == 3 * VC_ENTRY_LEN,
	   "a delivery of cached versions adds nothing");

	/* The token asked for none: the wrap still unwraps, the verifier is the cache's. */
	c.q[1].flags = HSM_WRAP_NO_VERIFIER;
	r = hsm_wrap_for_kernel(h, kk.point, c.q, 3, hpt, w, 0);
	c.q[1].flags = 0;
	ok(!r && !kernel_unwrap(&kk, hpt, c.q[1].id, 2, c.q[1].type, &w[1], out) &&
	   !memcmp(w[1].verifier, (uint8_t[HSMKEY_VERIFIER_LEN]){ 0 }, HSMKEY_VERIFIER_LEN) &&
	   !memcmp(w[0].verifier, c.want[0], HSMKEY_VERIFIER_LEN),
	   "a version marked cached is wrapped, no verifier derived for it; the others get theirs");

	/* An edited entry: left out, the file written again without it. */
	{
		int fd = openat(c.dirfd, ".verifiers", O_RDWR);

		ok(fd >= 0 && pread(fd, &b, 1, VC_ENTRY_LEN + 40) == 1, "the file read back");
		b ^= 0x01;
		ok(fd >= 0 && pwrite(fd, &b, 1, VC_ENTRY_LEN + 40) == 1, "one bit of the second entry flipped");
		if (fd >= 0)
			close(fd);
	}
	r = vc_lookup(&c, h, &right);
	ok(__builtin_popcount(r) == 2 && right && vc_file_len(&c) == 2 * VC_ENTRY_LEN,
	   "the edited entry does not open: left out (2 of 3 given, both right), the file rewritten with 2 (mask %d)",
	   r);
	ok(!vc_fill(&c, h, &kk) && vc_lookup(&c, h, &right) == 7 && right,
	   "the next delivery asks the token for the missing one and keeps it");

	/* Two entries' version ids swapped: each names the other's verifier. */
	{
		int fd = openat(c.dirfd, ".verifiers", O_RDWR);
		uint8_t a[20], z[20];

		ok(fd >= 0 && pread(fd, a, 20, 0) == 20 && pread(fd, z, 20, VC_ENTRY_LEN) == 20 &&
		   pwrite(fd, z, 20, 0) == 20 && pwrite(fd, a, 20, VC_ENTRY_LEN) == 20,
		   "the version ids of the first two entries swapped");
		if (fd >= 0)
			close(fd);
	}
	r = vc_lookup(&c, h, &right);
	ok(__builtin_popcount(r) == 1 && right && vc_file_len(&c) == VC_ENTRY_LEN,
	   "neither opens (the version id is bound): one given, right; the file keeps 1 (mask %d)", r);
	ok(!vc_fill(&c, h, &kk) && vc_file_len(&c) == 3 * VC_ENTRY_LEN, "filled again");

	/* An append cut short (a crash mid-write): the whole entries stay. */
	{
		int fd = openat(c.dirfd, ".verifiers", O_WRONLY | O_APPEND);

		ok(fd >= 0 && write(fd, "thirty bytes of an entry, cut", 30) == 30,
		   "30 bytes of a partial entry appended");
		if (fd >= 0)
			close(fd);
	}
	ok(vc_lookup(&c, h, &right) == 7 && right && vc_file_len(&c) == 3 * VC_ENTRY_LEN,
	   "a partial last entry: the three whole ones given, the file cut back to them");

	/* A symbolic link in the file's place: never followed, its target untouched. */
	{
		char target[sizeof(c.dir) + 16];
		struct stat st;

		snprintf(target, sizeof(target), "%s/target", c.dir);
		ok(!renameat(c.dirfd, ".verifiers", c.dirfd, "target") &&
		   !symlinkat(target, c.dirfd, ".verifiers"),
		   "the file replaced by a symbolic link to it (moved)");
		r = vc_lookup(&c, h, &right);
		ok(r == 0 && !fstatat(c.dirfd, ".verifiers", &st, AT_SYMLINK_NOFOLLOW) &&
		   S_ISREG(st.st_mode) && st.st_size == 0 &&
		   !stat(target, &st) && st.st_size == 3 * VC_ENTRY_LEN,
		   "the link is not followed: nothing given, an empty regular file in its place, the target unchanged (mask %d)",
		   r);
	}
	ok(!vc_fill(&c, h, &kk) && vc_lookup(&c, h, &right) == 7 && right, "filled again");

	/* A destroyed key: its entries go. */
	{
		struct p11_verifiers vc;

		p11_verifiers_init(&vc, c.dirfd);
		p11_verifiers_lookup(&vc, h, (struct hsm_wrap_req[3]){ c.q[0], c.q[1], c.q[2] }, 3, w);
		p11_verifiers_drop(&vc, c.q[1].id);
		p11_verifiers_close(&vc);
	}
	ok(vc_lookup(&c, h, &right) == 5 && right && vc_file_len(&c) == 2 * VC_ENTRY_LEN,
	   "a key dropped (destroyed): its entry leaves the file, the others stay");
	{
		struct p11_verifiers vc;

		p11_verifiers_init(&vc, c.dirfd);
		p11_verifiers_drop(&vc, c.q[0].id);	/* a destruction before any delivery */
		p11_verifiers_close(&vc);
	}
	ok(vc_lookup(&c, h, &right) == 0 && vc_file_len(&c) <= 0,
	   "a key dropped while the cache was not open: the whole file goes");
	ok(!vc_fill(&c, h, &kk) && vc_lookup(&c, h, &right) == 7 && right, "filled again");

	/* Another store's root: nothing opens, nothing given. */
	ok(vc_lookup(&c, other, &right) == 0 && vc_file_len(&c) == 0,
	   "the cache read with another token's root gives nothing and empties the file");
	EVP_PKEY_free(kk.k);
	close(c.dirfd);
}
