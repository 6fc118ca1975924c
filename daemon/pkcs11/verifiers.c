// SPDX-License-Identifier: GPL-2.0
/*
 * The verifier cache of the PKCS#11 backend: each key version's verifier,
 * once the token has derived it, kept for the next delivery.
 *
 * A verifier is HMAC-SHA256 under hsmkey:root (hsm_verifier_label()), one
 * call into the token per version, as dear as the derivation and wrap
 * that deliver the version: a start-up that asked the token for every
 * verifier again delivered at half the rate of the wrapping alone.  Here
 * the verifiers the token gave are kept in STATE/pkcs11/.verifiers, entries
 * of vid[20] || nonce[12] || AES-256-GCM(verifier)[32] || tag[16], with
 * VC_LABEL (its NUL included) and then the vid as associated data, under a
 * key the token derives from hsmkey:root (hsm_derive(VC_LABEL)): without
 * the token and its PIN the file tells nothing, and an entry that was
 * edited, moved to another version or written under another store's root
 * does not open.  That key is fixed for the root: whoever reads this
 * process's memory once, and the file later, has the verifiers of the
 * versions made meanwhile too (those in memory at the time they had
 * already).
 *
 * It is a cache, never the truth: an entry that does not open is left out
 * (and the file written again without it), a version it lacks is asked of
 * the token, and an entry found is the verifier the token would give (a
 * pure function of the root and the version's id).  The key and the table
 * live in locked pages that core dumps leave out; where they cannot be
 * locked, nothing is cached.  A destroyed key's entries go with it
 * (p11_verifiers_drop()).
 *
 * Locking: vc->lock guards the fields; it is taken inside the store's lock
 * (destruction) or alone (delivery), never the other way round, and never
 * held across a call into the token: one thread opens the cache
 * (vc->opening) while the others go on without it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "adapter.h"
#include "util.h"

#define VC_FILE		".verifiers"
#define VC_LABEL	"hsmkey verifier cache v1"
#define VC_NONCE	12
#define VC_TAG		16
#define VC_ENTRY	(HSM_VID_LEN + VC_NONCE + HSMKEY_VERIFIER_LEN + VC_TAG)
#define VC_RETRY_NS	(60ULL * 1000000000ULL)	/* after a failure to open */

struct vc_slot {
	uint8_t vid[HSM_VID_LEN];
	uint8_t verifier[HSMKEY_VERIFIER_LEN];
	bool used;
};

/* The cache key and the table (at most half full), in secret pages. */
struct vc_secrets {
	size_t n, cap;
	uint8_t key[32];
	struct vc_slot slot[];
};

static size_t secrets_size(size_t cap)
{
	return sizeof(struct vc_secrets) + cap * sizeof(struct vc_slot);
}

static void secrets_free(struct vc_secrets *s)
{
	size_t size;

	if (!s)
		return;
	size = secrets_size(s->cap);
	wipe(s, size);
	secret_pages_free(s, size);
}

/* A table of @cap slots with @key; NULL if its pages cannot be locked (no swap). */
static struct vc_secrets *secrets_new(size_t cap, const uint8_t *key)
{
	struct vc_secrets *s = secret_pages_locked(secrets_size(cap));

	if (s) {
		s->cap = cap;
		memcpy(s->key, key, sizeof(s->key));
	}
	return s;
}

static struct vc_slot *find(struct vc_secrets *s, const uint8_t *vid)
{
	size_t i;

	for (i = fnv1a64(vid, HSM_VID_LEN) & (s->cap - 1); s->slot[i].used;
	     i = (i + 1) & (s->cap - 1))
		if (!memcmp(s->slot[i].vid, vid, HSM_VID_LEN))
			return &s->slot[i];
	return &s->slot[i];	/* the free slot it would take */
}

