// SPDX-License-Identifier: GPL-2.0
/*
 * The embedded keystore's root record, STATE/root.json: what must outlive
 * a master key replacement, sealed as one whole under the master key (the
 * secret keys are derived from, the daemon's own records, the key files'
 * generations, the count and hash of the tombstones); and the keystore's
 * public identity, STATE/instance.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include "internal.h"
#include "util.h"

/*
 * STATE/instance: this keystore's identity, made once.  The kernel records
 * it as the owner of the keys this keystore provisions, so that a daemon on
 * another state directory never takes them for its own.
 */
int ks_instance_load(struct keystore *ks, const char *dir)
{
	char hex[2 * HSMKEY_OWNER_LEN + 2];
	int fd, n;

	fd = openat(ks->dirfd, "instance", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		if (RAND_bytes(ks->instance, sizeof(ks->instance)) != 1)
			return -EIO;
		hex_encode(ks->instance, sizeof(ks->instance), hex);
		strcat(hex, "\n");
		return write_file_atomic(ks->dirfd, "instance", hex, strlen(hex), 0644);
	}
	if (fd < 0)
		return log_errno(errno, "cannot open %s/instance: %m", dir);
	n = read_full(fd, hex, sizeof(hex) - 1);
	close(fd);
	if (n < 2 * HSMKEY_OWNER_LEN)
		return log_errno(EINVAL, "%s/instance is damaged", dir);
	hex[2 * HSMKEY_OWNER_LEN] = '\0';
	if (hex_decode(hex, ks->instance, sizeof(ks->instance)))
		return log_errno(EINVAL, "%s/instance is damaged", dir);
	return 0;
}

/*
 * STATE/root.json: what must survive master key replacements, sealed as
 * one whole under the master key (sealed again when it changes): the
 * random secret that ks_derive() derives from, the daemon's own small
 * records (record_load/record_store: the audit anchor), the generations
 * and, of the tombstones in STATE/tombs (tombfile.c), their number and
 * hash: a few hundred bytes whatever their number, as it is written at
 * every key change and request.  Format 1 held the secret alone, format
 * 2 the JSON without tombstones, format 3 the JSON, a zero byte and the
 * tombstones themselves in binary (17 bytes each, 3.4 MB of root.json at
 * 100,000): each is read, and written back as format 4 at open, its
 * tombstones to STATE/tombs first (ks_scan() gives a format 1/2 store's
 * tombstones their first entries).
 */
#define KS_ROOT_MAX	16384		/* the JSON */
#define KS_ROOT_FILE_MAX (2 * (KS_ROOT_MAX + 1 + (size_t)KS_TOMBS_MAX * KS_TOMB_LEN) + 512)
#define KS_RECORD_MAX	1024
static const uint8_t ks_root_aad1[] = "hsmkey root v1";
static const uint8_t ks_root_aad2[] = "hsmkey root v2";
static const uint8_t ks_root_aad3[] = "hsmkey root v3";
static const uint8_t ks_root_aad[] = "hsmkey root v4";

static int ks_root_keys(struct keystore *ks);

/* The rollback state as JSON (absent before the store's upgrade). */
static struct json_object *ks_gen_json(const struct ks_gen *g)
{
	struct json_object *o = json_object_new_object(), *p;
	char hex[2 * KS_MAC_LEN + 1];

	if (!g->upgraded) {
		json_object_object_add(o, "upgrading", json_object_new_boolean(true));
		return o;
	}

	json_object_object_add(o, "generation", json_object_new_int64((int64_t)g->generation));
	json_object_object_add(o, "keys", json_object_new_int64((int64_t)g->keys));
	hex_encode(g->sum, KS_MAC_LEN, hex);
	json_object_object_add(o, "sum", json_object_new_string(hex));
	if (g->pending) {
		p = json_object_new_object();
		json_object_object_add(p, "name", json_object_new_string(g->pname));
		json_object_object_add(p, "old", json_object_new_int64((int64_t)g->pold));
		json_object_object_add(p, "new", json_object_new_int64((int64_t)g->pnew));
		json_object_object_add(o, "pending", p);
	}
	return o;
}

/*
 * The plaintext of the root record: JSON holding the secret and the
 * tombstones' count and hash; wipe it, then free.
 */
