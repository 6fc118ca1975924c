// SPDX-License-Identifier: GPL-2.0
/*
 * The embedded keystore's key directory, STATE/keys: reading and writing
 * one key file with its generation; listing from the index; and
 * re-sealing every file when the master key is replaced.  The check of
 * the whole directory at open is scan.c's.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "internal.h"
#include "util.h"

struct ks_record *ks_record_new(void)
{
	return calloc(1, sizeof(struct ks_record));
}

void ks_report_file(const char *file)
{
	log_error("key file keys/%s is corrupted or has been tampered with; set aside: the key is unusable until the file is restored, other keys keep working",
		  file);
}

void ks_report(const char *name, int r)
{
	if (r == -EINVAL || r == -EFBIG)
		log_error("key file keys/%s.json is corrupted or has been tampered with (%s); set aside: the key is unusable until the file is restored, other keys keep working",
			  name, strerror(-r));
}

int ks_load(struct keystore *ks, const char *file, struct ks_record *rec, struct stat *st)
{
	char *buf;
	int fd, n;

	fd = openat(ks->keysfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	buf = malloc(KS_FILE_MAX + 1);
	if (!buf || fstat(fd, st) < 0) {
		n = buf ? -errno : -ENOMEM;
		close(fd);
		free(buf);
		return n;
	}
	n = read_full(fd, buf, KS_FILE_MAX + 1);
	close(fd);
	n = n < 0 ? n : ks_parse_record(file, buf, (size_t)n, rec);
	free(buf);
	return n;
}

/* No key @name: -ENOENT, or -EBADMSG if a file of that name is there anyway. */
int ks_absent(struct keystore *ks, const char *name)
{
	char file[HSMKEY_NAME_MAX + 8];

	snprintf(file, sizeof(file), "%s.json", name);
	if (faccessat(ks->keysfd, file, F_OK, AT_SYMLINK_NOFOLLOW))
		return -ENOENT;
	log_error("keys/%s belongs to no key of this keystore (a destroyed key's file put back, or a copy from elsewhere): refused",
		  file);
	return -EBADMSG;
}

/*
 * Key @name's file was removed while the keystore was open (by hand, to
 * let a destruction go on past a damaged file): the key is forgotten, and
 * the root record says so, or the next open would take it for a rollback.
 */
static int ks_forget(struct keystore *ks, const char *name, uint64_t gen)
{
	uint64_t none;
	int r;

	log_warn("keys/%s.json was removed from the keystore's directory: key %s is forgotten",
		 name, name);
	ks_kept_drop(ks, name);
	r = ks_gen_begin(ks, name, gen, false, &none);
	if (!r)
		r = ks_gen_end(ks, true);
	if (!r)
		ks_index_remove(&ks->index, name);
	return r ? r : -ENOENT;
}

/* A destroyed key's file is never read again; a revoked key's stays revoked. */
static int ks_tomb_read(struct keystore *ks, const char *file, struct ks_record *rec)
{
	bool forced;

	if (ks_tomb_keep(&ks->tombs, &rec->meta, &forced) != KS_TOMB_DESTROYED)
		return 0;
	return log_errno(EBADMSG, "key file keys/%s belongs to key %s, which was destroyed: refused",
			 file, rec->meta.name);
}

/*
 * Key @name's file, read and authenticated: its MAC (ks_record_verify()),
 * and its generation the one the index holds (an older copy put in its
 * place is refused); its state what its tombstone allows.
 */
int ks_read(struct keystore *ks, const char *name, struct ks_record *rec)
{
	char file[HSMKEY_NAME_MAX + 8];
	struct ks_entry *e;
	struct stat st;
	int r;

	if (!valid_name(name))
		return -EINVAL;
	e = ks_index_find(&ks->index, name);
	if (!e)
		return ks_absent(ks, name);
	snprintf(file, sizeof(file), "%s.json", name);
	r = ks_load(ks, file, rec, &st);
	if (r == -ENOENT)
		return ks_forget(ks, name, e->gen);
	if (!r && rec->format != 3)
		r = -EBADMSG;
	if (!r)
		r = ks_record_verify(ks, rec, NULL);
	if (r == -EBADMSG)
		log_error("key file keys/%s is corrupted or has been tampered with (it does not authenticate); refused: the key is unusable until the file is restored",
			  file);
	if (!r && rec->gen != e->gen)
		r = log_errno(EBADMSG, "key file keys/%s is generation %llu where the keystore recorded %llu: an older copy was put in its place (rollback); refused",
			      file, (unsigned long long)rec->gen, (unsigned long long)e->gen);
	if (!r)
		r = ks_tomb_read(ks, file, rec);
	ks_report(name, r);
	if (!r && e->damaged)
		return ks_index_put(&ks->index, rec, &st);	/* restored */
	if (!r) {
		e->dev = st.st_dev;
		e->ino = st.st_ino;
		e->ctime = st.st_ctim;
	}
	return r;
}

