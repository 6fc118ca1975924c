// SPDX-License-Identifier: GPL-2.0
/*
 * Opening the embedded keystore's state directory: the lock that keeps a
 * second daemon out, the files a keystore cannot lose (refused when
 * missing beside key files), then the master key, the root record, the
 * identity and the key directory, each from its own file; and closing it,
 * secrets wiped.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include "internal.h"
#include "util.h"

int ks_open(const char *dir, struct keystore **out)
{
	return ks_open_ex(dir, NULL, out);
}

/*
 * @file (the master key, its KDF parameters, the root record) is made
 * when a keystore is new; missing beside key files it is lost, and a new
 * one would open none of them and replace what they hold: refused.
 */
static int ks_needs(struct keystore *ks, const char *dir, const char *file)
{
	char list[256] = "";
	char **names;
	size_t n, len = 0;
	int r;

	if (!faccessat(ks->dirfd, file, F_OK, AT_SYMLINK_NOFOLLOW) || errno != ENOENT)
		return 0;
	r = ks_files(ks, &names, &n);
	if (r)
		return log_errno(r, "cannot read %s/keys: %s", dir, strerror(-r));
	for (size_t i = 0; i < n && len < sizeof(list) - 1; i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
					i ? ", " : "", names[i]);
	ks_files_free(names, n);
	if (!n)
		return 0;
	return log_errno(ENOENT, "%s/%s is missing but %s/keys holds %zu key files (%s%s) sealed under the keystore it belonged to: restore %s from a backup; refusing to make a new one",
			 dir, file, dir, n, list, len >= sizeof(list) - 1 ? ", ..." : "", file);
}

/*
 * The keystore in memory: in pages of its own, locked and left out of
 * core dumps (it holds the master key).
 */
static struct keystore *ks_new(const char *passfile)
{
	struct keystore *ks;
	pthread_mutexattr_t attr;

	if (passfile && strlen(passfile) >= sizeof(ks->passfile))
		return NULL;
	ks = secret_pages(sizeof(*ks), "the master key");
	if (!ks)
		return NULL;
	ks->dirfd = ks->keysfd = ks->lockfd = -1;
	ks->records = json_object_new_object();
	if (!ks->records) {
		secret_pages_free(ks, sizeof(*ks));
		return NULL;
	}
	/* Recursive: list() callbacks may call the backend again. */
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&ks->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	if (passfile) {
		strcpy(ks->passfile, passfile);
		ks->passphrase = true;
	}
	return ks;
}

/* STATE and STATE/keys, made if new, and the lock on them. */
static int ks_open_dirs(struct keystore *ks, const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return log_errno(errno, "cannot create state directory %s: %m", dir);
	ks->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ks->dirfd < 0)
		return log_errno(errno, "cannot open state directory %s: %m", dir);
	ks->lockfd = openat(ks->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (ks->lockfd < 0 || flock(ks->lockfd, LOCK_EX | LOCK_NB) < 0)
		return log_errno(errno == EWOULDBLOCK ? EBUSY : errno,
				 "state directory %s is in use by another hsmkeyd", dir);
	if (mkdirat(ks->dirfd, "keys", 0700) < 0 && errno != EEXIST)
		return log_errno(errno, "cannot create %s/keys: %m", dir);
	ks->keysfd = openat(ks->dirfd, "keys", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ks->keysfd < 0)
		return log_errno(errno, "cannot open %s/keys: %m", dir);
	return 0;
}

int ks_open_ex(const char *dir, const char *passfile, struct keystore **out)
{
	return ks_open_flags(dir, passfile, 0, out);
}

int ks_open_flags(const char *dir, const char *passfile, unsigned int flags,
		  struct keystore **out)
{
	const char *master = passfile ? "master.kdf" : "master.key";
	const char *other = passfile ? "master.key" : "master.kdf";
	struct keystore *ks = ks_new(passfile);
	int r;

	if (!ks)
		return passfile && strlen(passfile) >= PATH_MAX ? -ENAMETOOLONG : -ENOMEM;
	ks->accept = flags & KS_OPEN_ACCEPT;
	ks->upgrade = flags & KS_OPEN_UPGRADE;
	r = ks_open_dirs(ks, dir);
	/* (The other mode's file there instead: ks_master_load() says so.) */
	if (!r && faccessat(ks->dirfd, other, F_OK, AT_SYMLINK_NOFOLLOW))
		r = ks_needs(ks, dir, master);
	if (!r)
		r = ks_needs(ks, dir, KS_ROOT);
	if (!r)
		r = ks_master_load(ks, dir);
	if (!r)
		r = ks_root_load(ks, dir);
	if (!r)
		r = ks_instance_load(ks, dir);
	if (!r)
		r = ks_scan(ks, dir);
	if (r) {
		ks_close(ks);
		return r;
	}
	if (ks->has_next && (ks_reseal_all(ks, NULL) || ks_finish_master(ks)))
		log_error("%s: the interrupted master key replacement cannot finish yet; keys sealed under either master key keep working",
			  dir);
	*out = ks;
	return 0;
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
	wipe(ks->filekey, sizeof(ks->filekey));
	wipe(ks->setkey, sizeof(ks->setkey));
	ks_kept_free(ks);
	ks_index_free(&ks->index);
	ks_tomb_free(&ks->tombs);
	json_object_put(ks->records);
	secret_pages_free(ks, sizeof(*ks));
}