static char *ks_root_plain(const struct keystore *ks, size_t *len)
{
	const char *records = json_object_to_json_string_ext(ks->records, JSON_C_TO_STRING_PLAIN);
	struct json_object *g = ks->gen.upgraded || ks->gen.upgrading ?
				ks_gen_json(&ks->gen) : NULL;
	const char *gen = g ? json_object_to_json_string_ext(g, JSON_C_TO_STRING_PLAIN) : "null";
	size_t size = strlen(records) + strlen(gen) + 4 * KS_MASTER_LEN + 128;
	char hex[2 * KS_MASTER_LEN + 1], th[2 * KS_MAC_LEN + 1], *text = malloc(size);

	if (text) {
		hex_encode(ks->root, KS_MASTER_LEN, hex);
		hex_encode(ks->tombs.hash, KS_MAC_LEN, th);
		*len = (size_t)snprintf(text, size,
					"{\"root\":\"%s\",\"records\":%s,\"gen\":%s,\"tombs\":{\"n\":%llu,\"hash\":\"%s\"}}",
					hex, records, gen, (unsigned long long)ks->tombs.count, th);
		wipe(hex, sizeof(hex));
	}
	json_object_put(g);
	return text;
}

/* The root record sealed and written in place of the one on disk. */
static int ks_root_write(struct keystore *ks)
{
	uint8_t nonce[KS_NONCE_LEN], tag[KS_TAG_LEN], *sealed = NULL;
	char h1[2 * KS_MKID_LEN + 1], h2[2 * KS_NONCE_LEN + 1], h3[2 * KS_TAG_LEN + 1];
	const uint8_t *mkid, *master = ks_seal_master(ks, &mkid);
	size_t len = 0;
	char *plain = ks_root_plain(ks, &len), *hex = NULL, *text = NULL;
	int r = -ENOMEM, n;

	if (!plain || len > KS_ROOT_MAX)
		goto out;
	sealed = malloc(len);
	hex = malloc(2 * len + 1);
	text = malloc(2 * len + 256);
	if (!sealed || !hex || !text)
		goto out;
	r = RAND_bytes(nonce, sizeof(nonce)) == 1 ? 0 : -EIO;
	if (!r)
		r = ks_gcm(master, true, ks_root_aad, sizeof(ks_root_aad), nonce, tag,
			   (const uint8_t *)plain, sealed, (int)len);
	if (r)
		goto out;
	hex_encode(mkid, KS_MKID_LEN, h1);
	hex_encode(nonce, sizeof(nonce), h2);
	hex_encode(tag, sizeof(tag), h3);
	hex_encode(sealed, len, hex);
	n = snprintf(text, 2 * len + 256,
		     "{ \"format\": 4, \"master\": \"%s\", \"nonce\": \"%s\", \"tag\": \"%s\", \"sealed\": \"%s\" }\n",
		     h1, h2, h3, hex);
	r = write_file_atomic(ks->dirfd, KS_ROOT, text, (size_t)n, 0600);
	if (!r) {
		ks->root_format = 4;
		ks->tombs.stored = ks->tombs.count;
	}
out:
	if (plain)
		wipe(plain, len);
	free(plain);
	free(sealed);
	free(hex);
	free(text);
	return r;
}

int ks_root_store(struct keystore *ks)
{
	/* The tombstones it counts are on disk before it is. */
	int r = ks->tombs.file ? ks_tombfile_sync(&ks->tombs) :
				 ks_tombfile_create(&ks->tombs, ks->dirfd);

	return r ? r : ks_root_write(ks);
}

static int ks_gen_parse(struct json_object *o, struct ks_gen *g)
{
	struct json_object *p;
	const char *name;

	memset(g, 0, sizeof(*g));
	if (json_object_is_type(o, json_type_null))
		return 0;
	if (json_object_object_get_ex(o, "upgrading", &p)) {
		g->upgrading = true;
		return json_object_is_type(p, json_type_boolean) ? 0 : -EBADMSG;
	}
	if (!json_object_is_type(o, json_type_object) || jint(o, "generation") < 0 ||
	    jint(o, "keys") < 0 || hex_decode(jstr(o, "sum"), g->sum, KS_MAC_LEN))
		return -EBADMSG;
	g->upgraded = true;
	g->generation = (uint64_t)jint(o, "generation");
	g->keys = (uint64_t)jint(o, "keys");
	if (!json_object_object_get_ex(o, "pending", &p))
		return 0;
	name = jstr(p, "name");
	if (!valid_name(name) || jint(p, "old") < 0 || jint(p, "new") < 0)
		return -EBADMSG;
	g->pending = true;
	strcpy(g->pname, name);
	g->pold = (uint64_t)jint(p, "old");
	g->pnew = (uint64_t)jint(p, "new");
	return 0;
}

