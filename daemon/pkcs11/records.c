// SPDX-License-Identifier: GPL-2.0
/*
 * The PKCS#11 backend's record store (see adapter.h): files MAC'd by the
 * token, their sum anchored in the token.  A compact store of its own
 * rather than the embedded keystore's, whose record, root and tomb layers
 * are bound to its master key: here no key is on disk and every keyed
 * operation is a call into the token.
 *
 * A change writes the file (generation G+1, "prev" naming the MAC it
 * replaces), then the anchor G+1; a removal anchors first, then unlinks.
 * A crash between the two leaves exactly one file ahead of or behind the
 * anchor, which the next load recognises and finishes; anything else that
 * does not add up is a rollback or an edit, refused.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include "adapter.h"
#include "util.h"

static void sum_add(uint8_t *sum, const uint8_t *item)
{
	unsigned int c = 0;

	for (int i = HSM_MAC_LEN - 1; i >= 0; i--) {
		c += (unsigned int)sum[i] + item[i];
		sum[i] = (uint8_t)c;
		c >>= 8;
	}
}

static void sum_sub(uint8_t *sum, const uint8_t *item)
{
	int b = 0;

	for (int i = HSM_MAC_LEN - 1; i >= 0; i--) {
		int d = (int)sum[i] - item[i] - b;

		b = d < 0;
		sum[i] = (uint8_t)(d + (b ? 256 : 0));
	}
}

/* The token's MAC over the file's name and text (its "mac" member left out). */
static int file_mac(struct p11_store *st, const char *file, const char *text,
		    uint8_t mac[HSM_MAC_LEN])
{
	static const char label[] = "hsmkey pkcs11 record v1";
	size_t fl = strlen(file) + 1, tl = strlen(text);
	char *msg = malloc(sizeof(label) + fl + tl);
	int r;

	if (!msg)
		return -ENOMEM;
	memcpy(msg, label, sizeof(label));
	memcpy(msg + sizeof(label), file, fl);
	memcpy(msg + sizeof(label) + fl, text, tl);
	r = hsm_mac(st->hsm, msg, sizeof(label) + fl + tl, mac);
	free(msg);
	return r;
}

static const char *plain(struct json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
}

/*
 * Parse @file's bytes and check its MAC: *@out, its generation, MAC and
 * prev, and the SHA-256 of its bytes into @digest.  Bytes whose SHA-256 is
 * @known (an earlier read's or write's, or NULL) were authenticated then.
 */
static int file_parse(struct p11_store *st, const char *file, struct json_object **out,
		      uint64_t *gen, uint8_t mac[HSM_MAC_LEN], uint8_t prev[HSM_MAC_LEN],
		      const uint8_t *known, uint8_t digest[SHA256_DIGEST_LENGTH])
{
	uint8_t buf[P11_FILE_MAX + 1], want[HSM_MAC_LEN];
	struct json_object *o, *m, *g, *p;
	const char *hex;
	int fd, n, r;

	fd = openat(st->dirfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read_full(fd, buf, P11_FILE_MAX + 1);
	close(fd);
	if (n < 0)
		return n;
	if (n > P11_FILE_MAX)
		return -EFBIG;
	buf[n] = '\0';
	SHA256(buf, (size_t)n, digest);
	o = json_tokener_parse((char *)buf);
	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "mac", &m) ||
	    !json_object_object_get_ex(o, "gen", &g) ||
	    !json_object_object_get_ex(o, "prev", &p) ||
	    !(hex = json_object_get_string(m)) || hex_decode(hex, mac, HSM_MAC_LEN)) {
		json_object_put(o);
		return -EBADMSG;
	}
	*gen = (uint64_t)json_object_get_int64(g);
	hex = json_object_get_string(p);
	memset(prev, 0, HSM_MAC_LEN);
	if (hex && *hex && hex_decode(hex, prev, HSM_MAC_LEN)) {
		json_object_put(o);
		return -EBADMSG;
	}
	json_object_object_del(o, "mac");
	if (known && !CRYPTO_memcmp(known, digest, SHA256_DIGEST_LENGTH)) {
		*out = o;
		return 0;
	}
	r = file_mac(st, file, plain(o), want);
	if (!r && CRYPTO_memcmp(want, mac, HSM_MAC_LEN))
		r = -EBADMSG;
	if (r) {
		json_object_put(o);
		return r;
	}
	*out = o;
	return 0;
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct p11_file *)a)->name, ((const struct p11_file *)b)->name);
}

