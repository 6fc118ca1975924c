// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include "backend.h"
#include "keystore.h"
#include "util.h"

#define KS_FORMAT	2
#define KS_MASTER_LEN	32
#define KS_MKID_LEN	8
#define KS_NONCE_LEN	12
#define KS_TAG_LEN	16
#define KS_FILE_MAX	32768
#define KS_SEALED_MAX	(HSMKEY_VERIFIER_LEN + HSMKEY_MATERIAL_MAX)
#define KS_AAD_MAX	768
#define KS_MASTER	"master.key"
#define KS_MASTER_NEW	"master.key.new"
#define KS_KDF		"master.kdf"
#define KS_KDF_NEW	"master.kdf.new"
#define KS_ROOT		"root.json"

/*
 * Secrets first, in pages of their own that are locked in memory and left
 * out of core dumps.  @next is the master key being put in place while a
 * replacement is under way (see ks_replace_master()); @root is the secret
 * that ks_derive() derives from, sealed in STATE/root.json so that it
 * survives master key replacements (the audit log's keys come from it).
 */
struct keystore {
	uint8_t master[KS_MASTER_LEN];
	uint8_t next[KS_MASTER_LEN];
	uint8_t root[KS_MASTER_LEN];
	uint8_t mkid[KS_MKID_LEN];
	uint8_t next_mkid[KS_MKID_LEN];
	bool has_next;
	bool passphrase;
	char passfile[PATH_MAX];
	int dirfd;
	int keysfd;
	int lockfd;
	uint8_t instance[HSMKEY_OWNER_LEN];
	struct json_object *records;	/* daemon records, in root.json */
	struct backend be;
	pthread_mutex_t lock;		/* the backend ops: one thread at a time */
};

/* A master key's public name: which one sealed a file. */
static void ks_mkid(const uint8_t *master, uint8_t *out)
{
	static const char label[] = "hsmkey master key id v1";
	uint8_t mac[32];
	unsigned int len = sizeof(mac);

	HMAC(EVP_sha256(), master, KS_MASTER_LEN, (const uint8_t *)label,
	     sizeof(label) - 1, mac, &len);
	memcpy(out, mac, KS_MKID_LEN);
}

/*
 * Passphrase mode: the master key is scrypt(passphrase, salt) with a cost
 * of 2^17 x 8 (128 MiB, memory-hard), salt and cost in STATE/master.kdf
 * with a check value (an HMAC under the derived key) that tells a wrong
 * passphrase from a damaged keystore.  No key is ever written to disk.
 * A master key replacement picks a new salt (master.kdf.new).
 */
#define KS_KDF_N	(1u << 17)
#define KS_KDF_R	8u
#define KS_KDF_P	1u
#define KS_SALT_LEN	16

static int ks_kdf(const char *pass, size_t passlen, const uint8_t *salt,
		  uint64_t n, uint32_t r, uint32_t p, uint8_t *out)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_SCRYPT, NULL);
	size_t outlen = KS_MASTER_LEN;
	int ok;

	ok = pctx && EVP_PKEY_derive_init(pctx) > 0 &&
	     EVP_PKEY_CTX_set1_pbe_pass(pctx, pass, (int)passlen) > 0 &&
	     EVP_PKEY_CTX_set1_scrypt_salt(pctx, salt, KS_SALT_LEN) > 0 &&
	     EVP_PKEY_CTX_set_scrypt_N(pctx, n) > 0 &&
	     EVP_PKEY_CTX_set_scrypt_r(pctx, r) > 0 &&
	     EVP_PKEY_CTX_set_scrypt_p(pctx, p) > 0 &&
	     EVP_PKEY_CTX_set_scrypt_maxmem_bytes(pctx, 1ull << 30) > 0 &&
	     EVP_PKEY_derive(pctx, out, &outlen) > 0 && outlen == KS_MASTER_LEN;
	EVP_PKEY_CTX_free(pctx);
	return ok ? 0 : -EIO;
}

static void ks_kdf_check(const uint8_t *master, uint8_t *out)
{
	static const char label[] = "hsmkey master key check v1";
	unsigned int len = 32;

	HMAC(EVP_sha256(), master, KS_MASTER_LEN, (const uint8_t *)label,
	     sizeof(label) - 1, out, &len);
}

static const char *jstr(struct json_object *o, const char *k);
static int64_t jint(struct json_object *o, const char *k);

static int ks_read_pass(const char *path, char *pass, size_t size, size_t *passlen)
{
	struct stat st;
	int fd, len;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return log_errno(errno, "cannot open the passphrase file %s: %m", path);
	if (fstat(fd, &st) < 0 || (st.st_mode & 077)) {
		close(fd);
		return log_errno(EPERM, "the passphrase file %s must not be readable by others (mode 0600 or 0400)",
				 path);
	}
	len = read_full(fd, pass, size);
	close(fd);
	while (len > 0 && (pass[len - 1] == '\n' || pass[len - 1] == '\r'))
		len--;
	if (len <= 0 || len >= (int)size) {
		wipe(pass, size);
		return log_errno(EINVAL, "the passphrase in %s must be 1 to 1024 bytes", path);
	}
	*passlen = (size_t)len;
	return 0;
}

/*
 * The master key from the passphrase and kdf file @kdf: made (new salt)
 * when @create or when a new keystore has none, else checked.
 */