/* Format 4's tombstones: the number of entries of STATE/tombs counted, their hash. */
static int ks_tombs_parse(struct json_object *o, uint64_t *n, uint8_t *hash)
{
	struct json_object *t;

	if (!json_object_object_get_ex(o, "tombs", &t) ||
	    !json_object_is_type(t, json_type_object) ||
	    jint(t, "n") < 0 || jint(t, "n") > KS_TOMB_ENTRIES_MAX ||
	    hex_decode(jstr(t, "hash"), hash, KS_MAC_LEN))
		return -EBADMSG;
	*n = (uint64_t)jint(t, "n");
	return 0;
}

/*
 * The root record's plaintext @plain (@len bytes, format 2 to 4) into
 * @ks: JSON, and in format 3 after it the tombstones it counts; in
 * format 4, *@n entries of STATE/tombs hashing to @hash.
 */
static int ks_root_parse(struct keystore *ks, int format, const char *plain, size_t len,
			 uint64_t *n, uint8_t *hash)
{
	struct json_object *o = json_tokener_parse(plain), *rec, *gen = NULL;
	size_t json = strlen(plain);
	int64_t tombs = format == 3 && o ? jint(o, "tombs") : 0;
	int r = -EBADMSG;

	if (tombs < 0 || tombs > KS_TOMBS_MAX ||
	    (format == 4 && (!o || ks_tombs_parse(o, n, hash))) ||
	    len != (format == 3 ? json + 1 + (size_t)tombs * KS_TOMB_LEN : json) ||
	    !o || !json_object_is_type(o, json_type_object) ||
	    hex_decode(jstr(o, "root"), ks->root, KS_MASTER_LEN) ||
	    !json_object_object_get_ex(o, "records", &rec) ||
	    !json_object_is_type(rec, json_type_object) ||
	    (json_object_object_get_ex(o, "gen", &gen) && ks_gen_parse(gen, &ks->gen)))
		goto out;
	json_object_object_foreach(rec, k, v) {
		if (!valid_name(k) || !json_object_is_type(v, json_type_string))
			goto out;
	}
	r = format == 3 ? ks_tomb_decode(&ks->tombs, (const uint8_t *)plain + json + 1,
					 (size_t)tombs) : 0;
	if (r)
		goto out;
	json_object_put(ks->records);
	ks->records = json_object_get(rec);
out:
	json_object_put(o);
	return r;
}

int ks_root_load(struct keystore *ks, const char *dir)
{
	uint8_t nonce[KS_NONCE_LEN], tag[KS_TAG_LEN], mkid[KS_MKID_LEN], *sealed = NULL;
	size_t slen = 0;
	const uint8_t *master;
	struct json_object *o;
	const char *hex;
	struct stat st;
	uint8_t thash[KS_MAC_LEN];
	uint64_t tn = 0;
	char *text;
	int fd, n, r, format;

	fd = openat(ks->dirfd, KS_ROOT, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		/* A new store (open.c refuses a missing root beside key files). */
		if (RAND_priv_bytes(ks->root, sizeof(ks->root)) != 1)
			return -EIO;
		memset(&ks->gen, 0, sizeof(ks->gen));
		ks->gen.upgraded = true;
		ks->root_format = 4;
		r = ks_root_keys(ks);
		return r ? r : ks_root_store(ks);
	}
	if (fd < 0)
		return log_errno(errno, "cannot open %s/%s: %m", dir, KS_ROOT);
	if (fstat(fd, &st) < 0 || st.st_size > (off_t)KS_ROOT_FILE_MAX) {
		close(fd);
		return log_errno(EBADMSG, "%s/%s is damaged (larger than any root record)",
				 dir, KS_ROOT);
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		close(fd);
		return -ENOMEM;
	}
	n = read_full(fd, text, (size_t)st.st_size);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	o = json_tokener_parse(text);
	free(text);
	format = o ? (int)jint(o, "format") : -1;
	hex = o ? jstr(o, "sealed") : NULL;
	slen = hex ? strlen(hex) / 2 : 0;
	sealed = slen ? malloc(slen + 1) : NULL;
	r = !o || format < 1 || format > 4 || !sealed ||
	    (format == 1 && slen != KS_MASTER_LEN) ||
	    hex_decode(jstr(o, "master"), mkid, sizeof(mkid)) ||
	    hex_decode(jstr(o, "nonce"), nonce, sizeof(nonce)) ||
	    hex_decode(jstr(o, "tag"), tag, sizeof(tag)) ||
	    hex_decode(hex, sealed, slen);
	json_object_put(o);
	master = r ? NULL : ks_master_for(ks, mkid);
	if (!master)
		r = -EBADMSG;
	else if (format == 1)
		r = ks_gcm(master, false, ks_root_aad1, sizeof(ks_root_aad1), nonce, tag,
			   sealed, ks->root, KS_MASTER_LEN);
	else if (!(r = ks_gcm(master, false, format == 2 ? ks_root_aad2 :
			      format == 3 ? ks_root_aad3 : ks_root_aad,
			      sizeof(ks_root_aad), nonce, tag, sealed, sealed, (int)slen))) {
		sealed[slen] = '\0';
		r = ks_root_parse(ks, format, (const char *)sealed, slen, &tn, thash);
	}
	if (sealed)
		wipe(sealed, slen);
	free(sealed);
	if (r)
		return log_errno(EBADMSG, "%s/%s is damaged or not sealed under this master key",
				 dir, KS_ROOT);
	ks->root_format = format;
	/*
	 * An older format's tombstones (format 3's, or none) go to a new
	 * STATE/tombs with the first root record written (ks_root_store()),
	 * once the open is not refused: a root record put back from before
	 * leaves the current file alone.
	 */
	r = format == 4 ? ks_tombfile_load(&ks->tombs, ks->dirfd, dir, tn, thash) : 0;
	return r ? r : ks_root_keys(ks);
}

