// SPDX-License-Identifier: GPL-2.0
/*
 * The embedded keystore's key directory checked as one whole at open
 * (ks_scan()): every key file against the root record's generations (a
 * rolled-back store does not open), damaged files set aside, destroyed
 * keys' files put back refused, files of format 2 upgraded, and the
 * index built.  Reading and writing one key file is store.c's.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include "internal.h"
#include "util.h"

/* What the scan at open found. */
struct ks_scan {
	uint8_t sum[KS_MAC_LEN];
	uint64_t keys, newest;
	size_t bad;
	char **old;			/* format 2: to upgrade */
	size_t nold;
	char **dead;			/* destroyed keys' files, put back */
	size_t ndead;
	char **kept;			/* revoked keys whose files said otherwise */
	size_t nkept;
	char **regrant;			/* of an earlier build's MAC (ks_record_verify()) */
	size_t nregrant;
	char unknown[HSMKEY_NAME_MAX];	/* a damaged file claiming no generation */
	size_t nunknown;
};

/* The generation damaged key file @file claims, 0 if none. */
static uint64_t ks_claimed_gen(struct keystore *ks, const char *file)
{
	struct json_object *o = NULL;
	char *buf = malloc(KS_FILE_MAX + 1);
	int64_t gen = 0;
	int fd, n;

	fd = buf ? openat(ks->keysfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
	n = fd < 0 ? -1 : read_full(fd, buf, KS_FILE_MAX);
	if (fd >= 0)
		close(fd);
	if (n > 0) {
		buf[n] = '\0';
		o = json_tokener_parse(buf);
	}
	if (o && json_object_is_type(o, json_type_object))
		gen = jint(o, "generation");
	json_object_put(o);
	free(buf);
	return gen > 0 ? (uint64_t)gen : 0;
}

/*
 * Damaged key file @file stays in the index, set aside, at the generation
 * it claims: its item completes the sum, so the other files are still
 * checked, and the key comes back if the file is restored.  (A false
 * claim only makes the sum fail.)
 */
static int ks_scan_damaged(struct keystore *ks, const char *file, struct ks_scan *sc)
{
	char name[HSMKEY_NAME_MAX];
	size_t len = strlen(file) - 5;		/* ".json" */
	uint8_t item[KS_MAC_LEN];
	uint64_t gen;

	ks_report_file(file);
	sc->bad++;
	if (len >= sizeof(name))
		return 0;
	memcpy(name, file, len);
	name[len] = '\0';
	if (!valid_name(name))
		return 0;
	gen = ks_claimed_gen(ks, file);
	if (!gen) {
		if (!sc->nunknown++)
			strcpy(sc->unknown, name);
		return 0;
	}
	ks_gen_item(ks, name, gen, item);
	ks_sum_add(sc->sum, item);
	sc->keys++;
	return ks_index_put_damaged(&ks->index, name, gen);
}

/*
 * One damaged file claiming no generation at all: try each generation
 * given so far (the sum is cheap to extend) before calling it a rollback.
 */
static bool ks_scan_guess(struct keystore *ks, struct ks_scan *sc)
{
	uint8_t item[KS_MAC_LEN], sum[KS_MAC_LEN];
	uint64_t top = ks->gen.generation;

	if (sc->nunknown != 1 || top > (1u << 24))
		return false;
	for (uint64_t g = 1; g <= top; g++) {
		memcpy(sum, sc->sum, KS_MAC_LEN);
		ks_gen_item(ks, sc->unknown, g, item);
		ks_sum_add(sum, item);
		if (ks_gen_matches(ks, sum, sc->keys + 1)) {
			memcpy(sc->sum, sum, KS_MAC_LEN);
			sc->keys++;
			sc->nunknown = 0;
			return !ks_index_put_damaged(&ks->index, sc->unknown, g);
		}
	}
	return false;
}

/*
 * Key file @file by its key's tombstone: a destroyed key's file is left
 * out (removed, when it is the destruction a crash cut short); a revoked
 * key's is kept revoked whatever it says, and rewritten so once the scan
 * is done.  1: left out.
 */
static int ks_scan_tomb(struct keystore *ks, const char *file, struct ks_record *rec,
			struct ks_scan *sc)
{
	const struct ks_gen *g = &ks->gen;
	int was = rec->meta.state;
	bool forced, removing;
	char **slot;

	switch (ks_tomb_keep(&ks->tombs, &rec->meta, &forced)) {
	case KS_TOMB_DESTROYED:
		removing = g->pending && !g->pnew && g->pold == rec->gen &&
			   !strcmp(g->pname, rec->meta.name);
		if (removing) {
			log_info("finishing the destruction of key %s, cut short: keys/%s removed",
				 rec->meta.name, file);
			if (unlinkat(ks->keysfd, file, 0) < 0 || fsync(ks->keysfd) < 0)
				return -errno;
			return 1;
		}
		log_error("key file keys/%s belongs to key %s, which was destroyed: a copy was put back; not loaded",
			  file, rec->meta.name);
		slot = &sc->dead[sc->ndead++];
		*slot = strdup(file);
		return *slot ? 1 : -ENOMEM;
	case KS_TOMB_REVOKED:
		if (!forced)
			return 0;
		log_warn("key file keys/%s holds key %s as %s, but the key was revoked (a copy from before the revocation, or the revocation cut short): it stays revoked",
			 file, rec->meta.name, ks_state_name(was));
		slot = &sc->kept[sc->nkept++];
		*slot = strdup(rec->meta.name);
		return *slot ? 0 : -ENOMEM;
	}
	return 0;
}

/* One key file at open: authenticated, added to the index and the sum. */
static int ks_scan_one(struct keystore *ks, const char *file, struct ks_record *rec,
		       struct ks_scan *sc)
{
	uint8_t item[KS_MAC_LEN];
	bool legacy = false;
	struct stat st;
	int r;

	r = ks_load(ks, file, rec, &st);
	if (!r && rec->format == 3)
		r = ks_record_verify(ks, rec, &legacy);
	if (!r && rec->format == 3 && rec->gen > ks->gen.generation && ks->gen.upgraded)
		r = -EBADMSG;
	if (r == -ENOMEM)
		return r;
	if (r && !ks->gen.upgraded) {
		ks_report_file(file);	/* set aside, as before the upgrade */
		return 0;
	}
	if (r)
		return ks_scan_damaged(ks, file, sc);
	r = rec->format == 3 ? ks_scan_tomb(ks, file, rec, sc) : 0;
	if (r)
		return r > 0 ? 0 : r;
	if (rec->format != 3) {
		if (ks->gen.upgraded) {
			log_error("key file keys/%s is in the old unauthenticated format in an upgraded keystore: a copy from before the upgrade was put back (rollback)",
				  file);
			sc->bad++;
			sc->nunknown += 2;	/* no guessing: this is no damage */
			return 0;
		}
		sc->old[sc->nold] = strdup(file);
		return sc->old[sc->nold++] ? 0 : -ENOMEM;
	}
	if (legacy) {
		sc->regrant[sc->nregrant] = strdup(rec->meta.name);
		if (!sc->regrant[sc->nregrant++])
			return -ENOMEM;
	}
	ks_gen_item(ks, rec->meta.name, rec->gen, item);
	ks_sum_add(sc->sum, item);
	sc->keys++;
	if (rec->gen > sc->newest)
		sc->newest = rec->gen;
	return ks_index_put(&ks->index, rec, &st);
}

/*
 * The upgrade from format 2 (metadata outside the seal): each such file
 * is accepted once, as found, and written again in format 3 under a
 * generation of its own; then the root record starts keeping the sum.
 * The root record says an upgrade is under way before the first file is
 * written: a crash part way, and the next open does the rest; format-3
 * files beside a root record that never said so mean the root record was
 * restored from before the upgrade, to have old files accepted: refused.
 * Files all turned back into format 2 beside that root record cannot be
 * told from a store never upgraded (format 2's seal does not cover a
 * key's state: a revoked key would come back active), so the upgrade is
 * done only when the operator asks for it (KS_OPEN_UPGRADE), once.
 */
static int ks_upgrade(struct keystore *ks, const char *dir, struct ks_record *rec,
		      struct ks_scan *sc)
{
	uint8_t item[KS_MAC_LEN];
	struct stat st;
	int r = 0;

	if (sc->keys && !ks->gen.upgrading)
		return log_errno(EBADMSG, "%s/%s is older than the key files beside it (restored from before their upgrade to format 3): refusing to open a rolled-back keystore",
				 dir, KS_ROOT);
	if (!ks->upgrade)
		return log_errno(EPERM, "%s is a key store of an earlier release, whose key files are not authenticated (format 2)%s: run 'hsmkeyd --upgrade-keystore' once to upgrade it. Do so only if it was never upgraded: a root record from before an upgrade, put back with the key files turned back into format 2, reads the same, and is a rollback",
				 dir, ks->gen.upgrading ? ", and whose upgrade was cut short" : "");
	ks->gen.upgrading = true;
	r = ks_root_store(ks);
	ks->gen.generation = sc->newest;
	for (size_t i = 0; !r && i < sc->nold; i++) {
		r = ks_load(ks, sc->old[i], rec, &st);
		if (r)
			break;
		/* Format 2 came before grants: any in such a file were put there. */
		if (rec->meta.policy.ngrants)
			log_warn("key file keys/%s (format 2) names grants, which that format never had: dropped",
				 sc->old[i]);
		rec->meta.policy.ngrants = 0;
		rec->gen = ++ks->gen.generation;
		r = ks_write(ks, rec);
		ks_gen_item(ks, rec->meta.name, rec->gen, item);
		ks_sum_add(sc->sum, item);
		sc->keys++;
	}
	if (r)
		return log_errno(r, "cannot upgrade the key files in %s/keys: %s", dir, strerror(-r));
	ks->gen.upgraded = true;
	ks->gen.upgrading = false;
	ks->gen.keys = sc->keys;
	memcpy(ks->gen.sum, sc->sum, KS_MAC_LEN);
	r = ks_root_store(ks);
	if (r)
		return log_errno(r, "cannot write %s/%s: %s", dir, KS_ROOT, strerror(-r));
	if (sc->nold)
		log_info("upgraded %zu key files in %s/keys from format 2 to format 3: each file's state, versions, usage and policy are now authenticated, and restored older copies are refused",
			 sc->nold, dir);
	return 0;
}

/*
 * The operator's word after a refusal (KS_OPEN_ACCEPT): the files found,
 * each authenticated on its own, become the current ones.  A file that did
 * not authenticate stays set aside and out of the sum; a destroyed key's
 * file is set aside on disk (NAME.json.destroyed, which no scan reads); a
 * revoked key stays revoked (ks_scan_tomb()).
 */
static int ks_scan_accept(struct keystore *ks, const char *dir, const struct ks_scan *sc)
{
	char aside[HSMKEY_NAME_MAX + 24];
	int r;

	log_warn("%s/keys does not match the generations recorded in %s/%s (%llu key files found, %llu recorded, %zu damaged, %zu of revoked keys kept revoked, %zu of destroyed keys): accepting the files found as the current ones, as asked",
		 dir, dir, KS_ROOT, (unsigned long long)sc->keys,
		 (unsigned long long)ks->gen.keys, sc->bad, sc->nkept, sc->ndead);
	for (size_t i = 0; i < sc->ndead; i++) {
		snprintf(aside, sizeof(aside), "%s.destroyed", sc->dead[i]);
		if (renameat(ks->keysfd, sc->dead[i], ks->keysfd, aside) < 0)
			return log_errno(errno, "cannot set keys/%s aside: %m", sc->dead[i]);
		log_warn("key file keys/%s of a destroyed key set aside as keys/%s",
			 sc->dead[i], aside);
	}
	if (sc->ndead && fsync(ks->keysfd) < 0)
		return log_errno(errno, "cannot sync %s/keys: %m", dir);
	ks->gen.pending = false;
	ks->gen.keys = sc->keys;
	memcpy(ks->gen.sum, sc->sum, KS_MAC_LEN);
	if (sc->newest > ks->gen.generation)
		ks->gen.generation = sc->newest;
	r = ks_root_store(ks);
	return r ? log_errno(r, "cannot write %s/%s: %s", dir, KS_ROOT, strerror(-r)) : 0;
}

/*
 * Key @name's file written again as it reads: a revoked key's that said
 * otherwise (reads keep it revoked), or one written before its MAC
 * covered its grants (its grants dropped).
 */
static int ks_rewrite(struct keystore *ks, const char *name)
{
	struct ks_record *rec = ks_record_new(), *out = ks_record_new();
	int r = rec && out ? ks_read(ks, name, rec) : -ENOMEM;

	if (!r)
		r = ks_reseal(ks, rec, &rec->meta, NULL, out);
	if (!r)
		r = ks_commit(ks, out, rec->gen);
	free(out);
	free(rec);
	return r;
}

/*
 * The files written before key files' MACs covered their grants, which
 * the scan took without them (ks_record_verify()): written again under the
 * MAC of this build, so that it reads the same.  One that cannot be
 * written stays as it is, read so each time; the next open tries again.
 */
static void ks_cover_grants(struct keystore *ks, const struct ks_scan *sc)
{
	size_t done = 0;

	for (size_t i = 0; i < sc->nregrant; i++) {
		int r = ks_rewrite(ks, sc->regrant[i]);

		if (r)
			log_warn("cannot write keys/%s.json again under the MAC that covers grants (%s): read as it is; the next start tries again",
				 sc->regrant[i], strerror(-r));
		else
			done++;
	}
	if (done)
		log_info("wrote %zu key files of an earlier build again, under the MAC that covers grants",
			 done);
}

/*
 * The directory accepted: every revoked key found has its tombstone (on
 * the first open of a format-1/2 root record, the ones it starts with),
 * a root record of an older format is written anew as format 4, and the files of revoked keys that
 * said otherwise are written revoked (if that fails, reads keep them
 * revoked all the same).
 */
static int ks_scan_finish(struct keystore *ks, const char *dir, const struct ks_scan *sc)
{
	bool added = false;
	int r = 0, prev;

	for (size_t i = 0; !r && i < ks->index.n; i++) {
		const struct ks_entry *e = ks->index.e[i];

		if (e->damaged || !ks_key_revoked(&e->meta) || ks_tomb_find(&ks->tombs, e->meta.id))
			continue;
		r = ks_tomb_set(&ks->tombs, e->meta.id, KS_TOMB_REVOKED, &prev);
		added = true;
	}
	if (!r && (added || ks->root_format < 4))
		r = ks_root_store(ks);
	if (r)
		return log_errno(r, "cannot write %s/%s: %s", dir, KS_ROOT, strerror(-r));
	ks_cover_grants(ks, sc);
	for (size_t i = 0; i < sc->nkept; i++) {
		r = ks_rewrite(ks, sc->kept[i]);
		if (r)
			log_warn("cannot write keys/%s.json as revoked (%s); the key stays revoked",
				 sc->kept[i], strerror(-r));
	}
	return 0;
}

/*
 * Every key file, authenticated, into the index; then the whole directory
 * against the root record: a file restored from an older copy, a
 * destroyed key's file put back, a file removed or one that does not
 * authenticate, and the store does not open.
 */
int ks_scan(struct keystore *ks, const char *dir)
{
	struct ks_record *rec = ks_record_new();
	struct ks_scan sc = { .keys = 0 };
	char **names = NULL;
	size_t n = 0;
	int r;

	r = rec ? ks_files(ks, &names, &n) : -ENOMEM;
	if (!r && n && !(sc.old = calloc(4 * n, sizeof(*sc.old))))
		r = -ENOMEM;
	if (sc.old) {
		sc.dead = sc.old + n;
		sc.kept = sc.old + 2 * n;
		sc.regrant = sc.old + 3 * n;
	}
	for (size_t i = 0; !r && i < n; i++)
		r = ks_scan_one(ks, names[i], rec, &sc);
	if (!r && !ks->gen.upgraded)
		r = ks_upgrade(ks, dir, rec, &sc);	/* damaged files: set aside, as before */
	else if (!r && (sc.ndead || (sc.nunknown && !ks_scan_guess(ks, &sc)) ||
			ks_gen_check(ks, sc.sum, sc.keys)))
		r = ks->accept ? ks_scan_accept(ks, dir, &sc) : log_errno(EBADMSG, "%s/keys does not match the generations recorded in %s/%s (%llu key files found, %llu recorded, %zu damaged): a key file was restored from an older copy, a destroyed key's file was put back, or a file was removed; refusing to open a rolled-back keystore: restore the current files",
			      dir, dir, KS_ROOT, (unsigned long long)sc.keys,
			      (unsigned long long)ks->gen.keys, sc.bad);
	if (!r)
		r = ks_scan_finish(ks, dir, &sc);
	for (size_t i = 0; i < sc.nold; i++)
		free(sc.old[i]);
	for (size_t i = 0; i < sc.ndead; i++)
		free(sc.dead[i]);
	for (size_t i = 0; i < sc.nkept; i++)
		free(sc.kept[i]);
	for (size_t i = 0; i < sc.nregrant; i++)
		free(sc.regrant[i]);
	free(sc.old);
	ks_files_free(names, n);
	free(rec);
	return r;
}