static int ks_master_passphrase(struct keystore *ks, const char *kdf, bool create,
				uint8_t *out)
{
	char pass[1025], text[512], hex[2 * KS_SALT_LEN + 1], chk[65];
	uint8_t salt[KS_SALT_LEN], check[32], want[32];
	long long n = KS_KDF_N, r = KS_KDF_R, p = KS_KDF_P;
	struct json_object *o;
	size_t passlen = 0;
	int fd, len, err;

	err = ks_read_pass(ks->passfile, pass, sizeof(pass), &passlen);
	if (err)
		return err;
	fd = create ? -1 : openat(ks->dirfd, kdf, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (create || (fd < 0 && errno == ENOENT)) {
		/* A new salt, the cost of the day. */
		if (RAND_bytes(salt, sizeof(salt)) != 1 ||
		    ks_kdf(pass, passlen, salt, n, (uint32_t)r, (uint32_t)p, out)) {
			wipe(pass, sizeof(pass));
			return log_errno(EIO, "cannot derive the master key");
		}
		wipe(pass, sizeof(pass));
		ks_kdf_check(out, check);
		hex_encode(salt, sizeof(salt), hex);
		hex_encode(check, sizeof(check), chk);
		len = snprintf(text, sizeof(text),
			       "{ \"kdf\": \"scrypt\", \"n\": %lld, \"r\": %lld, \"p\": %lld, \"salt\": \"%s\", \"check\": \"%s\" }\n",
			       n, r, p, hex, chk);
		err = write_file_atomic(ks->dirfd, kdf, text, (size_t)len, 0600);
		if (err)
			return log_errno(err, "cannot write %s: %s", kdf, strerror(-err));
		log_info("derived a new master key from the passphrase (scrypt, salt in %s)", kdf);
		return 0;
	}
	if (fd < 0) {
		wipe(pass, sizeof(pass));
		return log_errno(errno, "cannot open %s: %m", kdf);
	}
	len = read_full(fd, text, sizeof(text) - 1);
	close(fd);
	text[len > 0 ? len : 0] = '\0';
	o = json_tokener_parse(text);
	n = o ? json_object_get_int64(json_object_object_get(o, "n")) : 0;
	r = o ? json_object_get_int64(json_object_object_get(o, "r")) : 0;
	p = o ? json_object_get_int64(json_object_object_get(o, "p")) : 0;
	err = !o || n < 1024 || n > (1ll << 22) || (n & (n - 1)) || r < 1 || r > 32 ||
	      p < 1 || p > 16 || hex_decode(jstr(o, "salt"), salt, sizeof(salt)) ||
	      hex_decode(jstr(o, "check"), want, sizeof(want)) ||
	      strcmp(jstr(o, "kdf") ?: "", "scrypt");
	json_object_put(o);
	if (err) {
		wipe(pass, sizeof(pass));
		return log_errno(EINVAL, "%s is damaged", kdf);
	}
	err = ks_kdf(pass, passlen, salt, (uint64_t)n, (uint32_t)r, (uint32_t)p, out);
	wipe(pass, sizeof(pass));
	if (err)
		return log_errno(EIO, "cannot derive the master key");
	ks_kdf_check(out, check);
	if (CRYPTO_memcmp(check, want, sizeof(want))) {
		wipe(out, KS_MASTER_LEN);
		return log_errno(EACCES, "wrong passphrase for %s", kdf);
	}
	return 0;
}

/* Master key file @name into @out; @create makes one if there is none. */
static int ks_master_file(struct keystore *ks, const char *name, bool create, uint8_t *out)
{
	struct stat st;
	int fd, r;

	fd = openat(ks->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT && create) {
		if (RAND_priv_bytes(out, KS_MASTER_LEN) != 1)
			return log_errno(EIO, "cannot generate a master key");
		r = write_file_atomic(ks->dirfd, name, out, KS_MASTER_LEN, 0600);
		if (r)
			return log_errno(r, "cannot write %s: %s", name, strerror(-r));
		log_info("generated a new master key in %s", name);
		return 0;
	}
	if (fd < 0)
		return log_errno(errno, "cannot open %s: %m", name);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) ||
	    st.st_uid != geteuid()) {
		close(fd);
		return log_errno(EPERM, "%s must be a regular file owned by the daemon's user with mode 0600",
				 name);
	}
	r = read_full(fd, out, KS_MASTER_LEN);
	close(fd);
	if (r != KS_MASTER_LEN)
		return log_errno(EINVAL, "%s is not %d bytes long", name, KS_MASTER_LEN);
	return 0;
}

static int ks_master_load(struct keystore *ks, const char *dir)
{
	const char *other = ks->passphrase ? KS_MASTER : KS_KDF;
	const char *nxt = ks->passphrase ? KS_KDF_NEW : KS_MASTER_NEW;
	int r;

	if (!faccessat(ks->dirfd, other, F_OK, 0))
		return log_errno(EEXIST, ks->passphrase ?
				 "%s uses a master key file, not a passphrase: set master_key = file" :
				 "%s derives its master key from a passphrase: set master_key = passphrase",
				 dir);
	r = ks->passphrase ? ks_master_passphrase(ks, KS_KDF, false, ks->master) :
	     ks_master_file(ks, KS_MASTER, true, ks->master);
	if (r)
		return r;
	ks_mkid(ks->master, ks->mkid);
	/* A replacement that did not finish: both keys, then finish it. */
	if (faccessat(ks->dirfd, nxt, F_OK, 0))
		return 0;
	r = ks->passphrase ? ks_master_passphrase(ks, nxt, false, ks->next) :
	     ks_master_file(ks, nxt, false, ks->next);
	if (r)
		return r;
	ks_mkid(ks->next, ks->next_mkid);
	ks->has_next = true;
	log_warn("%s/%s: a master key replacement was interrupted; finishing it", dir, nxt);
	return 0;
}

/*
 * STATE/instance: this keystore's identity, made once.  The kernel records
 * it as the owner of the keys this keystore provisions, so that a daemon on
 * another state directory never takes them for its own.
 */
static int ks_instance_load(struct keystore *ks, const char *dir)
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

/* The master key (and its id) that sealed @mkid's files, or NULL. */
static const uint8_t *ks_master_for(const struct keystore *ks, const uint8_t *mkid)
{
	if (!CRYPTO_memcmp(mkid, ks->mkid, KS_MKID_LEN))
		return ks->master;
	if (ks->has_next && !CRYPTO_memcmp(mkid, ks->next_mkid, KS_MKID_LEN))
		return ks->next;
	return NULL;
}

/* What new seals use: the next master key while a rotation is under way. */
static const uint8_t *ks_seal_master(const struct keystore *ks, const uint8_t **mkid)
{
	*mkid = ks->has_next ? ks->next_mkid : ks->mkid;
	return ks->has_next ? ks->next : ks->master;
}

/* AES-256-GCM under @master with @aad. */
static int ks_gcm(const uint8_t *master, bool seal, const uint8_t *aad, int aadlen,
		  const uint8_t *nonce, uint8_t *tag, const uint8_t *in, uint8_t *out, int len)
{
	EVP_CIPHER_CTX *ctx;
	int n, ok;

	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, master, nonce, seal) == 1 &&
	     EVP_CipherUpdate(ctx, NULL, &n, aad, aadlen) == 1 &&
	     EVP_CipherUpdate(ctx, out, &n, in, len) == 1 &&
	     (seal || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, KS_TAG_LEN, tag) == 1) &&
	     EVP_CipherFinal_ex(ctx, out + n, &n) == 1 &&
	     (!seal || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, KS_TAG_LEN, tag) == 1);
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -EBADMSG;
}

/*
 * STATE/root.json: what must survive master key replacements, sealed as
 * one whole under the master key (sealed again when it changes): the
 * random secret that ks_derive() derives from, and the daemon's own small
 * records (record_load/record_store: the audit anchor).  Format 1 held
 * the secret alone; it is read and written back as format 2.
 */
#define KS_ROOT_MAX	16384
#define KS_RECORD_MAX	1024
static const uint8_t ks_root_aad1[] = "hsmkey root v1";
static const uint8_t ks_root_aad[] = "hsmkey root v2";

/* The plaintext of the root record: JSON holding the secret; wipe it, then free. */
static char *ks_root_plain(const struct keystore *ks, size_t *len)
{
	const char *records = json_object_to_json_string_ext(ks->records, JSON_C_TO_STRING_PLAIN);
	size_t size = strlen(records) + 2 * KS_MASTER_LEN + 64;
	char hex[2 * KS_MASTER_LEN + 1], *text = malloc(size);

	if (!text)
		return NULL;
	hex_encode(ks->root, KS_MASTER_LEN, hex);
	*len = (size_t)snprintf(text, size, "{\"root\":\"%s\",\"records\":%s}", hex, records);
	wipe(hex, sizeof(hex));
	return text;
}

