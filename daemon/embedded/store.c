// SPDX-License-Identifier: GPL-2.0
/*
 * The embedded keystore's key directory, STATE/keys: opening the state
 * directory, and each operation on keys (create, get, list, rotate, state,
 * policy, usage, destroy) as reads and atomic rewrites of key files.
 * Destroying a key replaces the master key and re-seals every other key
 * under the new one, so that a copy of the removed file cannot be opened.
 */
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
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "internal.h"
#include "util.h"

int ks_open(const char *dir, struct keystore **out)
{
	return ks_open_ex(dir, NULL, out);
}

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

/*
 * Write key file @meta->name: @old's versions (NULL for a new key) sealed
 * again with @meta's metadata, then @add if given (record.c's ks_reseal()).
 * One atomic file replacement: a crash leaves the old file or the new one.
 */
static int ks_store(struct keystore *ks, const struct ks_record *old,
		    const struct ks_key *meta, const struct ks_key *add)
{
	struct ks_record *rec = ks_record_new();
	char file[HSMKEY_NAME_MAX + 8], *text = NULL;
	int r;

	if (!rec)
		return -ENOMEM;
	r = ks_reseal(ks, old, meta, add, rec);
	if (!r)
		r = ks_record_text(rec, &text);
	snprintf(file, sizeof(file), "%s.json", meta->name);
	if (!r)
		r = write_file_atomic(ks->keysfd, file, text, strlen(text), 0600);
	free(text);
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