/* Daemon record @name (backend.h): the length read, -ENOENT if none. */
int ks_record_load(struct keystore *ks, const char *name, void *buf, size_t len)
{
	uint8_t data[KS_RECORD_MAX];
	struct json_object *v;
	const char *hex;
	size_t n;

	if (!valid_name(name))
		return -EINVAL;
	if (!json_object_object_get_ex(ks->records, name, &v))
		return -ENOENT;
	hex = json_object_get_string(v);
	n = strlen(hex) / 2;
	if (n > sizeof(data) || hex_decode(hex, data, n))
		return -EBADMSG;
	if (n > len)
		return -EMSGSIZE;
	memcpy(buf, data, n);
	return (int)n;
}

int ks_record_store(struct keystore *ks, const char *name, const void *buf, size_t len)
{
	char hex[2 * KS_RECORD_MAX + 1];
	struct json_object *old = NULL;
	int r;

	if (!valid_name(name) || len > KS_RECORD_MAX)
		return -EINVAL;
	hex_encode(buf, len, hex);
	if (json_object_object_get_ex(ks->records, name, &old))
		json_object_get(old);
	json_object_object_add(ks->records, name, json_object_new_string(hex));
	r = ks_root_store(ks);
	/* Not stored: memory keeps what the disk has. */
	if (r && old)
		json_object_object_add(ks->records, name, old);
	else if (r)
		json_object_object_del(ks->records, name);
	else
		json_object_put(old);
	return r;
}

/* A key for another purpose, derived from the root secret (HKDF-SHA256). */
int ks_derive(const struct keystore *ks, const char *label, uint8_t *out, size_t len)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	int ok;

	ok = pctx && EVP_PKEY_derive_init(pctx) > 0 &&
	     EVP_PKEY_CTX_set_hkdf_md(pctx, EVP_sha256()) > 0 &&
	     EVP_PKEY_CTX_set1_hkdf_key(pctx, ks->root, KS_MASTER_LEN) > 0 &&
	     EVP_PKEY_CTX_add1_hkdf_info(pctx, (const uint8_t *)label, (int)strlen(label)) > 0 &&
	     EVP_PKEY_derive(pctx, out, &len) > 0;
	EVP_PKEY_CTX_free(pctx);
	return ok ? 0 : -EIO;
}

int ks_dirfd(const struct keystore *ks)
{
	return ks->dirfd;
}

const uint8_t *ks_instance(const struct keystore *ks)
{
	return ks->instance;
}


/* The keys of the key file MACs and of the generation sum, from the root secret. */
static int ks_root_keys(struct keystore *ks)
{
	if (ks_derive(ks, "hsmkey key file mac v1", ks->filekey, KS_MASTER_LEN) ||
	    ks_derive(ks, "hsmkey key set v1", ks->setkey, KS_MASTER_LEN))
		return -EIO;
	return 0;
}