static struct p11_file *find(struct p11_store *st, const char *file)
{
	struct p11_file key;

	if (strlen(file) >= sizeof(key.name))
		return NULL;
	strcpy(key.name, file);
	return st->n ? bsearch(&key, st->f, st->n, sizeof(*st->f), cmp_file) : NULL;
}

/* A key record's id, from its parsed text @o. */
static void note_id(struct p11_file *f, struct json_object *o)
{
	struct json_object *v;
	const char *hex;

	f->has_id = json_object_object_get_ex(o, "id", &v) && (hex = json_object_get_string(v)) &&
		    !hex_decode(hex, f->id, HSMKEY_ID_LEN);
}

static int put(struct p11_store *st, const char *file, const uint8_t *mac,
	       const uint8_t *digest, struct json_object *o)
{
	struct p11_file *f = find(st, file), *tmp;

	if (f) {
		memcpy(f->mac, mac, HSM_MAC_LEN);
		memcpy(f->digest, digest, SHA256_DIGEST_LENGTH);
		note_id(f, o);
		return 0;
	}
	if (strlen(file) >= sizeof(f->name))
		return -ENAMETOOLONG;
	if (st->n == st->cap) {
		tmp = realloc(st->f, (st->cap ? 2 * st->cap : 64) * sizeof(*tmp));
		if (!tmp)
			return -ENOMEM;
		st->f = tmp;
		st->cap = st->cap ? 2 * st->cap : 64;
	}
	f = &st->f[st->n++];
	strcpy(f->name, file);
	memcpy(f->mac, mac, HSM_MAC_LEN);
	memcpy(f->digest, digest, SHA256_DIGEST_LENGTH);
	note_id(f, o);
	qsort(st->f, st->n, sizeof(*st->f), cmp_file);
	return 0;
}

static void drop(struct p11_store *st, const char *file)
{
	struct p11_file *f = find(st, file);

	if (!f)
		return;
	memmove(f, f + 1, (size_t)(st->f + st->n - f - 1) * sizeof(*f));
	st->n--;
}

static int anchor(struct p11_store *st, uint64_t gen, uint64_t count, const uint8_t *sum)
{
	uint8_t buf[P11_ANCHOR_LEN];

	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)(count >> (56 - 8 * i));
	memcpy(buf + 8, sum, HSM_MAC_LEN);
	return p11_anchor_all(st, gen, buf, sizeof(buf));
}

static bool ours(const char *name)
{
	size_t n = strlen(name), s = strlen(P11_SUFFIX);

	if (!strcmp(name, P11_RECORDS))
		return true;
	return n > s && !strcmp(name + n - s, P11_SUFFIX);
}

/* What the directory holds, each file authenticated. */
struct scan {
	uint64_t max_gen, pending_gen;
	uint8_t sum[HSM_MAC_LEN];
	char pending[sizeof(((struct p11_file *)0)->name)];
	uint8_t pending_prev[HSM_MAC_LEN], pending_mac[HSM_MAC_LEN];
};

