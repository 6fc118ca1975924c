// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include "keystore.h"
#include "util.h"

#define KS_MASTER_LEN	32
#define KS_NONCE_LEN	12
#define KS_TAG_LEN	16
#define KS_FILE_MAX	4096
#define KS_SEALED_MAX	(HSMKEY_VERIFIER_LEN + HSMKEY_MATERIAL_MAX)
#define KS_AAD_MAX	768

struct keystore {
	uint8_t master[KS_MASTER_LEN];	/* first: the page is locked */
	int dirfd;
	int keysfd;
	int lockfd;
	uint8_t instance[HSMKEY_OWNER_LEN];
};

const char *ks_state_name(int state)
{
	return state == KS_ACTIVE ? "active" :
	       state == KS_REVOKED ? "revoked" :
	       state == KS_DISABLED ? "disabled" : "unknown";
}

static int ks_state_from_name(const char *s)
{
	if (s && !strcmp(s, "active"))
		return KS_ACTIVE;
	if (s && !strcmp(s, "revoked"))
		return KS_REVOKED;
	if (s && !strcmp(s, "disabled"))
		return KS_DISABLED;
	return -EINVAL;
}

void ks_key_wipe(struct ks_key *key)
{
	wipe(key->verifier, sizeof(key->verifier));
	wipe(key->material, sizeof(key->material));
}

void ks_token(const struct ks_key *key, struct hsmkey_token *tok)
{
	_Static_assert(sizeof(*tok) == HSMKEY_TOKEN_LEN, "token layout");
	memset(tok, 0, sizeof(*tok));
	memcpy(tok->magic, HSMKEY_TOKEN_MAGIC, sizeof(tok->magic));
	tok->format = HSMKEY_TOKEN_FORMAT;
	tok->key_type = (uint8_t)key->type;
	memcpy(tok->key_id, key->id, sizeof(tok->key_id));
	tok->key_version = htonl(key->version);
	memcpy(tok->verifier, key->verifier, sizeof(tok->verifier));
}

/*
 * Passphrase mode: the master key is scrypt(passphrase, salt) with a cost
 * of 2^17 x 8 (128 MiB, memory-hard), salt and cost in STATE/master.kdf
 * with a check value (an HMAC under the derived key) that tells a wrong
 * passphrase from a damaged keystore.  No key is ever written to disk.
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

static int ks_master_passphrase(struct keystore *ks, const char *dir, const char *path)
{
	char pass[1025], text[512], hex[2 * KS_SALT_LEN + 1], chk[65];
	uint8_t salt[KS_SALT_LEN], check[32], want[32];
	long long n = KS_KDF_N, r = KS_KDF_R, p = KS_KDF_P;
	struct json_object *o;
	struct stat st;
	size_t passlen;
	int fd, len, err;

	if (!faccessat(ks->dirfd, "master.key", F_OK, 0))
		return log_errno(EEXIST, "%s uses a master key file, not a passphrase: set master_key = file",
				 dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return log_errno(errno, "cannot open the passphrase file %s: %m", path);
	if (fstat(fd, &st) < 0 || (st.st_mode & 077)) {
		close(fd);
		return log_errno(EPERM, "the passphrase file %s must not be readable by others (mode 0600 or 0400)",
				 path);
	}
	len = read_full(fd, pass, sizeof(pass));
	close(fd);
	while (len > 0 && (pass[len - 1] == '\n' || pass[len - 1] == '\r'))
		len--;
	if (len <= 0 || len >= (int)sizeof(pass)) {
		wipe(pass, sizeof(pass));
		return log_errno(EINVAL, "the passphrase in %s must be 1 to 1024 bytes", path);
	}
	passlen = (size_t)len;

	fd = openat(ks->dirfd, "master.kdf", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		/* A new keystore: new salt, the cost of the day. */
		if (RAND_bytes(salt, sizeof(salt)) != 1 ||
		    ks_kdf(pass, passlen, salt, n, (uint32_t)r, (uint32_t)p, ks->master)) {
			wipe(pass, sizeof(pass));
			return log_errno(EIO, "cannot derive the master key");
		}
		wipe(pass, sizeof(pass));
		ks_kdf_check(ks->master, check);
		hex_encode(salt, sizeof(salt), hex);
		hex_encode(check, sizeof(check), chk);
		len = snprintf(text, sizeof(text),
			       "{ \"kdf\": \"scrypt\", \"n\": %lld, \"r\": %lld, \"p\": %lld, \"salt\": \"%s\", \"check\": \"%s\" }\n",
			       n, r, p, hex, chk);
		err = write_file_atomic(ks->dirfd, "master.kdf", text, (size_t)len, 0600);
		if (err)
			return log_errno(err, "cannot write %s/master.kdf: %s", dir, strerror(-err));
		log_info("derived a new master key from the passphrase (scrypt, salt in %s/master.kdf)", dir);
		return 0;
	}
	if (fd < 0) {
		wipe(pass, sizeof(pass));
		return log_errno(errno, "cannot open %s/master.kdf: %m", dir);
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
		return log_errno(EINVAL, "%s/master.kdf is damaged", dir);
	}
	err = ks_kdf(pass, passlen, salt, (uint64_t)n, (uint32_t)r, (uint32_t)p, ks->master);
	wipe(pass, sizeof(pass));
	if (err)
		return log_errno(EIO, "cannot derive the master key");
	ks_kdf_check(ks->master, check);
	if (CRYPTO_memcmp(check, want, sizeof(want))) {
		wipe(ks->master, sizeof(ks->master));
		return log_errno(EACCES, "wrong passphrase for %s", dir);
	}
	return 0;
}