/* @vid's verifier into *@s's table, grown as needed: 0 or -ENOMEM. */
static int put(struct vc_secrets **s, const uint8_t *vid, const uint8_t *verifier)
{
	struct vc_slot *e;

	if (((*s)->n + 1) * 2 > (*s)->cap) {
		struct vc_secrets *t = secrets_new((*s)->cap * 2, (*s)->key);

		if (!t)
			return -ENOMEM;
		for (size_t i = 0; i < (*s)->cap; i++)
			if ((*s)->slot[i].used) {
				*find(t, (*s)->slot[i].vid) = (*s)->slot[i];
				t->n++;
			}
		secrets_free(*s);
		*s = t;
	}
	e = find(*s, vid);
	(*s)->n += !e->used;
	memcpy(e->vid, vid, HSM_VID_LEN);
	memcpy(e->verifier, verifier, HSMKEY_VERIFIER_LEN);
	e->used = true;
	return 0;
}

/* AES-256-GCM over one verifier (@enc) or its opening: 0, or -EBADMSG. */
static int gcm(const uint8_t *key, bool enc, const uint8_t *vid, const uint8_t *nonce,
	       const uint8_t *in, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, ok;

	ok = c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce, enc) &&
	     EVP_CipherUpdate(c, NULL, &n, (const uint8_t *)VC_LABEL, sizeof(VC_LABEL)) &&
	     EVP_CipherUpdate(c, NULL, &n, vid, HSM_VID_LEN) &&
	     EVP_CipherUpdate(c, out, &n, in, HSMKEY_VERIFIER_LEN) &&
	     (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, VC_TAG, tag)) &&
	     EVP_CipherFinal_ex(c, out + n, &n) &&
	     (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, VC_TAG, tag));
	EVP_CIPHER_CTX_free(c);
	if (!ok)
		wipe(out, HSMKEY_VERIFIER_LEN);
	return ok ? 0 : -EBADMSG;
}

static int entry_seal(const uint8_t *key, const struct vc_slot *e, uint8_t out[VC_ENTRY])
{
	uint8_t *nonce = out + HSM_VID_LEN, *ct = nonce + VC_NONCE;

	memcpy(out, e->vid, HSM_VID_LEN);
	if (RAND_bytes(nonce, VC_NONCE) != 1)
		return -EIO;
	return gcm(key, true, e->vid, nonce, e->verifier, ct, ct + HSMKEY_VERIFIER_LEN);
}

/* One file entry into *@s: 0, -EBADMSG if it does not open, or -ENOMEM. */
static int entry_open(struct vc_secrets **s, uint8_t in[VC_ENTRY])
{
	uint8_t *nonce = in + HSM_VID_LEN, *ct = nonce + VC_NONCE, v[HSMKEY_VERIFIER_LEN];
	int r = gcm((*s)->key, false, in, nonce, ct, v, ct + HSMKEY_VERIFIER_LEN);

	if (!r)
		r = put(s, in, v);
	wipe(v, sizeof(v));
	return r;
}

/*
 * The cache file for @flags, if it is a regular file of ours: never a
 * symbolic link (O_NOFOLLOW), a FIFO that would block, or a device.
 */