static int scan_one(struct p11_store *st, const char *file, uint64_t agen, struct scan *s)
{
	struct json_object *o = NULL;
	uint8_t mac[HSM_MAC_LEN], prev[HSM_MAC_LEN], digest[SHA256_DIGEST_LENGTH];
	uint64_t gen;
	int r = file_parse(st, file, &o, &gen, mac, prev, NULL, digest);

	if (r == -EBADMSG || r == -EFBIG)
		return log_errno(EBADMSG, "pkcs11 store: %s does not authenticate with the token's record key (edited, or made for another token)",
				 file);
	if (r)
		return r;
	if (gen > agen) {
		/* Written, not yet anchored: a crash in between, if it is the only one. */
		snprintf(s->pending, sizeof(s->pending), "%s", file);
		memcpy(s->pending_prev, prev, HSM_MAC_LEN);
		memcpy(s->pending_mac, mac, HSM_MAC_LEN);
		s->pending_gen = gen;
	}
	if (gen > s->max_gen)
		s->max_gen = gen;
	sum_add(s->sum, mac);
	r = put(st, file, mac, digest, o);
	json_object_put(o);
	return r;
}

static int scan_dir(struct p11_store *st, uint64_t agen, struct scan *s)
{
	DIR *d;
	struct dirent *e;
	int fd = dup(st->dirfd), r = 0;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	rewinddir(d);
	while (!r && (e = readdir(d)))
		if (e->d_name[0] != '.' && ours(e->d_name))
			r = scan_one(st, e->d_name, agen, s);
	closedir(d);
	return r;
}

/* One file too many: the removal the anchor recorded, not yet done. */
static bool finish_removal(struct p11_store *st, const uint8_t *asum, const struct scan *s)
{
	uint8_t diff[HSM_MAC_LEN];

	memcpy(diff, s->sum, HSM_MAC_LEN);
	sum_sub(diff, asum);
	for (size_t i = 0; i < st->n; i++) {
		if (CRYPTO_memcmp(st->f[i].mac, diff, HSM_MAC_LEN))
			continue;
		log_warn("pkcs11 store: finishing the interrupted removal of %s", st->f[i].name);
		if (unlinkat(st->dirfd, st->f[i].name, 0) < 0)
			return false;
		drop(st, st->f[i].name);
		return true;
	}
	return false;
}

/* One file ahead of the anchor: the change it recorded, now anchored. */
static bool finish_change(struct p11_store *st, const uint8_t *asum, uint64_t count,
			  uint64_t agen, const struct scan *s)
{
	static const uint8_t none[HSM_MAC_LEN];
	uint8_t want[HSM_MAC_LEN];
	bool created = !CRYPTO_memcmp(s->pending_prev, none, HSM_MAC_LEN);

	if (!s->pending_gen || s->pending_gen != agen + 1 || s->max_gen != s->pending_gen ||
	    st->n != count + created)
		return false;
	memcpy(want, asum, HSM_MAC_LEN);
	if (!created)
		sum_sub(want, s->pending_prev);
	sum_add(want, s->pending_mac);
	if (CRYPTO_memcmp(want, s->sum, HSM_MAC_LEN))
		return false;
	log_warn("pkcs11 store: anchoring the interrupted change of %s", s->pending);
	return !anchor(st, s->pending_gen, st->n, s->sum);
}

/* The records' part of an anchor (members.c reads what follows). */
static int decode_anchor(const uint8_t *buf, size_t len, uint64_t *count, uint8_t *sum)
{
	if (len < P11_ANCHOR_LEN)
		return -EBADMSG;
	*count = 0;
	for (int i = 0; i < 8; i++)
		*count = *count << 8 | buf[i];
	memcpy(sum, buf + 8, HSM_MAC_LEN);
	return 0;
}