/* One key file's item in the sum: HMAC(name || 0 || generation). */
void ks_gen_item(const struct keystore *ks, const char *name, uint64_t gen, uint8_t *out)
{
	uint8_t buf[HSMKEY_NAME_MAX + 9];
	size_t n = strlen(name) + 1;
	unsigned int len = KS_MAC_LEN;

	memcpy(buf, name, n);
	for (int i = 7; i >= 0; i--, gen >>= 8)
		buf[n + (size_t)i] = (uint8_t)gen;
	HMAC(EVP_sha256(), ks->setkey, KS_MASTER_LEN, buf, n + 8, out, &len);
}

/* @sum += @item, big-endian mod 2^256. */
void ks_sum_add(uint8_t *sum, const uint8_t *item)
{
	unsigned int carry = 0;

	for (int i = KS_MAC_LEN - 1; i >= 0; i--) {
		carry += (unsigned int)sum[i] + item[i];
		sum[i] = (uint8_t)carry;
		carry >>= 8;
	}
}

/* @sum -= @item: adding the two's complement. */
static void ks_sum_sub(uint8_t *sum, const uint8_t *item)
{
	uint8_t neg[KS_MAC_LEN], one[KS_MAC_LEN] = { [KS_MAC_LEN - 1] = 1 };

	for (int i = 0; i < KS_MAC_LEN; i++)
		neg[i] = (uint8_t)~item[i];
	ks_sum_add(neg, one);
	ks_sum_add(sum, neg);
}

/* @sum with the pending change applied: the old file's item out, the new one's in. */
static void ks_sum_applied(const struct keystore *ks, uint8_t *sum)
{
	uint8_t item[KS_MAC_LEN];

	memcpy(sum, ks->gen.sum, KS_MAC_LEN);
	if (ks->gen.pold) {
		ks_gen_item(ks, ks->gen.pname, ks->gen.pold, item);
		ks_sum_sub(sum, item);
	}
	if (ks->gen.pnew) {
		ks_gen_item(ks, ks->gen.pname, ks->gen.pnew, item);
		ks_sum_add(sum, item);
	}
}

/*
 * A change of key file @name begins: its file now at generation @old (0:
 * none) is to be replaced (@keep; *@gen: its new generation) or removed.
 * The root record says so before the file changes, so that a crash
 * between the two leaves a store that opens (either file is accepted
 * until ks_gen_end() records the outcome).
 */
int ks_gen_begin(struct keystore *ks, const char *name, uint64_t old, bool keep, uint64_t *gen)
{
	struct ks_gen *g = &ks->gen;
	int r;

	g->pending = true;
	snprintf(g->pname, sizeof(g->pname), "%s", name);
	g->pold = old;
	g->pnew = keep ? ++g->generation : 0;
	r = ks_root_store(ks);
	if (r)
		g->pending = false;
	*gen = g->pnew;
	return r;
}

/* The change begun is @done (the file written or removed) or not. */
int ks_gen_end(struct keystore *ks, bool done)
{
	struct ks_gen *g = &ks->gen;

	if (done) {
		ks_sum_applied(ks, g->sum);
		g->keys += (g->pnew ? 1 : 0) - (g->pold ? 1 : 0);
	}
	g->pending = false;
	return ks_root_store(ks);
}

/* Would ks_gen_check() accept @sum over @keys files?  (No side effects.) */
bool ks_gen_matches(const struct keystore *ks, const uint8_t *sum, uint64_t keys)
{
	const struct ks_gen *g = &ks->gen;
	uint8_t applied[KS_MAC_LEN];

	if (!CRYPTO_memcmp(sum, g->sum, KS_MAC_LEN) && keys == g->keys)
		return true;
	if (!g->pending)
		return false;
	ks_sum_applied(ks, applied);
	return !CRYPTO_memcmp(sum, applied, KS_MAC_LEN) &&
	       keys == g->keys + (g->pnew ? 1 : 0) - (g->pold ? 1 : 0);
}

/*
 * At open: does the key directory (@sum over its @keys files) match the
 * root record?  A pending change may have happened or not; either way
 * the record is brought up to date.  -EBADMSG: a rollback.
 */
int ks_gen_check(struct keystore *ks, const uint8_t *sum, uint64_t keys)
{
	if (!ks_gen_matches(ks, sum, keys))
		return -EBADMSG;
	if (!ks->gen.pending)
		return 0;
	return ks_gen_end(ks, CRYPTO_memcmp(sum, ks->gen.sum, KS_MAC_LEN) || keys != ks->gen.keys);
}