static int ks_root_store(struct keystore *ks)
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
		     "{ \"format\": 2, \"master\": \"%s\", \"nonce\": \"%s\", \"tag\": \"%s\", \"sealed\": \"%s\" }\n",
		     h1, h2, h3, hex);
	r = write_file_atomic(ks->dirfd, KS_ROOT, text, (size_t)n, 0600);
out:
	if (plain)
		wipe(plain, len);
	free(plain);
	free(sealed);
	free(hex);
	free(text);
	return r;
}

/* The root record's plaintext @plain (@len bytes, format 2) into @ks. */
static int ks_root_parse(struct keystore *ks, const char *plain, size_t len)
{
	struct json_object *o = json_tokener_parse(plain), *rec;
	int r = -EBADMSG;

	if (strlen(plain) != len || !o || !json_object_is_type(o, json_type_object) ||
	    hex_decode(jstr(o, "root"), ks->root, KS_MASTER_LEN) ||
	    !json_object_object_get_ex(o, "records", &rec) ||
	    !json_object_is_type(rec, json_type_object))
		goto out;
	json_object_object_foreach(rec, k, v) {
		if (!valid_name(k) || !json_object_is_type(v, json_type_string))
			goto out;
	}
	json_object_put(ks->records);
	ks->records = json_object_get(rec);
	r = 0;
out:
	json_object_put(o);
	return r;
}

static int ks_root_load(struct keystore *ks, const char *dir)
{
	uint8_t nonce[KS_NONCE_LEN], tag[KS_TAG_LEN], mkid[KS_MKID_LEN], *sealed = NULL;
	size_t slen = 0;
	const uint8_t *master;
	struct json_object *o;
	const char *hex;
	char *text;
	int fd, n, r, format;

	fd = openat(ks->dirfd, KS_ROOT, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		if (RAND_priv_bytes(ks->root, sizeof(ks->root)) != 1)
			return -EIO;
		return ks_root_store(ks);
	}
	if (fd < 0)
		return log_errno(errno, "cannot open %s/%s: %m", dir, KS_ROOT);
	text = malloc(2 * KS_ROOT_MAX + 512);
	if (!text) {
		close(fd);
		return -ENOMEM;
	}
	n = read_full(fd, text, 2 * KS_ROOT_MAX + 511);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	o = json_tokener_parse(text);
	free(text);
	format = o ? (int)jint(o, "format") : -1;
	hex = o ? jstr(o, "sealed") : NULL;
	slen = hex ? strlen(hex) / 2 : 0;
	sealed = slen ? malloc(slen + 1) : NULL;
	r = !o || (format != 1 && format != 2) || !sealed ||
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
	else if (!(r = ks_gcm(master, false, ks_root_aad, sizeof(ks_root_aad), nonce, tag,
			      sealed, sealed, (int)slen))) {
		sealed[slen] = '\0';
		r = ks_root_parse(ks, (const char *)sealed, slen);
	}
	if (sealed)
		wipe(sealed, slen);
	free(sealed);
	if (r)
		return log_errno(EBADMSG, "%s/%s is damaged or not sealed under this master key",
				 dir, KS_ROOT);
	return 0;
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

int ks_open(const char *dir, struct keystore **out)
{
	return ks_open_ex(dir, NULL, out);
}

static int ks_finish_master(struct keystore *ks);
static int ks_reseal_all(struct keystore *ks, const char *skip);

int ks_open_ex(const char *dir, const char *passfile, struct keystore **out)
{
	struct keystore *ks;
	int r;

	ks = mmap(NULL, sizeof(*ks), PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ks == MAP_FAILED)
		return -ENOMEM;
	if (mlock(ks, sizeof(*ks)) < 0)
		log_warn("cannot lock the master key in memory: %m");
	madvise(ks, sizeof(*ks), MADV_DONTDUMP);
	ks->dirfd = ks->keysfd = ks->lockfd = -1;
	ks->records = json_object_new_object();
	if (!ks->records) {
		munmap(ks, sizeof(*ks));
		return -ENOMEM;
	}
	{
		/* Recursive: list() callbacks may call the backend again. */
		pthread_mutexattr_t attr;

		pthread_mutexattr_init(&attr);
		pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
		pthread_mutex_init(&ks->lock, &attr);
		pthread_mutexattr_destroy(&attr);
	}
	if (passfile) {
		if (strlen(passfile) >= sizeof(ks->passfile)) {
			json_object_put(ks->records);
			munmap(ks, sizeof(*ks));
			return -ENAMETOOLONG;
		}
		strcpy(ks->passfile, passfile);
		ks->passphrase = true;
	}

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = log_errno(errno, "cannot create state directory %s: %m", dir);
		goto err;
	}
	ks->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ks->dirfd < 0) {
		r = log_errno(errno, "cannot open state directory %s: %m", dir);
		goto err;
	}
	ks->lockfd = openat(ks->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (ks->lockfd < 0 || flock(ks->lockfd, LOCK_EX | LOCK_NB) < 0) {
		r = log_errno(errno == EWOULDBLOCK ? EBUSY : errno,
			      "state directory %s is in use by another hsmkeyd", dir);
		goto err;
	}
	if (mkdirat(ks->dirfd, "keys", 0700) < 0 && errno != EEXIST) {
		r = log_errno(errno, "cannot create %s/keys: %m", dir);
		goto err;
	}
	ks->keysfd = openat(ks->dirfd, "keys", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ks->keysfd < 0) {
		r = log_errno(errno, "cannot open %s/keys: %m", dir);
		goto err;
	}
	r = ks_master_load(ks, dir);
	if (!r)
		r = ks_root_load(ks, dir);
	if (!r)
		r = ks_instance_load(ks, dir);
	if (r)
		goto err;
	if (ks->has_next && (ks_reseal_all(ks, NULL) || ks_finish_master(ks)))
		log_error("%s: the interrupted master key replacement cannot finish yet; keys sealed under either master key keep working",
			  dir);
	*out = ks;
	return 0;
err:
	ks_close(ks);
	return r;
}

void ks_close(struct keystore *ks)
{
	if (!ks)
		return;
	if (ks->keysfd >= 0)
		close(ks->keysfd);
	if (ks->lockfd >= 0)
		close(ks->lockfd);
	if (ks->dirfd >= 0)
		close(ks->dirfd);
	wipe(ks->master, sizeof(ks->master));
	wipe(ks->next, sizeof(ks->next));
	wipe(ks->root, sizeof(ks->root));
	json_object_put(ks->records);
	munmap(ks, sizeof(*ks));
}

/* The policy as text in a fixed form: what the seal authenticates. */
static int ks_policy_text(const struct ks_policy *p, char *out, size_t size)
{
	size_t n;
	uint32_t i;

	n = (size_t)snprintf(out, size, "policy algs=%u bindings=%u nb=%lld na=%lld bytes=%llu reqs=%llu noload=%d uids=",
			     p->algs, p->max_bindings, (long long)p->not_before,
			     (long long)p->not_after, (unsigned long long)p->max_bytes,
			     (unsigned long long)p->max_requests, p->no_load_at_start);
	for (i = 0; i < p->nuids && n < size; i++)
		n += (size_t)snprintf(out + n, size - n, "%u,", p->uids[i]);
	if (n < size)
		n += (size_t)snprintf(out + n, size - n, " gids=");
	for (i = 0; i < p->ngids && n < size; i++)
		n += (size_t)snprintf(out + n, size - n, "%u,", p->gids[i]);
	return n < size ? (int)n : -1;
}