int p11_store_load(struct p11_store *st)
{
	uint8_t buf[HSM_ANCHOR_MAX], asum[HSM_MAC_LEN] = { 0 };
	size_t len = sizeof(buf);
	uint64_t agen = 0, count = 0;
	struct scan s = { 0 };
	bool fresh;
	int r;

	st->n = 0;
	st->listing = NULL;
	st->ups = hsm_ups(st->hsm);
	r = hsm_anchor_load(st->hsm, &agen, buf, &len);
	fresh = r == -ENOENT;
	if (r && !fresh)
		return r;
	if (!fresh && decode_anchor(buf, len, &count, asum))
		return log_errno(EBADMSG, "pkcs11 store: the token's anchor is not one of ours");
	r = scan_dir(st, agen, &s);
	if (r)
		return r;
	if (fresh && st->n && !st->accept)
		return log_errno(EBADMSG, "pkcs11 store: the state directory holds %zu record(s) but the token has no anchor: another token, or it was re-initialised; refusing (hsmkeyd --accept-keystore takes the records as they are)",
				 st->n);
	if (s.max_gen <= agen && st->n == count && !CRYPTO_memcmp(s.sum, asum, HSM_MAC_LEN)) {
		st->generation = agen;
	} else if (st->n == count + 1 && s.max_gen <= agen && finish_removal(st, asum, &s)) {
		memset(s.sum, 0, sizeof(s.sum));	/* what is left */
		for (size_t i = 0; i < st->n; i++)
			sum_add(s.sum, st->f[i].mac);
		st->generation = agen;
	} else if (finish_change(st, asum, count, agen, &s)) {
		st->generation = s.pending_gen;
	} else if (st->accept) {
		st->generation = (s.max_gen > agen ? s.max_gen : agen) + 1;
		r = anchor(st, st->generation, st->n, s.sum);
		if (r)
			return r;
		log_warn("pkcs11 store: %zu record(s) taken as current by the operator (--accept-keystore)",
			 st->n);
	} else {
		return log_errno(EBADMSG, "pkcs11 store: ROLLBACK or tampering: the state directory (%zu record(s), newest generation %llu) does not match the anchor in the token (%llu record(s), generation %llu); refusing it",
				 st->n, (unsigned long long)s.max_gen, (unsigned long long)count,
				 (unsigned long long)agen);
	}
	memcpy(st->sum, s.sum, HSM_MAC_LEN);
	st->loaded = true;
	/* The operator's word covers the store as it was at start, not a later reload. */
	st->accept = false;
	return 0;
}

int p11_store_reanchor(struct p11_store *st)
{
	int r = anchor(st, st->generation + 1, st->n, st->sum);

	if (r)
		st->loaded = false;
	else
		st->generation++;
	return r;
}

void p11_store_free(struct p11_store *st)
{
	free(st->f);
	st->f = NULL;
	st->n = st->cap = 0;
}

int p11_file_read(struct p11_store *st, const char *file, struct json_object **out)
{
	struct p11_file *f = find(st, file);
	uint8_t mac[HSM_MAC_LEN], prev[HSM_MAC_LEN], digest[SHA256_DIGEST_LENGTH];
	uint64_t gen;
	bool known;
	int r;

	if (!f) {
		if (!faccessat(st->dirfd, file, F_OK, AT_SYMLINK_NOFOLLOW))
			return log_errno(EBADMSG, "pkcs11 store: %s is not one this store wrote (put back from a copy?): ignored",
					 file);
		return -ENOENT;
	}
	/*
	 * A digest vouches for bytes only while the token that checked them
	 * is the one answering: after a restart of its helper (perhaps
	 * another token by now) or while it is down, the MAC again.
	 */
	known = hsm_ups(st->hsm) == st->ups && hsm_state(st->hsm, NULL, 0) == HSM_UP;
	r = file_parse(st, file, out, &gen, mac, prev, known ? f->digest : NULL, digest);
	if (r == -ENOENT || r == -EFBIG || (!r && CRYPTO_memcmp(mac, f->mac, HSM_MAC_LEN))) {
		if (!r)
			json_object_put(*out);
		return log_errno(EBADMSG, "pkcs11 store: %s was %s behind the daemon's back (rollback?): refused",
				 file, r == -ENOENT ? "removed" : "replaced");
	}
	if (r == -EBADMSG)
		log_error("pkcs11 store: %s does not authenticate with the token's record key: refused",
			  file);
	return r;
}