static int ks_master_load(struct keystore *ks, const char *dir, const char *passfile)
{
	struct stat st;
	int fd, r;

	if (passfile)
		return ks_master_passphrase(ks, dir, passfile);
	if (!faccessat(ks->dirfd, "master.kdf", F_OK, 0))
		return log_errno(EEXIST, "%s derives its master key from a passphrase: set master_key = passphrase",
				 dir);
	fd = openat(ks->dirfd, "master.key", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		if (RAND_priv_bytes(ks->master, KS_MASTER_LEN) != 1)
			return log_errno(EIO, "cannot generate a master key");
		r = write_file_atomic(ks->dirfd, "master.key", ks->master,
				      KS_MASTER_LEN, 0600);
		if (r)
			return log_errno(r, "cannot write %s/master.key: %s",
					 dir, strerror(-r));
		log_info("generated a new master key in %s/master.key", dir);
		return 0;
	}
	if (fd < 0)
		return log_errno(errno, "cannot open %s/master.key: %m", dir);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) ||
	    st.st_uid != geteuid()) {
		close(fd);
		return log_errno(EPERM, "%s/master.key must be a regular file owned by the daemon's user with mode 0600",
				 dir);
	}
	r = read_full(fd, ks->master, KS_MASTER_LEN);
	close(fd);
	if (r != KS_MASTER_LEN)
		return log_errno(EINVAL, "%s/master.key is not %d bytes long",
				 dir, KS_MASTER_LEN);
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

/* A key for another purpose, derived from the master key (HKDF-SHA256). */
int ks_derive(const struct keystore *ks, const char *label, uint8_t *out, size_t len)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	int ok;

	ok = pctx && EVP_PKEY_derive_init(pctx) > 0 &&
	     EVP_PKEY_CTX_set_hkdf_md(pctx, EVP_sha256()) > 0 &&
	     EVP_PKEY_CTX_set1_hkdf_key(pctx, ks->master, KS_MASTER_LEN) > 0 &&
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

