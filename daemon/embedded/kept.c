// SPDX-License-Identifier: GPL-2.0
/*
 * The key records last read for a use, kept as read: sealed, so no secret
 * in clear.  A use of a key whose file has not changed since (a KMS call,
 * a MAC, a signature) then costs one fstatat() instead of the file's open,
 * read, parse and MAC check.
 *
 * A slot is good while the key's file is the one it was read from: the
 * same device, inode and ctime (which every write, rename, chmod or touch
 * moves, and only a clock stepped back by root could repeat) and the
 * generation the index records, and while the key has no tombstone.  A
 * file changed behind the keystore's back is therefore read again, and
 * refused there as before.  A ctime is the kernel's coarse clock, one
 * tick (1 to 10 ms) apart, so a second change within the tick of the one
 * a read saw would leave it as it was: a file changed less than
 * KS_KEPT_SETTLE_MS before it was read is read again at every use, until
 * it is older.  On a file system whose times are whole seconds that does
 * not hold, and such a second change goes unseen until the slot is
 * reused or the key changes; what is used meanwhile is still the record
 * that authenticated, never the changed one.
 *
 * The keystore's own changes drop the name's slot (ks_write(),
 * ks_remove(), ks_forget(); all of them when the master key is
 * replaced), wiped, so that nothing of a destroyed key's file stays here.
 * Everything under the lock that serialises the keystore's calls
 * (ks->lock, or the KMIP backend's own).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "internal.h"
#include "util.h"

static int64_t ms_of(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000 + t->tv_nsec / 1000000;
}

static struct ks_kept *slot_of(struct keystore *ks, const char *name)
{
	for (size_t i = 0; i < KS_KEPT; i++)
		if (ks->kept[i].rec && !strcmp(ks->kept[i].rec->meta.name, name))
			return &ks->kept[i];
	return NULL;
}

static void slot_drop(struct ks_kept *k)
{
	if (!k->rec)
		return;
	wipe(k->rec, sizeof(*k->rec));
	free(k->rec);
	k->rec = NULL;
}

/* Is @k, read when @e was as it is now, still what @e's file holds? */
static bool slot_good(struct keystore *ks, const struct ks_kept *k, const struct ks_entry *e)
{
	char file[HSMKEY_NAME_MAX + 8];
	struct stat st;

	if (!k->settled || e->damaged || k->rec->gen != e->gen || k->dev != e->dev ||
	    k->ino != e->ino || ks_tomb_find(&ks->tombs, k->rec->meta.id) ||
	    k->ctime.tv_sec != e->ctime.tv_sec || k->ctime.tv_nsec != e->ctime.tv_nsec)
		return false;
	snprintf(file, sizeof(file), "%s.json", e->meta.name);
	return !fstatat(ks->keysfd, file, &st, AT_SYMLINK_NOFOLLOW) && st.st_dev == k->dev &&
	       st.st_ino == k->ino && st.st_ctim.tv_sec == k->ctime.tv_sec &&
	       st.st_ctim.tv_nsec == k->ctime.tv_nsec;
}

int ks_read_kept(struct keystore *ks, const char *name, const struct ks_record **out)
{
	struct ks_kept *k = slot_of(ks, name);
	struct ks_entry *e = ks_index_find(&ks->index, name);
	struct timespec now;
	int r;

	if (k && e && slot_good(ks, k, e)) {
		*out = k->rec;
		return 0;
	}
	if (!k) {
		k = &ks->kept[ks->kept_next];
		ks->kept_next = (ks->kept_next + 1) % KS_KEPT;
	}
	slot_drop(k);
	k->rec = ks_record_new();
	if (!k->rec)
		return -ENOMEM;
	r = ks_read(ks, name, k->rec);
	e = r ? NULL : ks_index_find(&ks->index, name);	/* ks_read() may have put it anew */
	if (!e) {
		slot_drop(k);
		return r ?: -ENOENT;
	}
	k->dev = e->dev;
	k->ino = e->ino;
	k->ctime = e->ctime;
	clock_gettime(CLOCK_REALTIME, &now);
	k->settled = ms_of(&now) - ms_of(&k->ctime) >= KS_KEPT_SETTLE_MS;
	*out = k->rec;
	return 0;
}

void ks_kept_drop(struct keystore *ks, const char *name)
{
	struct ks_kept *k = slot_of(ks, name);

	if (k)
		slot_drop(k);
}

void ks_kept_free(struct keystore *ks)
{
	for (size_t i = 0; i < KS_KEPT; i++)
		slot_drop(&ks->kept[i]);
}