/* Whether @file holds @text: a rename that went through before its error. */
static bool holds(struct p11_store *st, const char *file, const char *text)
{
	size_t len = strlen(text);
	char *buf = malloc(len + 1);
	int fd, n = -1;

	fd = buf ? openat(st->dirfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
	if (fd >= 0) {
		n = read_full(fd, buf, len + 1);
		close(fd);
	}
	n = n == (int)len && !memcmp(buf, text, len);
	free(buf);
	return n;
}

/*
 * @file is in place but its anchor failed (@err): the token went down, or
 * its helper missed the deadline, perhaps after storing the anchor.  The
 * file is one change ahead of the anchor or level with it, which a load
 * finishes, so load now; if the token cannot say now, the change stands or
 * is refused at the next load, and whatever the file names must be kept.
 */
static int unconfirmed(struct p11_store *st, const char *file, const uint8_t *mac, int err)
{
	struct p11_file *f;

	st->loaded = false;
	if (!p11_store_load(st) && (f = find(st, file)) &&
	    !CRYPTO_memcmp(f->mac, mac, HSM_MAC_LEN))
		return 0;
	st->loaded = false;
	return log_errno(-P11_UNCONFIRMED, "pkcs11 store: %s is written but the token did not confirm its anchor (%s): the change stands or is refused when the token is next reached",
			 file, strerror(-err));
}

int p11_file_write(struct p11_store *st, const char *file, struct json_object *o)
{
	struct p11_file *f = find(st, file);
	uint8_t mac[HSM_MAC_LEN], sum[HSM_MAC_LEN], digest[SHA256_DIGEST_LENGTH];
	char hex[2 * HSM_MAC_LEN + 1] = "";
	uint64_t gen = st->generation + 1;
	const char *text;
	int r;

	st->listing = NULL;	/* perhaps this very record */
	if (f)
		hex_encode(f->mac, HSM_MAC_LEN, hex);
	json_object_object_del(o, "mac");
	json_object_object_add(o, "gen", json_object_new_int64((int64_t)gen));
	json_object_object_add(o, "prev", json_object_new_string(hex));
	r = file_mac(st, file, plain(o), mac);
	if (r)
		return r;
	hex_encode(mac, HSM_MAC_LEN, hex);
	json_object_object_add(o, "mac", json_object_new_string(hex));
	text = plain(o);
	r = write_file_atomic(st->dirfd, file, text, strlen(text), 0600);
	if (r && holds(st, file, text)) {
		/*
		 * In place, but not known to be on disk: anchoring it could
		 * leave the token ahead of the disk after a power loss.  Once
		 * more; else it is one change ahead, for the next load to
		 * settle, and what it names is kept meanwhile.
		 */
		if (fsync(st->dirfd) < 0) {
			st->loaded = false;
			return log_errno(-P11_UNCONFIRMED, "pkcs11 store: %s is in place but not known to be on disk (%s)",
					 file, strerror(errno));
		}
		r = 0;
	}
	if (r)
		return log_errno(r, "pkcs11 store: cannot write %s: %s", file, strerror(-r));
	memcpy(sum, st->sum, HSM_MAC_LEN);
	if (f)
		sum_sub(sum, f->mac);
	sum_add(sum, mac);
	crash_point(strcmp(file, P11_RECORDS) ? "p11-key-written" : "p11-records-written");
	SHA256((const uint8_t *)text, strlen(text), digest);
	r = anchor(st, gen, st->n + !f, sum) ?: put(st, file, mac, digest, o);
	if (r)
		return unconfirmed(st, file, mac, r);
	memcpy(st->sum, sum, HSM_MAC_LEN);
	st->generation = gen;
	return 0;
}

int p11_file_remove(struct p11_store *st, const char *file)
{
	struct p11_file *f = find(st, file);
	uint8_t sum[HSM_MAC_LEN];
	int r;

	st->listing = NULL;
	if (!f)
		return -ENOENT;
	memcpy(sum, st->sum, HSM_MAC_LEN);
	sum_sub(sum, f->mac);
	r = anchor(st, st->generation + 1, st->n - 1, sum);
	if (r) {
		/* Perhaps stored all the same (a deadline): a load tells, and finishes it. */
		st->loaded = false;
		if (!p11_store_load(st) && !find(st, file))
			return 0;
		st->loaded = false;
		return r;
	}
	st->generation++;
	memcpy(st->sum, sum, HSM_MAC_LEN);
	drop(st, file);
	crash_point("p11-key-anchored");
	if (unlinkat(st->dirfd, file, 0) < 0)
		log_warn("pkcs11 store: cannot remove %s (%m): the next start removes it", file);
	return 0;
}

int p11_key_names(struct p11_store *st, const char *after, char (**out)[HSMKEY_NAME_MAX],
		  size_t *n)
{
	size_t s = strlen(P11_SUFFIX), k = 0;
	char (*names)[HSMKEY_NAME_MAX] = calloc(st->n + 1, sizeof(*names));

	if (!names)
		return -ENOMEM;
	for (size_t i = 0; i < st->n; i++) {
		size_t len = strlen(st->f[i].name);

		if (len <= s || strcmp(st->f[i].name + len - s, P11_SUFFIX) ||
		    len - s >= HSMKEY_NAME_MAX)
			continue;
		memcpy(names[k], st->f[i].name, len - s);
		names[k][len - s] = '\0';
		if (!after || strcmp(names[k], after) > 0)
			k++;
	}
	/* (The files' order is not the names': '.' sorts before '-' and digits.) */
	qsort(names, k, sizeof(*names), (int (*)(const void *, const void *))strcmp);
	*out = names;
	*n = k;
	return 0;
}

static int64_t jint(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -1;
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static struct json_object *rec_json(const struct p11_rec *rec)
{
	struct json_object *o = json_object_new_object(), *va = json_object_new_array();
	const struct ks_key *m = &rec->meta;
	char id[2 * HSMKEY_ID_LEN + 1];

	hex_encode(m->id, HSMKEY_ID_LEN, id);
	json_object_object_add(o, "name", json_object_new_string(m->name));
	json_object_object_add(o, "type", json_object_new_string(key_type_name(m->type)));
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "state", json_object_new_int(m->state));
	json_object_object_add(o, "prior_state", json_object_new_int(m->prior_state));
	json_object_object_add(o, "delete_at", json_object_new_int64(m->delete_at));
	json_object_object_add(o, "created", json_object_new_int64(m->created));
	json_object_object_add(o, "was_readable", json_object_new_boolean(rec->was_readable));
	if (m->has_policy)
		json_object_object_add(o, "policy", ks_policy_to_json(&m->policy));
	for (uint32_t i = 0; i < rec->nver; i++) {
		struct json_object *v = json_object_new_object();

		json_object_object_add(v, "version", json_object_new_int64(rec->v[i].version));
		json_object_object_add(v, "created", json_object_new_int64(rec->v[i].created));
		json_object_object_add(v, "used_bytes",
				       json_object_new_int64((int64_t)rec->v[i].used_bytes));
		json_object_object_add(v, "used_requests",
				       json_object_new_int64((int64_t)rec->v[i].used_requests));
		json_object_array_add(va, v);
	}
	json_object_object_add(o, "versions", va);
	return o;
}

static int rec_versions(struct json_object *va, struct p11_rec *rec)
{
	size_t n = json_object_array_length(va);

	if (!n || n > KS_VERSIONS_MAX)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(va, i);
		int64_t ver = jint(v, "version");

		if (ver < 1 || ver > UINT32_MAX || (i && ver <= rec->v[i - 1].version))
			return -EBADMSG;
		rec->v[i].version = (uint32_t)ver;
		rec->v[i].created = jint(v, "created");
		rec->v[i].used_bytes = (uint64_t)jint(v, "used_bytes");
		rec->v[i].used_requests = (uint64_t)jint(v, "used_requests");
	}
	rec->nver = (uint32_t)n;
	return 0;
}