static int file_open(int dirfd, int flags)
{
	int fd = openat(dirfd, VC_FILE, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

/* The file again, from the table: after entries were dropped or did not open. */
static int rewrite(int dirfd, const struct vc_secrets *s)
{
	uint8_t *buf = malloc(s->n ? s->n * VC_ENTRY : 1);
	size_t n = 0;
	int r = buf ? 0 : -ENOMEM;

	for (size_t i = 0; !r && i < s->cap; i++)
		if (s->slot[i].used)
			r = entry_seal(s->key, &s->slot[i], buf + VC_ENTRY * n++);
	if (!r)
		r = write_file_atomic(dirfd, VC_FILE, buf, n * VC_ENTRY, 0600);
	free(buf);
	return r;
}

/* Every entry of the file that opens, into *@s; *@bad: those that did not. */
static int load(int dirfd, struct vc_secrets **s, size_t *bad)
{
	uint8_t e[VC_ENTRY];
	int fd = file_open(dirfd, O_RDONLY), r;

	*bad = 0;
	if (fd == -ENOENT)
		return 0;
	if (fd < 0) {	/* not a file of ours: it goes (rewrite()), its entries are lost */
		log_warn("pkcs11 store: %s is not a regular file (%s): replaced",
			 VC_FILE, strerror(-fd));
		*bad = 1;
		return unlinkat(dirfd, VC_FILE, 0) < 0 && errno != EISDIR ? -errno : 0;
	}
	while ((r = read_full(fd, e, sizeof(e))) == VC_ENTRY) {
		r = entry_open(s, e);
		if (r == -ENOMEM)
			break;
		*bad += !!r;
	}
	close(fd);
	if (r > 0)	/* a last entry cut short: an append the daemon did not finish */
		(*bad)++;
	return r < 0 && r != -EBADMSG ? r : 0;
}

/*
 * A table with the file's entries, the key from @h, and in *@bad how many
 * did not open; NULL on failure (-errno in *@err).
 */
static struct vc_secrets *cache_open(int dirfd, struct hsm *h, size_t *bad, int *err)
{
	uint8_t key[32];
	struct vc_secrets *s = NULL;
	int r = hsm_derive(h, VC_LABEL, key, sizeof(key));

	if (!r) {
		s = secrets_new(1024, key);
		r = s ? load(dirfd, &s, bad) : -ENOMEM;
	}
	wipe(key, sizeof(key));
	if (r) {
		secrets_free(s);
		s = NULL;
	}
	*err = r;
	return s;
}

void p11_verifiers_init(struct p11_verifiers *vc, int dirfd)
{
	memset(vc, 0, sizeof(*vc));
	vc->dirfd = dirfd;
	pthread_mutex_init(&vc->lock, NULL);
}

/* With vc->lock held: open the cache through @h if it is time (the lock is let go meanwhile). */
static void ready(struct p11_verifiers *vc, struct hsm *h)
{
	struct vc_secrets *s;
	uint64_t gen = vc->gen;
	size_t bad = 0;
	int r;

	if (vc->s || vc->opening || monotonic_ns() < vc->retry_at)
		return;
	vc->opening = true;
	pthread_mutex_unlock(&vc->lock);
	s = cache_open(vc->dirfd, h, &bad, &r);
	pthread_mutex_lock(&vc->lock);
	vc->opening = false;
	if (s && gen == vc->gen && bad) {
		log_warn("pkcs11 store: %zu entr%s of the verifier cache did not open (edited, cut short, or another store's): left out; the token derives those verifiers again",
			 bad, bad == 1 ? "y" : "ies");
		r = rewrite(vc->dirfd, s);	/* under the lock: no drop in between */
	}
	if (s && gen == vc->gen && !r) {
		vc->s = s;
		return;
	}
	secrets_free(s);	/* a key dropped meanwhile may be in it: next time */
	if (r) {
		vc->retry_at = monotonic_ns() + VC_RETRY_NS;
		log_warn("pkcs11 store: the verifier cache is not used for now (%s): the token derives every verifier",
			 strerror(-r));
	}
}

void p11_verifiers_open(struct p11_verifiers *vc, struct hsm *h)
{
	p11_verifiers_lookup(vc, h, NULL, 0, NULL);
}

uint64_t p11_verifiers_lookup(struct p11_verifiers *vc, struct hsm *h, struct hsm_wrap_req *req,
			      size_t n, struct hsm_wrapped *out)
{
	uint8_t vid[HSM_VID_LEN];
	struct vc_slot *e;
	uint64_t gen;

	pthread_mutex_lock(&vc->lock);
	ready(vc, h);
	for (size_t i = 0; vc->s && i < n; i++) {
		hsm_vid(req[i].id, req[i].version, vid);
		e = find(vc->s, vid);
		if (!e->used)
			continue;
		memcpy(out[i].verifier, e->verifier, HSMKEY_VERIFIER_LEN);
		req[i].flags |= HSM_WRAP_NO_VERIFIER;
	}
	gen = vc->gen;
	pthread_mutex_unlock(&vc->lock);
	return gen;
}

/* @m entries appended; on a short write the file is cut back to its old end. */
static void append(int dirfd, const uint8_t *buf, size_t m)
{
	int fd = file_open(dirfd, O_WRONLY | O_APPEND | O_CREAT);
	off_t end = fd < 0 ? -1 : lseek(fd, 0, SEEK_END);
	int r = fd < 0 ? fd : end < 0 ? -errno : write_full(fd, buf, m * VC_ENTRY);

	/* Not kept on disk: asked of the token again at the next start. */
	if (r < 0)
		log_warn("pkcs11 store: the verifier cache was not written: %s", strerror(-r));
	if (r < 0 && end >= 0 && ftruncate(fd, end) < 0)
		log_warn("pkcs11 store: the verifier cache ends with a partial entry: %m");
	if (fd >= 0)
		close(fd);
}

void p11_verifiers_keep(struct p11_verifiers *vc, uint64_t gen, const struct hsm_wrap_req *req,
			size_t n, const struct hsm_wrapped *w)
{
	uint8_t *buf = malloc(n * VC_ENTRY);
	struct vc_slot e = { .used = true };
	size_t m = 0;

	pthread_mutex_lock(&vc->lock);
	/* Not after a drop since the lookup: the versions may be a destroyed key's. */
	for (size_t i = 0; buf && vc->s && gen == vc->gen && i < n; i++) {
		if (req[i].flags & HSM_WRAP_NO_VERIFIER)
			continue;
		hsm_vid(req[i].id, req[i].version, e.vid);
		if (find(vc->s, e.vid)->used)
			continue;	/* another delivery kept it meanwhile */
		memcpy(e.verifier, w[i].verifier, HSMKEY_VERIFIER_LEN);
		if (put(&vc->s, e.vid, e.verifier) || entry_seal(vc->s->key, &e, buf + VC_ENTRY * m))
			break;
		m++;
	}
	wipe(&e, sizeof(e));
	if (m)
		append(vc->dirfd, buf, m);
	pthread_mutex_unlock(&vc->lock);
	free(buf);
}

/* *@s without key @id's versions: rebuilt (linear probing has no plain removal). */
static int without(struct vc_secrets **s, const uint8_t *id, size_t *dropped)
{
	struct vc_secrets *t = secrets_new((*s)->cap, (*s)->key);

	if (!t)
		return -ENOMEM;
	*dropped = 0;
	for (size_t i = 0; i < (*s)->cap; i++) {
		struct vc_slot *e = &(*s)->slot[i];

		if (!e->used)
			continue;
		if (!memcmp(e->vid, id, HSMKEY_ID_LEN)) {
			(*dropped)++;
			continue;
		}
		*find(t, e->vid) = *e;
		t->n++;
	}
	secrets_free(*s);
	*s = t;
	return 0;
}

void p11_verifiers_drop(struct p11_verifiers *vc, const uint8_t *id)
{
	size_t dropped = 1;
	int r = 0;

	pthread_mutex_lock(&vc->lock);
	vc->gen++;
	if (vc->s)
		r = without(&vc->s, id, &dropped);
	if (vc->s && !r && dropped)
		r = rewrite(vc->dirfd, vc->s);
	if (!vc->s || r) {
		/* Not open, or not rewritten: the file goes whole, the table too. */
		secrets_free(vc->s);
		vc->s = NULL;
		if (unlinkat(vc->dirfd, VC_FILE, 0) < 0 && errno != ENOENT)
			log_warn("pkcs11 store: a destroyed key's verifiers stay in the verifier cache: %m");
	}
	pthread_mutex_unlock(&vc->lock);
}

void p11_verifiers_close(struct p11_verifiers *vc)
{
	secrets_free(vc->s);
	vc->s = NULL;
	pthread_mutex_destroy(&vc->lock);
}
