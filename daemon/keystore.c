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
#include "keystore.h"
#include "util.h"

#define KS_MASTER_LEN	32
#define KS_NONCE_LEN	12
#define KS_TAG_LEN	16
#define KS_FILE_MAX	4096
#define KS_SEALED_MAX	(HSMKEY_VERIFIER_LEN + HSMKEY_MATERIAL_MAX)

struct keystore {
	uint8_t master[KS_MASTER_LEN];	/* first: the page is locked */
	int dirfd;
	int keysfd;
	int lockfd;
};

const char *ks_state_name(int state)
{
	return state == KS_ACTIVE ? "active" :
	       state == KS_REVOKED ? "revoked" : "unknown";
}

static int ks_state_from_name(const char *s)
{
	if (s && !strcmp(s, "active"))
		return KS_ACTIVE;
	if (s && !strcmp(s, "revoked"))
		return KS_REVOKED;
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

static int ks_master_load(struct keystore *ks, const char *dir)
{
	struct stat st;
	int fd, r;

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

int ks_open(const char *dir, struct keystore **out)
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
	r = ks_master_load(ks, dir);
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

/* What the seal binds the ciphertext to: a file cannot be renamed or edited. */
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
	return n + HSMKEY_ID_LEN;
}

/* AES-256-GCM over verifier || material. */
static int ks_crypt(struct keystore *ks, const struct ks_key *key, bool seal,
		    const uint8_t *nonce, uint8_t *tag, const uint8_t *in,
		    uint8_t *out, int len)
{
	uint8_t aad[128];
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
	uint8_t sealed[KS_SEALED_MAX], plain[KS_SEALED_MAX];
	uint8_t nonce[KS_NONCE_LEN], tag[KS_TAG_LEN];
	char buf[KS_FILE_MAX + 1];
	struct json_object *o = NULL;
	const char *name;
	int64_t version;
	int fd, n, r = -EINVAL, len;

	fd = openat(ks->keysfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	n = read_full(fd, buf, KS_FILE_MAX + 1);
	close(fd);
	if (n < 0)
		return n;
	if (n > KS_FILE_MAX)
		return -EFBIG;
	buf[n] = '\0';
	o = json_tokener_parse(buf);
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