static int rec_parse(struct json_object *o, const char *name, struct p11_rec *rec)
{
	struct ks_key *m = &rec->meta;
	struct json_object *va, *p, *wr;
	const char *s;

	memset(rec, 0, sizeof(*rec));
	s = jstr(o, "name");
	if (!s || strcmp(s, name) || strlen(s) >= sizeof(m->name))
		return -EBADMSG;
	strcpy(m->name, s);
	m->type = key_type_from_name(jstr(o, "type") ?: "");
	s = jstr(o, "id");
	if (m->type < 0 || !p11_keeps(m->type) || !s || hex_decode(s, m->id, HSMKEY_ID_LEN) ||
	    !json_object_object_get_ex(o, "versions", &va) ||
	    !json_object_is_type(va, json_type_array) || rec_versions(va, rec))
		return -EBADMSG;
	m->state = (int)jint(o, "state");
	m->prior_state = (int)jint(o, "prior_state");
	m->delete_at = jint(o, "delete_at");
	m->created = jint(o, "created");
	if (json_object_object_get_ex(o, "was_readable", &wr))
		rec->was_readable = json_object_get_boolean(wr);
	if (m->state < KS_ACTIVE || m->state > KS_PENDING_DELETION)
		return -EBADMSG;
	if (json_object_object_get_ex(o, "policy", &p)) {
		if (ks_policy_from_json(p, &m->policy))
			return -EBADMSG;
		m->has_policy = true;
	}
	m->current = rec->v[rec->nver - 1].version;
	m->version = m->current;
	m->version_created = rec->v[rec->nver - 1].created;
	m->used_bytes = rec->v[rec->nver - 1].used_bytes;
	m->used_requests = rec->v[rec->nver - 1].used_requests;
	return 0;
}