/*
 * What the seal binds the ciphertext to: a file cannot be renamed or
 * edited, its policy included.
 */
static size_t ks_aad(const struct ks_key *key, uint8_t *aad)
{
	static const char label[] = "hsmkey keystore v1";
	size_t n = 0, len = strlen(key->name);
	uint32_t be = htonl(key->version);

	memcpy(aad + n, label, sizeof(label));
	n += sizeof(label);
	memcpy(aad + n, key->name, len + 1);
	n += len + 1;
	memcpy(aad + n, &be, 4);
	n += 4;
	aad[n++] = (uint8_t)key->type;
	memcpy(aad + n, key->id, HSMKEY_ID_LEN);
	n += HSMKEY_ID_LEN;
	if (key->has_policy) {
		int len = ks_policy_text(&key->policy, (char *)aad + n, KS_AAD_MAX - n);

		n += len > 0 ? (size_t)len : 0;
	}
	return n;
}

/* AES-256-GCM over verifier || material, @key's metadata as AAD. */
static int ks_crypt(const uint8_t *master, const struct ks_key *key, bool seal,
		    const uint8_t *nonce, uint8_t *tag, const uint8_t *in,
		    uint8_t *out, int len)
{
	uint8_t aad[KS_AAD_MAX];

	return ks_gcm(master, seal, aad, (int)ks_aad(key, aad), nonce, tag, in, out, len);
}

/*
 * A key file in memory: the metadata, which master key sealed it, and
 * each version still sealed.
 */
struct ks_ver {
	uint32_t version;
	int64_t created;
	uint64_t used_bytes, used_requests;	/* spent by the kernel */
	uint8_t nonce[KS_NONCE_LEN];
	uint8_t tag[KS_TAG_LEN];
	uint8_t sealed[KS_SEALED_MAX];
};

struct ks_record {
	struct ks_key meta;		/* no secrets; version == current */
	uint8_t mkid[KS_MKID_LEN];
	uint32_t nver;
	struct ks_ver v[KS_VERSIONS_MAX];
};

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int64_t jint(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
		return -1;
	return json_object_get_int64(v);
}

/* Version @idx of @rec, its secrets unsealed into @key. */
static int ks_unseal(const struct keystore *ks, const struct ks_record *rec, uint32_t idx,
		     struct ks_key *key)
{
	const struct ks_ver *v = &rec->v[idx];
	int len = HSMKEY_VERIFIER_LEN + (int)key_type_len(rec->meta.type);
	uint8_t plain[KS_SEALED_MAX];
	const uint8_t *master = ks_master_for(ks, rec->mkid);
	int r;

	*key = rec->meta;
	key->version = v->version;
	key->version_created = v->created;
	key->used_bytes = v->used_bytes;
	key->used_requests = v->used_requests;
	if (!master)
		return -EBADMSG;	/* sealed under a master key we do not have */
	r = ks_crypt(master, key, false, v->nonce, (uint8_t *)v->tag, v->sealed, plain, len);
	if (!r) {
		memcpy(key->verifier, plain, HSMKEY_VERIFIER_LEN);
		memcpy(key->material, plain + HSMKEY_VERIFIER_LEN,
		       (size_t)len - HSMKEY_VERIFIER_LEN);
	}
	wipe(plain, sizeof(plain));
	return r;
}

/* One version's entry: @key's secrets sealed with @key's metadata as AAD. */
static int ks_seal_version(const struct keystore *ks, const struct ks_key *key,
			   struct json_object *versions)
{
	uint8_t plain[KS_SEALED_MAX], sealed[KS_SEALED_MAX];
	uint8_t nonce[KS_NONCE_LEN], tag[KS_TAG_LEN];
	int len = HSMKEY_VERIFIER_LEN + (int)key_type_len(key->type), r;
	char hex[2 * KS_SEALED_MAX + 1];
	const uint8_t *mkid, *master = ks_seal_master(ks, &mkid);
	struct json_object *o;

	memcpy(plain, key->verifier, HSMKEY_VERIFIER_LEN);
	memcpy(plain + HSMKEY_VERIFIER_LEN, key->material, key_type_len(key->type));
	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		r = -EIO;
	else
		r = ks_crypt(master, key, true, nonce, tag, plain, sealed, len);
	wipe(plain, sizeof(plain));
	if (r)
		return r;
	o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_int64(key->version));
	json_object_object_add(o, "created", json_object_new_int64(key->version_created));
	json_object_object_add(o, "used_bytes", json_object_new_int64((int64_t)key->used_bytes));
	json_object_object_add(o, "used_requests",
			       json_object_new_int64((int64_t)key->used_requests));
	hex_encode(nonce, sizeof(nonce), hex);
	json_object_object_add(o, "nonce", json_object_new_string(hex));
	hex_encode(tag, sizeof(tag), hex);
	json_object_object_add(o, "tag", json_object_new_string(hex));
	hex_encode(sealed, (size_t)len, hex);
	json_object_object_add(o, "sealed", json_object_new_string(hex));
	json_object_array_add(versions, o);
	return 0;
}

/*
 * Write key file @meta->name: every version of @old (NULL for a new key)
 * unsealed and sealed again with @meta's metadata under the sealing master
 * key, then @add (a new version with its secrets) if given.  One atomic
 * file replacement: a crash leaves the old file or the new one.
 */
static int ks_store(struct keystore *ks, const struct ks_record *old,
		    const struct ks_key *meta, const struct ks_key *add)
{
	char hex[2 * HSMKEY_ID_LEN + 1], file[HSMKEY_NAME_MAX + 8];
	struct json_object *o, *versions = json_object_new_array();
	const uint8_t *mkid;
	struct ks_key key;
	const char *text;
	int r = 0;

	for (uint32_t i = 0; old && !r && i < old->nver; i++) {
		r = ks_unseal(ks, old, i, &key);
		if (!r) {
			uint32_t version = key.version;
			int64_t created = key.version_created;

			memcpy(key.name, meta->name, sizeof(key.name));
			key.has_policy = meta->has_policy;
			key.policy = meta->policy;
			key.version = version;
			key.version_created = created;
			r = ks_seal_version(ks, &key, versions);
		}
		ks_key_wipe(&key);
	}
	if (!r && add) {
		key = *add;
		key.used_bytes = key.used_requests = 0;
		key.has_policy = meta->has_policy;
		key.policy = meta->policy;
		r = ks_seal_version(ks, &key, versions);
		ks_key_wipe(&key);
	}
	if (r) {
		json_object_put(versions);
		return r;
	}
	ks_seal_master(ks, &mkid);
	o = json_object_new_object();
	json_object_object_add(o, "format", json_object_new_int(KS_FORMAT));
	json_object_object_add(o, "name", json_object_new_string(meta->name));
	json_object_object_add(o, "type", json_object_new_string(key_type_name(meta->type)));
	hex_encode(meta->id, HSMKEY_ID_LEN, hex);
	json_object_object_add(o, "id", json_object_new_string(hex));
	json_object_object_add(o, "state", json_object_new_string(ks_state_name(meta->state)));
	json_object_object_add(o, "created", json_object_new_int64(meta->created));
	if (meta->state == KS_PENDING_DELETION) {
		json_object_object_add(o, "delete_at", json_object_new_int64(meta->delete_at));
		json_object_object_add(o, "prior_state",
				       json_object_new_string(ks_state_name(meta->prior_state)));
	}
	if (meta->has_policy)
		json_object_object_add(o, "policy", ks_policy_to_json(&meta->policy));
	hex_encode(mkid, KS_MKID_LEN, hex);
	json_object_object_add(o, "master", json_object_new_string(hex));
	json_object_object_add(o, "versions", versions);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
	snprintf(file, sizeof(file), "%s.json", meta->name);
	r = strlen(text) > KS_FILE_MAX ? -EFBIG :
	    write_file_atomic(ks->keysfd, file, text, strlen(text), 0600);
	json_object_put(o);
	return r;
}