int ks_open_ex(const char *dir, const char *passfile, struct keystore **out)
{
	struct keystore *ks;
	int r;

	/* A page of its own: locked in memory and left out of core dumps. */
	ks = mmap(NULL, sizeof(*ks), PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ks == MAP_FAILED)
		return -ENOMEM;
	if (mlock(ks, sizeof(*ks)) < 0)
		log_warn("cannot lock the master key in memory: %m");
	madvise(ks, sizeof(*ks), MADV_DONTDUMP);
	ks->dirfd = ks->keysfd = ks->lockfd = -1;

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
	r = ks_master_load(ks, dir, passfile);
	if (!r)
		r = ks_instance_load(ks, dir);
	if (r)
		goto err;
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

/* AES-256-GCM over verifier || material. */
static int ks_crypt(struct keystore *ks, const struct ks_key *key, bool seal,
		    const uint8_t *nonce, uint8_t *tag, const uint8_t *in,
		    uint8_t *out, int len)
{
	uint8_t aad[KS_AAD_MAX];
	EVP_CIPHER_CTX *ctx;
	int n, ok;

	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	n = (int)ks_aad(key, aad);
	ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, ks->master, nonce,
			       seal) == 1 &&
	     EVP_CipherUpdate(ctx, NULL, &n, aad, n) == 1 &&
	     EVP_CipherUpdate(ctx, out, &n, in, len) == 1 &&
	     (seal || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, KS_TAG_LEN,
					  tag) == 1) &&
	     EVP_CipherFinal_ex(ctx, out + n, &n) == 1 &&
	     (!seal || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, KS_TAG_LEN,
					   tag) == 1);
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -EBADMSG;
}

static struct json_object *ks_ids_to_json(const uint32_t *ids, uint32_t n)
{
	struct json_object *a = json_object_new_array();

	for (uint32_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_int64(ids[i]));
	return a;
}

struct json_object *ks_policy_to_json(const struct ks_policy *p)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "uids", ks_ids_to_json(p->uids, p->nuids));
	json_object_object_add(o, "gids", ks_ids_to_json(p->gids, p->ngids));
	json_object_object_add(o, "algorithms", json_object_new_int64(p->algs));
	json_object_object_add(o, "not_before", json_object_new_int64(p->not_before));
	json_object_object_add(o, "not_after", json_object_new_int64(p->not_after));
	json_object_object_add(o, "max_bytes", json_object_new_int64((int64_t)p->max_bytes));
	json_object_object_add(o, "max_requests", json_object_new_int64((int64_t)p->max_requests));
	json_object_object_add(o, "max_bindings", json_object_new_int64(p->max_bindings));
	json_object_object_add(o, "load_at_start", json_object_new_boolean(!p->no_load_at_start));
	return o;
}

static int ks_ids_from_json(struct json_object *o, const char *k, uint32_t *ids, uint32_t *n)
{
	struct json_object *a;
	size_t i, len;

	*n = 0;
	if (!json_object_object_get_ex(o, k, &a) || !json_object_is_type(a, json_type_array))
		return -EINVAL;
	len = json_object_array_length(a);
	if (len > HSMKEY_POLICY_IDS_MAX)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		struct json_object *v = json_object_array_get_idx(a, i);
		int64_t id = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || id < 0 || id > UINT32_MAX)
			return -EINVAL;
		ids[i] = (uint32_t)id;
	}
	*n = (uint32_t)len;
	return 0;
}

static int ks_num(struct json_object *o, const char *k, int64_t min, int64_t *out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
		return -EINVAL;
	*out = json_object_get_int64(v);
	return *out < min ? -EINVAL : 0;
}

/* The policy object of a key file (or of a request: the same form). */
int ks_policy_from_json(struct json_object *o, struct ks_policy *p)
{
	int64_t algs, nb, na, bytes, reqs, bindings;
	struct json_object *v;

	memset(p, 0, sizeof(*p));
	if (!json_object_is_type(o, json_type_object) ||
	    ks_ids_from_json(o, "uids", p->uids, &p->nuids) ||
	    ks_ids_from_json(o, "gids", p->gids, &p->ngids) ||
	    ks_num(o, "algorithms", 0, &algs) || algs > 7 ||
	    ks_num(o, "not_before", 0, &nb) || ks_num(o, "not_after", 0, &na) ||
	    ks_num(o, "max_bytes", 0, &bytes) || ks_num(o, "max_requests", 0, &reqs) ||
	    ks_num(o, "max_bindings", 0, &bindings) || bindings > UINT32_MAX ||
	    !json_object_object_get_ex(o, "load_at_start", &v) ||
	    !json_object_is_type(v, json_type_boolean))
		return -EINVAL;
	p->algs = (uint32_t)algs;
	p->not_before = nb;
	p->not_after = na;
	p->max_bytes = (uint64_t)bytes;
	p->max_requests = (uint64_t)reqs;
	p->max_bindings = (uint32_t)bindings;
	p->no_load_at_start = !json_object_get_boolean(v);
	return 0;
}