int ks_write(struct keystore *ks, struct ks_record *rec)
{
	char file[HSMKEY_NAME_MAX + 8], *text = NULL;
	struct stat st;
	int r;

	ks_kept_drop(ks, rec->meta.name);
	rec->format = 3;
	r = ks_record_mac(ks, rec, rec->mac);
	if (!r)
		r = ks_record_text(rec, &text);
	snprintf(file, sizeof(file), "%s.json", rec->meta.name);
	if (!r)
		r = write_file_atomic(ks->keysfd, file, text, strlen(text), 0600);
	free(text);
	if (!r && fstatat(ks->keysfd, file, &st, AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	return r ? r : ks_index_put(&ks->index, rec, &st);
}

/*
 * A changed key file (@old: the generation it replaces, 0 for a new key)
 * under a new generation: the root record first, then the file, then the
 * root record again (root.c).
 */
int ks_commit(struct keystore *ks, struct ks_record *rec, uint64_t old)
{
	bool revoked = ks_key_revoked(&rec->meta);
	int r, e, prev = 0;

	/* A revocation's tombstone goes with the change that makes it. */
	r = revoked ? ks_tomb_set(&ks->tombs, rec->meta.id, KS_TOMB_REVOKED, &prev) : 0;
	if (!r)
		r = ks_gen_begin(ks, rec->meta.name, old, true, &rec->gen);
	if (!r) {
		r = ks_write(ks, rec);
		if (r && revoked)
			ks_tomb_undo(&ks->tombs, rec->meta.id, prev);
		e = ks_gen_end(ks, !r);
		return r ? r : e;
	}
	if (revoked)
		ks_tomb_undo(&ks->tombs, rec->meta.id, prev);
	return r;
}

/*
 * Remove key @name's file (generation @old) for good, its id tombstoned
 * as destroyed (a damaged file's id is unknown: none).  The tombstone is
 * written with the change begun, so a crash before the file goes leaves
 * ks_scan() to finish the removal.
 */
int ks_remove(struct keystore *ks, const char *name, uint64_t old)
{
	struct ks_entry *ent = ks_index_find(&ks->index, name);
	const uint8_t *id = ent && !ent->damaged ? ent->meta.id : NULL;
	char file[HSMKEY_NAME_MAX + 8];
	uint64_t none;
	int r, e, prev = 0;
	bool gone;

	ks_kept_drop(ks, name);
	r = id ? ks_tomb_set(&ks->tombs, id, KS_TOMB_DESTROYED, &prev) : 0;
	if (!r)
		r = ks_gen_begin(ks, name, old, false, &none);
	if (r) {
		if (id)
			ks_tomb_undo(&ks->tombs, id, prev);
		return r;
	}
	snprintf(file, sizeof(file), "%s.json", name);
	gone = unlinkat(ks->keysfd, file, 0) == 0 || errno == ENOENT;
	if (!gone) {
		r = -errno;
		/* The file is still there: no destruction to keep a tombstone of. */
		if (id)
			ks_tomb_undo(&ks->tombs, id, prev);
	} else if (fsync(ks->keysfd) < 0) {
		r = -errno;	/* the file is gone all the same: so are its key and tombstone */
	}
	crash_point("key-removed");
	e = ks_gen_end(ks, gone);
	if (gone)
		ks_index_remove(&ks->index, name);
	return r ? r : e;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The key file names in keys/, sorted; free each and the array. */
int ks_files(struct keystore *ks, char ***out, size_t *count)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
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
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			tmp = realloc(names, cap * sizeof(*names));
			if (!tmp) {
				r = -ENOMEM;
				break;
			}
			names = tmp;
		}
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

void ks_files_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}


/* Is @e's file the one last read or written?  If not, read it again. */
static int ks_fresh(struct keystore *ks, struct ks_entry *e, struct ks_record *rec)
{
	char file[HSMKEY_NAME_MAX + 8];
	struct stat st;

	snprintf(file, sizeof(file), "%s.json", e->meta.name);
	if (!fstatat(ks->keysfd, file, &st, AT_SYMLINK_NOFOLLOW) && st.st_ino == e->ino &&
	    st.st_dev == e->dev && st.st_ctim.tv_sec == e->ctime.tv_sec &&
	    st.st_ctim.tv_nsec == e->ctime.tv_nsec)
		return 0;
	return ks_read(ks, e->meta.name, rec);
}

/*
 * Keys after @after, in name order, from the index; a file changed behind
 * the keystore's back since it was last read is authenticated again (one
 * that no longer does is left out).  @fn may change the keystore: the
 * walk goes on from the last name, wherever it now is.
 */
int ks_list(struct keystore *ks, const char *after,
	    int (*fn)(const struct ks_key *key, void *arg), void *arg)
{
	struct ks_record *rec = ks_record_new();
	char last[HSMKEY_NAME_MAX];
	struct ks_key key;
	size_t i;
	int r = 0;

	if (!rec)
		return -ENOMEM;
	if (after && strlen(after) >= sizeof(last)) {
		free(rec);
		return -EINVAL;
	}
	for (i = ks_index_after(&ks->index, after); !r && i < ks->index.n;
	     i = ks_index_after(&ks->index, last)) {
		struct ks_entry *e = ks->index.e[i];

		strcpy(last, e->meta.name);
		if (ks_fresh(ks, e, rec))
			continue;
		key = e->meta;
		r = fn(&key, arg);
	}
	free(rec);
	return r;
}

/*
 * Before a master key replacement every key (but @skip) must open, all
 * versions: one that does not would be lost for good under a new master key.
 */
static int ks_check_all(struct keystore *ks, const char *skip)
{
	struct ks_record *rec = ks_record_new();
	char name[HSMKEY_NAME_MAX];
	int r = rec ? 0 : -ENOMEM;

	for (size_t i = 0; !r && i < ks->index.n; i = ks_index_after(&ks->index, name)) {
		struct ks_key key;

		strcpy(name, ks->index.e[i]->meta.name);
		if (skip && !strcmp(name, skip))
			continue;
		r = ks_read(ks, name, rec);
		if (r == -ENOENT) {
			r = 0;		/* removed by hand: nothing to strand */
			continue;
		}
		for (uint32_t v = 0; !r && v < rec->nver; v++) {
			r = ks_unseal(ks, rec, v, &key);
			ks_key_wipe(&key);
		}
		if (r)
			log_error("keys/%s.json does not open (%s): restore or remove it before the master key can be replaced",
				  name, strerror(-r));
	}
	free(rec);
	return r;
}

/* Every key (but @skip) sealed again under the next master key; generations stay. */
int ks_reseal_all(struct keystore *ks, const char *skip)
{
	struct ks_record *rec = ks_record_new(), *out = ks_record_new();
	char name[HSMKEY_NAME_MAX];
	int r = rec && out ? ks_root_store(ks) : -ENOMEM;

	for (size_t i = 0; !r && i < ks->index.n; i = ks_index_after(&ks->index, name)) {
		strcpy(name, ks->index.e[i]->meta.name);
		if (skip && !strcmp(name, skip))
			continue;
		r = ks_read(ks, name, rec);
		if (r == -ENOENT) {
			r = 0;
			continue;
		}
		if (!r && CRYPTO_memcmp(rec->mkid, ks->next_mkid, KS_MKID_LEN)) {
			r = ks_reseal(ks, rec, &rec->meta, NULL, out);
			out->gen = rec->gen;
			if (!r)
				r = ks_write(ks, out);
		}
		if (r)
			log_error("cannot re-seal keys/%s.json: %s", name, strerror(-r));
	}
	free(out);
	free(rec);
	return r;
}

/*
 * Master key replacement (master.c has the steps on its files): every
 * key checked, the new key written, everything re-sealed under it, @skip
 * removed (destruction), the old key overwritten.
 */
int ks_replace_master(struct keystore *ks, const char *skip)
{
	struct ks_entry *e = skip ? ks_index_find(&ks->index, skip) : NULL;
	int r;

	if (skip && !e)
		return ks_absent(ks, skip);
	ks_kept_free(ks);	/* nothing sealed under the master key going away */
	r = ks_check_all(ks, skip);
	if (!r)
		r = ks_new_master(ks);
	if (!r)
		r = ks_reseal_all(ks, skip);
	if (!r && skip)
		r = ks_remove(ks, skip, e->gen);
	if (!r)
		r = ks_finish_master(ks);
	return r;
}