/* A version's spent usage: absent in files from before it was kept. */
static int ks_parse_usage(struct json_object *e, struct ks_ver *v)
{
	struct json_object *b, *q;
	bool hb = json_object_object_get_ex(e, "used_bytes", &b);
	bool hq = json_object_object_get_ex(e, "used_requests", &q);

	if (hb != hq)
		return -EINVAL;
	if (!hb)
		return 0;
	if (!json_object_is_type(b, json_type_int) || !json_object_is_type(q, json_type_int) ||
	    json_object_get_int64(b) < 0 || json_object_get_int64(q) < 0)
		return -EINVAL;
	v->used_bytes = (uint64_t)json_object_get_int64(b);
	v->used_requests = (uint64_t)json_object_get_int64(q);
	return 0;
}

/*
 * The contents of key file @file (@n bytes at @data) into @rec, secrets
 * still sealed: -EINVAL unless it is a well-formed key file of that name,
 * -EFBIG if too large.
 */
static int ks_parse_record(const char *file, const char *data, size_t n,
			   struct ks_record *rec)
{
	struct json_object *o = NULL, *pol, *va;
	struct json_tokener *tok;
	const char *name;
	char *buf;
	size_t nv;
	int r = -EINVAL, len;

	if (n > KS_FILE_MAX)
		return -EFBIG;
	if (memchr(data, '\0', n))
		return -EINVAL;
	buf = malloc(n + 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, data, n);
	buf[n] = '\0';
	tok = json_tokener_new_ex(8);
	if (tok) {
		o = json_tokener_parse_ex(tok, buf, (int)n);
		if (o && json_tokener_get_error(tok) != json_tokener_success) {
			json_object_put(o);
			o = NULL;
		}
		json_tokener_free(tok);
	}
	free(buf);
	if (!o || !json_object_is_type(o, json_type_object))
		goto out;

	memset(rec, 0, sizeof(*rec));
	name = jstr(o, "name");
	rec->meta.type = key_type_from_name(jstr(o, "type"));
	rec->meta.state = ks_state_from_name(jstr(o, "state"));
	rec->meta.created = jint(o, "created");
	if (jint(o, "format") != KS_FORMAT || !valid_name(name) ||
	    rec->meta.type < 0 || rec->meta.state < 0 ||
	    hex_decode(jstr(o, "id"), rec->meta.id, HSMKEY_ID_LEN) ||
	    hex_decode(jstr(o, "master"), rec->mkid, KS_MKID_LEN) ||
	    !json_object_object_get_ex(o, "versions", &va) ||
	    !json_object_is_type(va, json_type_array))
		goto out;
	if (rec->meta.state == KS_PENDING_DELETION) {
		struct json_object *ps;

		rec->meta.delete_at = jint(o, "delete_at");
		if (rec->meta.delete_at < 0)
			goto out;
		/* Files from before prior_state was kept: disabled on cancel. */
		rec->meta.prior_state = KS_DISABLED;
		if (json_object_object_get_ex(o, "prior_state", &ps)) {
			rec->meta.prior_state = ks_state_from_name(jstr(o, "prior_state"));
			if (rec->meta.prior_state < 0 ||
			    rec->meta.prior_state == KS_PENDING_DELETION)
				goto out;
		}
	}
	if (json_object_object_get_ex(o, "policy", &pol)) {
		if (ks_policy_from_json(pol, &rec->meta.policy))
			goto out;
		rec->meta.has_policy = true;
	}
	nv = json_object_array_length(va);
	if (nv < 1 || nv > KS_VERSIONS_MAX)
		goto out;
	len = HSMKEY_VERIFIER_LEN + (int)key_type_len(rec->meta.type);
	for (size_t i = 0; i < nv; i++) {
		struct json_object *e = json_object_array_get_idx(va, i);
		struct ks_ver *v = &rec->v[i];
		int64_t version = e ? jint(e, "version") : -1;

		/* Versions ascend: no two entries answer for one version. */
		if (!json_object_is_type(e, json_type_object) || version < 1 ||
		    version > UINT32_MAX || (i && version <= rec->v[i - 1].version) ||
		    hex_decode(jstr(e, "nonce"), v->nonce, sizeof(v->nonce)) ||
		    hex_decode(jstr(e, "tag"), v->tag, sizeof(v->tag)) ||
		    hex_decode(jstr(e, "sealed"), v->sealed, (size_t)len))
			goto out;
		v->version = (uint32_t)version;
		v->created = jint(e, "created");
		if (ks_parse_usage(e, v))
			goto out;
	}
	rec->nver = (uint32_t)nv;
	strcpy(rec->meta.name, name);
	rec->meta.current = rec->v[nv - 1].version;
	rec->meta.version = rec->meta.current;
	rec->meta.version_created = rec->v[nv - 1].created;
	rec->meta.used_bytes = rec->v[nv - 1].used_bytes;
	rec->meta.used_requests = rec->v[nv - 1].used_requests;
	/* The file name must be the key's name: no key answers for another. */
	if (strlen(file) != strlen(name) + 5 || strncmp(file, name, strlen(name)) ||
	    strcmp(file + strlen(name), ".json"))
		goto out;
	r = 0;
out:
	json_object_put(o);
	return r;
}

static struct ks_record *ks_record_new(void)
{
	struct ks_record *rec = calloc(1, sizeof(*rec));

	return rec;
}