static int ks_write(struct keystore *ks, const struct ks_key *key)
{
	uint8_t plain[KS_SEALED_MAX], sealed[KS_SEALED_MAX];
	uint8_t nonce[KS_NONCE_LEN], tag[KS_TAG_LEN];
	char hex[2 * KS_SEALED_MAX + 1], file[HSMKEY_NAME_MAX + 8];
	int len = HSMKEY_VERIFIER_LEN + (int)key_type_len(key->type), r;
	struct json_object *o;
	const char *text;

	memcpy(plain, key->verifier, HSMKEY_VERIFIER_LEN);
	memcpy(plain + HSMKEY_VERIFIER_LEN, key->material, key_type_len(key->type));
	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		return -EIO;
	r = ks_crypt(ks, key, true, nonce, tag, plain, sealed, len);
	wipe(plain, sizeof(plain));
	if (r)
		return r;

	o = json_object_new_object();
	json_object_object_add(o, "format", json_object_new_int(1));
	json_object_object_add(o, "name", json_object_new_string(key->name));
	json_object_object_add(o, "type", json_object_new_string(key_type_name(key->type)));
	hex_encode(key->id, HSMKEY_ID_LEN, hex);
	json_object_object_add(o, "id", json_object_new_string(hex));
	json_object_object_add(o, "version", json_object_new_int64(key->version));
	json_object_object_add(o, "state", json_object_new_string(ks_state_name(key->state)));
	json_object_object_add(o, "created", json_object_new_int64(key->created));
	if (key->has_policy)
		json_object_object_add(o, "policy", ks_policy_to_json(&key->policy));
	hex_encode(nonce, sizeof(nonce), hex);
	json_object_object_add(o, "nonce", json_object_new_string(hex));
	hex_encode(tag, sizeof(tag), hex);
	json_object_object_add(o, "tag", json_object_new_string(hex));
	hex_encode(sealed, (size_t)len, hex);
	json_object_object_add(o, "sealed", json_object_new_string(hex));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
	snprintf(file, sizeof(file), "%s.json", key->name);
	r = write_file_atomic(ks->keysfd, file, text, strlen(text), 0600);
	json_object_put(o);
	return r;
}

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

/* Parse and check one key file; unseal its secrets when asked. */
static int ks_read(struct keystore *ks, const char *file, bool unseal,
		   struct ks_key *key)
{
	char buf[KS_FILE_MAX + 1];
	int fd, n;