static void key_file(const char *name, char *file)
{
	snprintf(file, HSMKEY_NAME_MAX + sizeof(P11_SUFFIX), "%s%s", name, P11_SUFFIX);
}

int p11_rec_read(struct p11_store *st, const char *name, struct p11_rec *rec)
{
	char file[HSMKEY_NAME_MAX + sizeof(P11_SUFFIX)];
	struct json_object *o = NULL;
	int r;

	if (st->listing && !strcmp(st->listing->meta.name, name)) {
		*rec = *st->listing;
		return 0;
	}
	key_file(name, file);
	r = p11_file_read(st, file, &o);
	if (!r && rec_parse(o, name, rec))
		r = log_errno(EBADMSG, "pkcs11 store: %s authenticates but does not parse", file);
	json_object_put(o);
	return r;
}

int p11_rec_write(struct p11_store *st, const struct p11_rec *rec)
{
	char file[HSMKEY_NAME_MAX + sizeof(P11_SUFFIX)];
	struct json_object *o = rec_json(rec);
	int r;

	if (!o)
		return -ENOMEM;
	key_file(rec->meta.name, file);
	r = p11_file_write(st, file, o);
	json_object_put(o);
	return r;
}

uint32_t p11_rec_find(const struct p11_rec *rec, uint32_t version)
{
	uint32_t i;

	for (i = 0; i < rec->nver && rec->v[i].version != version; i++)
		;
	return i;
}

/* A new key's record, version 1 (its object not made yet). */
void p11_rec_new(struct p11_rec *rec, const char *name, int type, const uint8_t *id)
{
	memset(rec, 0, sizeof(*rec));
	memcpy(rec->meta.id, id, HSMKEY_ID_LEN);
	snprintf(rec->meta.name, sizeof(rec->meta.name), "%s", name);
	rec->meta.type = type;
	rec->meta.state = KS_ACTIVE;
	rec->meta.created = time(NULL);
	rec->meta.current = 1;
	rec->nver = 1;
	rec->v[0] = (struct p11_ver){ .version = 1, .created = rec->meta.created };
}