/* Read and parse key file @file; errors as ks_parse_record(), or -errno. */
static int ks_load(struct keystore *ks, const char *file, struct ks_record *rec)
{
	char *buf;
	int fd, n;

	fd = openat(ks->keysfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	buf = malloc(KS_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	n = read_full(fd, buf, KS_FILE_MAX + 1);
	close(fd);
	n = n < 0 ? n : ks_parse_record(file, buf, (size_t)n, rec);
	free(buf);
	return n;
}

static uint32_t ks_find_version(const struct ks_record *rec, uint32_t version)
{
	if (!version)
		return rec->nver - 1;
	for (uint32_t i = 0; i < rec->nver; i++)
		if (rec->v[i].version == version)
			return i;
	return UINT32_MAX;
}

/* Parse key file @file and unseal its current version (the fuzzed path). */
int ks_parse(struct keystore *ks, const char *file, const char *data, size_t n,
	     bool unseal, struct ks_key *key)
{
	struct ks_record *rec = ks_record_new();
	int r;

	if (!rec)
		return -ENOMEM;
	r = ks_parse_record(file, data, n, rec);
	if (!r && unseal)
		r = ks_unseal(ks, rec, rec->nver - 1, key);
	else if (!r)
		*key = rec->meta;
	free(rec);
	return r;
}

static void ks_report(const char *file, int r)
{
	if (r == -EINVAL || r == -EBADMSG || r == -EFBIG)
		log_error("key file keys/%s is corrupted or has been tampered with (%s); set aside: the key is unusable until the file is restored, other keys keep working",
			  file, strerror(-r));
}

/* @name's record, loaded (and with @check, every version authenticated). */
static int ks_load_name(struct keystore *ks, const char *name, struct ks_record *rec, bool check)
{
	char file[HSMKEY_NAME_MAX + 8];
	struct ks_key key;
	int r;

	if (!valid_name(name))
		return -EINVAL;
	snprintf(file, sizeof(file), "%s.json", name);
	r = ks_load(ks, file, rec);
	for (uint32_t i = 0; !r && check && i < rec->nver; i++) {
		r = ks_unseal(ks, rec, i, &key);
		ks_key_wipe(&key);
	}
	ks_report(file, r);
	return r;
}

int ks_get_version(struct keystore *ks, const char *name, uint32_t version,
		   bool unseal, struct ks_key *out)
{
	struct ks_record *rec = ks_record_new();
	uint32_t idx;
	int r;

	if (!rec)
		return -ENOMEM;
	r = ks_load_name(ks, name, rec, false);
	if (!r) {
		idx = ks_find_version(rec, version);
		if (idx == UINT32_MAX) {
			r = -ENOENT;
		} else if (unseal) {
			r = ks_unseal(ks, rec, idx, out);
			if (r) {
				char file[HSMKEY_NAME_MAX + 8];

				ks_key_wipe(out);
				snprintf(file, sizeof(file), "%s.json", name);
				ks_report(file, r);
			}
		} else {
			*out = rec->meta;
			out->version = rec->v[idx].version;
			out->version_created = rec->v[idx].created;
			out->used_bytes = rec->v[idx].used_bytes;
			out->used_requests = rec->v[idx].used_requests;
		}
	}
	free(rec);
	return r;
}

int ks_get(struct keystore *ks, const char *name, bool unseal, struct ks_key *out)
{
	return ks_get_version(ks, name, 0, unseal, out);
}

int ks_create(struct keystore *ks, const char *name, int type,
	      const uint8_t *material, struct ks_key *out)
{
	struct ks_key key, old;
	int r;

	if (!valid_name(name) || !key_type_len(type))
		return -EINVAL;
	r = ks_get(ks, name, false, &old);
	if (r != -ENOENT)
		return r ? r : -EEXIST;

	memset(&key, 0, sizeof(key));
	strcpy(key.name, name);
	key.type = type;
	key.version = key.current = 1;
	key.state = KS_ACTIVE;
	key.created = key.version_created = (int64_t)time(NULL);
	if (RAND_bytes(key.id, sizeof(key.id)) != 1 ||
	    RAND_priv_bytes(key.verifier, sizeof(key.verifier)) != 1)
		return -EIO;
	if (material)
		memcpy(key.material, material, key_type_len(type));
	else if (RAND_priv_bytes(key.material, (int)key_type_len(type)) != 1)
		return -EIO;
	r = ks_store(ks, NULL, &key, &key);
	if (!r && out)
		*out = key;
	ks_key_wipe(&key);
	return r;
}

/*
 * Change @name's record with @fn (an error from it, or a positive return
 * meaning "nothing to change", leaves the file alone), re-sealing every
 * version.  @out: the key afterwards, without secrets.
 */
static int ks_update(struct keystore *ks, const char *name,
		     int (*fn)(struct ks_record *rec, struct ks_key *meta, const void *arg),
		     const void *arg, struct ks_key *out)
{
	struct ks_record *rec = ks_record_new();
	struct ks_key meta;
	int r;

	if (!rec)
		return -ENOMEM;
	r = ks_load_name(ks, name, rec, false);
	if (!r) {
		meta = rec->meta;
		r = fn(rec, &meta, arg);
		if (!r)
			r = ks_store(ks, rec, &meta, NULL);
		if (r > 0)
			r = 0;
		if (!r && out)
			*out = meta;
	}
	free(rec);
	return r;
}

struct ks_state_arg {
	int state;
	int64_t delete_at;
};

/*
 * The state rules (backend.h): revoked is terminal, also behind a pending
 * deletion; scheduling remembers the state before it.
 */
static int ks_put_state(struct ks_record *rec, struct ks_key *meta, const void *arg)
{
	const struct ks_state_arg *a = arg;
	bool revoked = meta->state == KS_REVOKED ||
		       (meta->state == KS_PENDING_DELETION && meta->prior_state == KS_REVOKED);

	(void)rec;
	if (revoked && a->state != KS_PENDING_DELETION)
		return -EPERM;
	if (a->state == KS_PENDING_DELETION) {
		if (meta->state != KS_PENDING_DELETION)
			meta->prior_state = meta->state;
		meta->delete_at = a->delete_at;
	} else {
		meta->prior_state = 0;
		meta->delete_at = 0;
	}
	meta->state = a->state;
	return 0;
}

int ks_set_state_at(struct keystore *ks, const char *name, int state, int64_t delete_at)
{
	struct ks_state_arg a = { state, delete_at };

	if (state < KS_ACTIVE || state > KS_PENDING_DELETION ||
	    (state == KS_PENDING_DELETION && delete_at < 0))
		return -EINVAL;
	return ks_update(ks, name, ks_put_state, &a, NULL);
}

int ks_set_state(struct keystore *ks, const char *name, int state)
{
	return ks_set_state_at(ks, name, state, 0);
}

static int ks_put_cancel(struct ks_record *rec, struct ks_key *meta, const void *arg)
{
	(void)rec;
	(void)arg;
	if (meta->state != KS_PENDING_DELETION)
		return -EINVAL;
	meta->state = meta->prior_state ? meta->prior_state : KS_DISABLED;
	meta->prior_state = 0;
	meta->delete_at = 0;
	return 0;
}

int ks_cancel_deletion(struct keystore *ks, const char *name, struct ks_key *out)
{
	return ks_update(ks, name, ks_put_cancel, NULL, out);
}

static int ks_put_policy(struct ks_record *rec, struct ks_key *meta, const void *arg)
{
	(void)rec;
	meta->policy = *(const struct ks_policy *)arg;
	meta->has_policy = true;
	return 0;
}

int ks_set_policy(struct keystore *ks, const char *name, const struct ks_policy *p)
{
	return ks_update(ks, name, ks_put_policy, p, NULL);
}

struct ks_usage_arg {
	uint32_t version;
	uint64_t bytes, requests;
};

/* Spent usage only grows: a smaller figure (a stale report) changes nothing. */
static int ks_put_usage(struct ks_record *rec, struct ks_key *meta, const void *arg)
{
	const struct ks_usage_arg *a = arg;
	uint32_t idx = ks_find_version(rec, a->version);
	struct ks_ver *v;

	(void)meta;
	if (idx == UINT32_MAX)
		return -ENOENT;
	v = &rec->v[idx];
	if (a->bytes <= v->used_bytes && a->requests <= v->used_requests)
		return 1;
	v->used_bytes = a->bytes > v->used_bytes ? a->bytes : v->used_bytes;
	v->used_requests = a->requests > v->used_requests ? a->requests : v->used_requests;
	return 0;
}

int ks_set_usage(struct keystore *ks, const char *name, uint32_t version,
		 uint64_t used_bytes, uint64_t used_requests)
{
	struct ks_usage_arg a = { version, used_bytes, used_requests };

	if (!version)
		return -EINVAL;
	return ks_update(ks, name, ks_put_usage, &a, NULL);
}

int ks_rotate(struct keystore *ks, const char *name, const uint8_t *material,
	      struct ks_key *out)
{
	struct ks_record *rec = ks_record_new();
	struct ks_key key;
	int r;

	if (!rec)
		return -ENOMEM;
	r = ks_load_name(ks, name, rec, false);
	if (!r && rec->nver >= KS_VERSIONS_MAX)
		r = -E2BIG;
	if (!r && rec->meta.current == UINT32_MAX)
		r = -EOVERFLOW;
	if (r) {
		free(rec);
		return r;
	}
	key = rec->meta;
	key.version = key.current = rec->meta.current + 1;
	key.version_created = (int64_t)time(NULL);
	key.used_bytes = key.used_requests = 0;
	if (RAND_priv_bytes(key.verifier, sizeof(key.verifier)) != 1)
		r = -EIO;
	else if (material)
		memcpy(key.material, material, key_type_len(key.type));
	else if (RAND_priv_bytes(key.material, (int)key_type_len(key.type)) != 1)
		r = -EIO;
	if (!r)
		r = ks_store(ks, rec, &rec->meta, &key);
	if (!r && out)
		*out = key;
	ks_key_wipe(&key);
	free(rec);
	return r;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The key file names in keys/, sorted; free each and the array. */
static int ks_files(struct keystore *ks, char ***out, size_t *count)
{
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	*out = NULL;
	*count = 0;
	fd = dup(ks->keysfd);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char **tmp;

		if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json"))
			continue;
		tmp = realloc(names, (n + 1) * sizeof(*names));
		if (!tmp) {
			r = -ENOMEM;
			break;
		}
		names = tmp;
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (r) {
		while (n)
			free(names[--n]);
		free(names);
		return r;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	*out = names;
	*count = n;
	return 0;
}

static void ks_files_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int ks_list(struct keystore *ks, const char *after,
	    int (*fn)(const struct ks_key *key, void *arg), void *arg)
{
	struct ks_record *rec = ks_record_new();
	struct ks_key key;
	char **names;
	size_t n;
	int r;

	if (!rec)
		return -ENOMEM;
	r = ks_files(ks, &names, &n);	/* on error: none */
	for (size_t i = 0; !r && i < n; i++) {
		/* Unsealing authenticates the metadata too. */
		int e;

		if (after && strcmp(names[i], after) <= 0)
			continue;
		e = ks_load(ks, names[i], rec);

		if (!e)
			e = ks_unseal(ks, rec, rec->nver - 1, &key);
		ks_key_wipe(&key);
		ks_report(names[i], e);
		if (!e)
			r = fn(&key, arg);
	}
	ks_files_free(names, n);
	free(rec);
	return r;
}

/*
 * Master key replacement, crash-safe and resumable:
 *   1. the new master key is written beside the old (master.key.new, or
 *      master.kdf.new with a new salt in passphrase mode);
 *   2. the derivation root and every key file are sealed again under it
 *      (each file names the master key that sealed it, by id);
 *   3. the old master key file is overwritten and the new one renamed
 *      over it.
 * A crash before 3 leaves both master keys on disk; the next open reads
 * files sealed under either and finishes the job.  Before step 2 every
 * file must authenticate: one that does not (tampered, or restored from an
 * old backup) would be lost for good under a new master key, so the
 * replacement is refused until it is restored or removed.
 */
static int ks_new_master(struct keystore *ks)
{
	int r;

	if (ks->has_next)
		return 0;	/* resuming one */
	if (ks->passphrase)
		r = ks_master_passphrase(ks, KS_KDF_NEW, true, ks->next);
	else if (RAND_priv_bytes(ks->next, KS_MASTER_LEN) != 1)
		r = -EIO;
	else
		r = write_file_atomic(ks->dirfd, KS_MASTER_NEW, ks->next, KS_MASTER_LEN, 0600);
	if (r) {
		wipe(ks->next, sizeof(ks->next));
		return log_errno(r, "cannot write a new master key: %s", strerror(-r));
	}
	ks_mkid(ks->next, ks->next_mkid);
	ks->has_next = true;
	return 0;
}

/* Is @file the key file of key @name (NULL: of none)? */
static bool ks_is_file_of(const char *file, const char *name)
{
	size_t len = name ? strlen(name) : 0;

	return name && !strncmp(file, name, len) && !strcmp(file + len, ".json");
}

/* Check that every key file (but @skip) opens: nothing may be stranded. */
static int ks_check_all(struct keystore *ks, const char *skip)
{
	struct ks_record *rec = ks_record_new();
	char **names;
	size_t n;
	int r;

	if (!rec)
		return -ENOMEM;
	r = ks_files(ks, &names, &n);
	for (size_t i = 0; !r && i < n; i++) {
		struct ks_key key;

		if (ks_is_file_of(names[i], skip))
			continue;
		r = ks_load(ks, names[i], rec);
		for (uint32_t v = 0; !r && v < rec->nver; v++) {
			r = ks_unseal(ks, rec, v, &key);
			ks_key_wipe(&key);
		}
		if (r)
			log_error("keys/%s does not open (%s): restore or remove it before the master key can be replaced",
				  names[i], strerror(-r));
	}
	ks_files_free(names, n);
	free(rec);
	return r;
}

static int ks_reseal_all(struct keystore *ks, const char *skip)
{
	struct ks_record *rec = ks_record_new();
	char **names;
	size_t n;
	int r;

	if (!rec)
		return -ENOMEM;
	names = NULL;
	n = 0;
	r = ks_root_store(ks);
	if (!r)
		r = ks_files(ks, &names, &n);
	for (size_t i = 0; !r && i < n; i++) {
		if (ks_is_file_of(names[i], skip))
			continue;
		r = ks_load(ks, names[i], rec);
		if (!r && CRYPTO_memcmp(rec->mkid, ks->next_mkid, KS_MKID_LEN))
			r = ks_store(ks, rec, &rec->meta, NULL);
		if (r)
			log_error("cannot re-seal keys/%s: %s", names[i], strerror(-r));
	}
	ks_files_free(names, n);
	free(rec);
	return r;
}

static int ks_finish_master(struct keystore *ks)
{
	const char *cur = ks->passphrase ? KS_KDF : KS_MASTER;
	const char *nxt = ks->passphrase ? KS_KDF_NEW : KS_MASTER_NEW;
	uint8_t junk[KS_MASTER_LEN];
	int fd;

	/* Overwrite the old key in place first (best effort: see hsmkeyd(8)). */
	fd = openat(ks->dirfd, cur, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 && !ks->passphrase && RAND_bytes(junk, sizeof(junk)) == 1 &&
	    !write_full(fd, junk, sizeof(junk)))
		fdatasync(fd);
	if (fd >= 0)
		close(fd);
	crash_point("master-overwritten");
	if (renameat(ks->dirfd, nxt, ks->dirfd, cur) < 0 || fsync(ks->dirfd) < 0)
		return log_errno(errno, "cannot put the new master key in place: %m");
	memcpy(ks->master, ks->next, KS_MASTER_LEN);
	memcpy(ks->mkid, ks->next_mkid, KS_MKID_LEN);
	wipe(ks->next, sizeof(ks->next));
	ks->has_next = false;
	return 0;
}

static int ks_replace_master(struct keystore *ks, const char *skip)
{
	int r;

	r = ks_check_all(ks, skip);
	if (!r)
		r = ks_new_master(ks);
	if (!r)
		r = ks_reseal_all(ks, skip);
	if (!r && skip) {
		char file[HSMKEY_NAME_MAX + 8];

		snprintf(file, sizeof(file), "%s.json", skip);
		if (unlinkat(ks->keysfd, file, 0) < 0 && errno != ENOENT)
			r = -errno;
		else if (fsync(ks->keysfd) < 0)
			r = -errno;
		crash_point("key-removed");
	}
	if (!r)
		r = ks_finish_master(ks);
	return r;
}

int ks_rotate_master(struct keystore *ks)
{
	return ks_replace_master(ks, NULL);
}

/*
 * Destroy @name: its file is removed and every other key is re-sealed under
 * a new master key, so that neither the removed file nor a copy of it can
 * be opened with the master key that remains.
 */
int ks_destroy(struct keystore *ks, const char *name)
{
	struct ks_key key;
	int r;

	r = ks_get(ks, name, false, &key);
	if (r)
		return r;
	return ks_replace_master(ks, name);
}

/*
 * The embedded keystore as a backend.  The daemon calls backends from its
 * worker threads; the keystore takes one operation at a time (each is a
 * few file operations), so a master key replacement never meets a read.
 */
static struct keystore *be_ks(struct backend *b)
{
	return (struct keystore *)((char *)b - offsetof(struct keystore, be));
}

#ifdef HSMKEY_CRASH_POINTS
/*
 * Test builds only: $HSMKEY_TEST_SLOW seconds of delay in creating or
 * rotating a key whose name starts with "slow", as a remote HSM or key
 * server may take: the daemon must go on serving everything else.
 */
static void emb_test_slow(const char *name)
{
	const char *s = getenv("HSMKEY_TEST_SLOW");

	if (s && !strncmp(name, "slow", 4))
		sleep((unsigned int)atoi(s));
}
#else
static inline void emb_test_slow(const char *name)
{
	(void)name;
}
#endif

#define EMB_LOCKED(b, call) ({				\
	struct keystore *__ks = be_ks(b);		\
	int __r;					\
	pthread_mutex_lock(&__ks->lock);		\
	__r = (call);					\
	pthread_mutex_unlock(&__ks->lock);		\
	__r;						\
})

static int emb_create(struct backend *b, const char *name, int type,
		      const uint8_t *material, struct ks_key *out)
{
	emb_test_slow(name);
	return EMB_LOCKED(b, ks_create(be_ks(b), name, type, material, out));
}

static int emb_get(struct backend *b, const char *name, uint32_t version,
		   bool unseal, struct ks_key *out)
{
	return EMB_LOCKED(b, ks_get_version(be_ks(b), name, version, unseal, out));
}

static int emb_list(struct backend *b, const char *after,
		    int (*fn)(const struct ks_key *key, void *arg), void *arg)
{
	return EMB_LOCKED(b, ks_list(be_ks(b), after, fn, arg));
}

static int emb_set_state(struct backend *b, const char *name, int state, int64_t delete_at)
{
	return EMB_LOCKED(b, ks_set_state_at(be_ks(b), name, state, delete_at));
}

static int emb_cancel_deletion(struct backend *b, const char *name, struct ks_key *out)
{
	return EMB_LOCKED(b, ks_cancel_deletion(be_ks(b), name, out));
}

static int emb_set_usage(struct backend *b, const char *name, uint32_t version,
			 uint64_t used_bytes, uint64_t used_requests)
{
	return EMB_LOCKED(b, ks_set_usage(be_ks(b), name, version, used_bytes, used_requests));
}

static int emb_record_load(struct backend *b, const char *name, void *buf, size_t len)
{
	return EMB_LOCKED(b, ks_record_load(be_ks(b), name, buf, len));
}

static int emb_record_store(struct backend *b, const char *name, const void *buf, size_t len)
{
	return EMB_LOCKED(b, ks_record_store(be_ks(b), name, buf, len));
}

static int emb_set_policy(struct backend *b, const char *name, const struct ks_policy *p)
{
	return EMB_LOCKED(b, ks_set_policy(be_ks(b), name, p));
}

static int emb_rotate(struct backend *b, const char *name, const uint8_t *material,
		      struct ks_key *out)
{
	emb_test_slow(name);
	return EMB_LOCKED(b, ks_rotate(be_ks(b), name, material, out));
}

static int emb_destroy(struct backend *b, const char *name)
{
	return EMB_LOCKED(b, ks_destroy(be_ks(b), name));
}

static int emb_derive(struct backend *b, const char *label, uint8_t *out, size_t len)
{
	return EMB_LOCKED(b, ks_derive(be_ks(b), label, out, len));
}

static const uint8_t *emb_instance(struct backend *b)
{
	return ks_instance(be_ks(b));
}

static void emb_close(struct backend *b)
{
	ks_close(be_ks(b));
}

static const struct backend_ops embedded_ops = {
	.name = "embedded",
	.destruction = "the key file is removed and every other key is re-sealed under a new master key, so a copy of the file kept from before cannot be opened with the master key that remains (a backup of the old master key and the file together still can)",
	.create = emb_create,
	.get = emb_get,
	.list = emb_list,
	.set_state = emb_set_state,
	.cancel_deletion = emb_cancel_deletion,
	.set_policy = emb_set_policy,
	.set_usage = emb_set_usage,
	.rotate = emb_rotate,
	.destroy = emb_destroy,
	.derive = emb_derive,
	.record_load = emb_record_load,
	.record_store = emb_record_store,
	.instance = emb_instance,
	.close = emb_close,
};

int embedded_open(const char *dir, const char *passfile, struct backend **out)
{
	struct keystore *ks;
	int r = ks_open_ex(dir, passfile, &ks);

	if (r)
		return r;
	ks->be.ops = &embedded_ops;
	*out = &ks->be;
	return 0;
}