	fd = openat(ks->keysfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	n = read_full(fd, buf, KS_FILE_MAX + 1);
	close(fd);
	if (n < 0)
		return n;
	return ks_parse(ks, file, buf, (size_t)n, unseal, key);
}

/*
 * The contents of key file @file (@n bytes at @buf): -EINVAL unless it is
 * a well-formed key file of that name, -EBADMSG if it does not
 * authenticate (when unsealing), -EFBIG if too large.
 */
int ks_parse(struct keystore *ks, const char *file, const char *data, size_t n,
	     bool unseal, struct ks_key *key)
{
	uint8_t sealed[KS_SEALED_MAX], plain[KS_SEALED_MAX];
	uint8_t nonce[KS_NONCE_LEN], tag[KS_TAG_LEN];
	struct json_object *o = NULL, *pol;
	struct json_tokener *tok;
	char buf[KS_FILE_MAX + 1];
	const char *name;
	int64_t version;
	int r = -EINVAL, len;

	if (n > KS_FILE_MAX)
		return -EFBIG;
	memcpy(buf, data, n);
	buf[n] = '\0';
	if (memchr(buf, '\0', n))
		return -EINVAL;
	tok = json_tokener_new_ex(8);
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, buf, (int)n);
	if (o && json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	if (!o || !json_object_is_type(o, json_type_object))
		goto out;

	memset(key, 0, sizeof(*key));
	name = jstr(o, "name");
	version = jint(o, "version");
	key->type = key_type_from_name(jstr(o, "type"));
	key->state = ks_state_from_name(jstr(o, "state"));
	key->created = jint(o, "created");
	if (jint(o, "format") != 1 || !valid_name(name) || version < 1 ||
	    version > UINT32_MAX || key->type < 0 || key->state < 0 ||
	    hex_decode(jstr(o, "id"), key->id, HSMKEY_ID_LEN) ||
	    hex_decode(jstr(o, "nonce"), nonce, sizeof(nonce)) ||
	    hex_decode(jstr(o, "tag"), tag, sizeof(tag)))
		goto out;
	len = HSMKEY_VERIFIER_LEN + (int)key_type_len(key->type);
	if (hex_decode(jstr(o, "sealed"), sealed, (size_t)len))
		goto out;
	if (json_object_object_get_ex(o, "policy", &pol)) {
		if (ks_policy_from_json(pol, &key->policy))
			goto out;
		key->has_policy = true;
	}
	strcpy(key->name, name);
	key->version = (uint32_t)version;
	/* The file name must be the key's name: no key answers for another. */
	if (strlen(file) != strlen(name) + 5 || strncmp(file, name, strlen(name)))
		goto out;
	r = 0;
	if (unseal) {
		r = ks_crypt(ks, key, false, nonce, tag, sealed, plain, len);
		if (!r) {
			memcpy(key->verifier, plain, HSMKEY_VERIFIER_LEN);
			memcpy(key->material, plain + HSMKEY_VERIFIER_LEN,
			       (size_t)len - HSMKEY_VERIFIER_LEN);
		}
		wipe(plain, sizeof(plain));
	}
out:
	json_object_put(o);
	return r;
}

int ks_get(struct keystore *ks, const char *name, bool unseal, struct ks_key *out)
{
	char file[HSMKEY_NAME_MAX + 8];
	int r;

	if (!valid_name(name))
		return -EINVAL;
	snprintf(file, sizeof(file), "%s.json", name);
	r = ks_read(ks, file, unseal, out);
	if (r == -EINVAL || r == -EBADMSG || r == -EFBIG)
		log_error("key file keys/%s is corrupted or has been tampered with (%s); the key is unusable until it is restored",
			  file, strerror(-r));
	return r;
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
	key.version = 1;
	key.state = KS_ACTIVE;
	key.created = (int64_t)time(NULL);
	if (RAND_bytes(key.id, sizeof(key.id)) != 1 ||
	    RAND_priv_bytes(key.verifier, sizeof(key.verifier)) != 1)
		return -EIO;
	if (material)
		memcpy(key.material, material, key_type_len(type));
	else if (RAND_priv_bytes(key.material, (int)key_type_len(type)) != 1)
		return -EIO;
	r = ks_write(ks, &key);
	if (!r && out)
		*out = key;
	ks_key_wipe(&key);
	return r;
}

int ks_set_state(struct keystore *ks, const char *name, int state)
{
	struct ks_key key;
	int r;

	r = ks_get(ks, name, true, &key);
	if (r)
		return r;
	key.state = state;
	r = ks_write(ks, &key);
	ks_key_wipe(&key);
	return r;
}

int ks_set_policy(struct keystore *ks, const char *name, const struct ks_policy *p)
{
	struct ks_key key;
	int r;

	r = ks_get(ks, name, true, &key);
	if (r)
		return r;
	key.policy = *p;
	key.has_policy = true;
	r = ks_write(ks, &key);
	ks_key_wipe(&key);
	return r;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ks_list(struct keystore *ks,
	    int (*fn)(const struct ks_key *key, void *arg), void *arg)
{
	char **names = NULL;
	size_t n = 0, i;
	struct dirent *de;
	struct ks_key key;
	DIR *d;
	int fd, r = 0;

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
	if (!r)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n; i++) {
		if (!r) {
			/* Unsealing authenticates the metadata too. */
			int e = ks_read(ks, names[i], true, &key);

			ks_key_wipe(&key);
			if (e)
				log_error("key file keys/%s is corrupted or has been tampered with (%s); set aside, other keys keep working",
					  names[i], strerror(-e));
			else
				r = fn(&key, arg);
		}
		free(names[i]);
	}
	free(names);
	return r;
}
