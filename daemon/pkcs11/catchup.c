// SPDX-License-Identifier: GPL-2.0
/*
 * A member of the key store of several tokens made the store's again:
 * a blank token joins (given hsmkey:record, hsmkey:root and the instance
 * from the member in use, wrapped under its hsmkey:pair), and one that
 * missed changes is brought up to date at the first operation after it
 * answers again: its anchor compared first (a diverged one is left
 * alone), the versions a timed-out call may have made in it destroyed,
 * those destroyed while it was away destroyed, those it lacks copied, and
 * the store anchored anew, naming it in step.  The backup token (backup.c)
 * is brought up to date the same way, given a copy of the store's anchor.
 *
 * Runs under the backend's lock, on a worker thread (never the thread
 * that opened the store: its first load and audit start must not wait
 * for a join's RSA work).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "members.h"
#include "util.h"

/* A member new to the key store given its secrets, the instance last (it marks the join). */
static int join(struct p11be *p, size_t i)
{
	/* Not hsmkey:audit: no token can give an EdDSA key (each makes its own). */
	static const enum hsm_obj shared[] = { HSM_OBJ_RECORD, HSM_OBJ_ROOT };
	struct p11_store *st = &p->st;
	bool src_failed;
	int r = 0;

	log_info("pkcs11: token '%s' joins the key store of token '%s'", p11_member_label(st, i),
		 p11_member_label(st, st->active));
	for (size_t k = 0; !r && k < ARRAY_SIZE(shared); k++) {
		r = p11_copy_obj(st, i, shared[k], NULL, 0, 0, NULL, &src_failed);
	}
	return r ?: hsm_instance_set(st->m[i].hsm, p->instance);
}

/* The key store's versions: every record's, in a sorted array. */
static int cmp_version(const void *a, const void *b)
{
	const struct hsm_version *x = a, *y = b;
	int c = memcmp(x->id, y->id, HSMKEY_ID_LEN);

	return c ?: (x->version > y->version) - (x->version < y->version);
}

struct wanted {
	struct hsm_version v;
	int type;
	char name[HSMKEY_NAME_MAX];
};

static int wanted_versions(struct p11be *p, struct wanted **out, size_t *n)
{
	char (*names)[HSMKEY_NAME_MAX] = NULL;
	struct wanted *w = NULL;
	size_t nn = 0, k = 0;
	int r = p11_key_names(&p->st, NULL, &names, &nn);

	if (!r && nn) {
		w = calloc(nn * KS_VERSIONS_MAX, sizeof(*w));
		r = w ? 0 : -ENOMEM;
	}
	for (size_t i = 0; !r && i < nn; i++) {
		struct p11_rec rec;

		r = p11_rec_read(&p->st, names[i], &rec);
		for (uint32_t j = 0; !r && j < rec.nver; j++, k++) {
			memcpy(w[k].v.id, rec.meta.id, HSMKEY_ID_LEN);
			w[k].v.version = rec.v[j].version;
			w[k].type = rec.meta.type;
			snprintf(w[k].name, sizeof(w[k].name), "%s", rec.meta.name);
		}
	}
	free(names);
	if (r) {
		free(w);
		return r;
	}
	qsort(w, k, sizeof(*w), cmp_version);
	*out = w;
	*n = k;
	return 0;
}

static bool listed(const struct hsm_version *v, size_t n, const struct hsm_version *key)
{
	return bsearch(key, v, n, sizeof(*v), cmp_version) != NULL;
}

/*
 * Member @i's key versions made those of the records: first what was
 * destroyed while it was away (in it, named by no record, and not in the
 * member in use either, which would keep an orphan both hold), then what
 * it lacks, copied.
 */
static void note_missing(struct ks_copy_report *rep, const struct wanted *w)
{
	size_t off = strlen(rep->missing_names);

	rep->missing++;
	if (off + strlen(w->name) + 16 < sizeof(rep->missing_names))
		snprintf(rep->missing_names + off, sizeof(rep->missing_names) - off, "%s%s v%u",
			 off ? ", " : "", w->name, w->v.version);
}

/* What member @i may hold as another key than the store's: destroyed (copied again below). */
static int drop_suspects(struct p11_store *st, size_t i, struct ks_copy_report *rep)
{
	struct p11_member *m = &st->m[i];

	while (m->nsuspect) {
		struct hsm_version *v = &m->suspect[m->nsuspect - 1];
		int r = hsm_key_destroy(m->hsm, v->id, v->version);

		if (r && r != -ENOENT)
			return r;
		rep->destroyed += !r;
		m->nsuspect--;
	}
	return 0;
}

static int converge(struct p11be *p, size_t i, struct ks_copy_report *rep)
{
	struct p11_store *st = &p->st;
	struct hsm_version *mine = NULL, *used = NULL;
	struct wanted *w = NULL;
	size_t nmine = 0, nused = 0, nw = 0;
	int r = drop_suspects(st, i, rep) ?: hsm_key_list(st->m[i].hsm, &mine, &nmine) ?:
		hsm_key_list(st->hsm, &used, &nused) ?: wanted_versions(p, &w, &nw);

	for (size_t k = 0; !r && k < nmine; k++) {
		struct wanted key = { .v = mine[k] };

		if (bsearch(&key, w, nw, sizeof(*w), cmp_version) || listed(used, nused, &mine[k]))
			continue;
		r = hsm_key_destroy(st->m[i].hsm, mine[k].id, mine[k].version);
		r = r == -ENOENT ? 0 : r;
		rep->destroyed += !r;
	}
	for (size_t k = 0; !r && k < nw; k++) {
		bool src_failed;

		if (listed(mine, nmine, &w[k].v))
			continue;
		if (!listed(used, nused, &w[k].v)) {
			log_error("pkcs11: version %u of key '%s' is not in token '%s' either: not copied to token '%s'",
				  w[k].v.version, w[k].name, p11_member_label(st, st->active), p11_member_label(st, i));
			note_missing(rep, &w[k]);
			continue;
		}
		r = p11_copy_obj(st, i, HSM_OBJ_VERSION, w[k].v.id, w[k].v.version, w[k].type,
				 w[k].name, &src_failed);
		rep->copied += !r;
	}
	free(mine);
	free(used);
	free(w);
	return r;
}

/* Member @i's anchor, read now, against the store's (p11_anchor_relation()). */
static int compare_anchor(struct p11_store *st, size_t i, uint64_t gen, const uint8_t *now,
			  size_t len)
{
	uint8_t buf[HSM_ANCHOR_MAX];
	size_t blen = sizeof(buf);
	uint64_t mgen;

	return p11_load_anchor(st->m[i].hsm, &mgen, buf, &blen) ?:
	       p11_anchor_relation(st, i, mgen, buf, blen, gen, now, len);
}

/*
 * An identity key's private key never leaves its token: a store holding
 * one brings no other token in step (it would lack the key after a
 * failover) nor a backup token, and refuses before anything is copied
 * into it.  A restore (from the backup token, in use for it) goes on: the
 * backup holds no identity key, and its report lists them missing.
 */
static int no_identity(struct p11be *p, size_t i, struct ks_copy_report *rep)
{
	struct wanted *w = NULL;
	size_t nw = 0;
	int r = p->st.active == p->st.nm ? 0 : wanted_versions(p, &w, &nw);

	for (size_t k = 0; !r && k < nw; k++) {
		if (!ks_type_identity(w[k].type))
			continue;
		log_error("pkcs11: key '%s' is an identity key, whose private key cannot leave token '%s': token '%s' is not brought in step (destroy the identity keys to use several tokens or a backup token)",
			  w[k].name, p11_member_label(&p->st, p->st.active),
			  p11_member_label(&p->st, i));
		snprintf(rep->why, sizeof(rep->why), "identity key '%s' cannot be copied to another token",
			 w[k].name);
		r = -EOPNOTSUPP;
	}
	free(w);
	return r;
}

int p11_sync_one(struct p11be *p, size_t i, struct ks_copy_report *rep)
{
	struct p11_store *st = &p->st;
	uint8_t inst[HSMKEY_OWNER_LEN], now[HSM_ANCHOR_MAX];
	size_t len = sizeof(now);
	uint64_t gen;
	int r = no_identity(p, i, rep) ?: hsm_instance(st->m[i].hsm, inst);

	/* Another store's token: nothing of ours is made in it. */
	if (!r && CRYPTO_memcmp(inst, p->instance, sizeof(inst)))
		return p11_not_ours(st, i);
	if (!r || r == -ENOENT)
		r = p11_introduce(st, st->active, i) ?: r;
	if (r == -ENOENT)
		r = join(p, i) ?: hsm_instance(st->m[i].hsm, inst);
	if (!r && CRYPTO_memcmp(inst, p->instance, sizeof(inst)))
		return p11_not_ours(st, i);
	r = r ?: p11_store_anchor(st, &gen, now, &len) ?: compare_anchor(st, i, gen, now, len);
	if (r == 1) {		/* its anchor is the store's already */
		st->m[i].synced = true;
		return 0;
	}
	r = r ?: converge(p, i, rep);
	if (r)
		return r;
	if (i == st->nm || st->active == st->nm) {
		/*
		 * The backup token, or a member filled by a restore (from the
		 * backup token, in use for it, which re-anchors once at the
		 * end): the store's anchor as it is (none if never changed).
		 */
		r = len ? hsm_anchor_store(st->m[i].hsm, gen, now, len) : 0;
		st->m[i].synced = !r;
	} else {
		/*
		 * A member: in step from here, and named so by the next
		 * anchor, stored in it and in every member in step (a copy of
		 * the present one would not name it: a start on another member
		 * without it would not know to wait for it).  Not failed over
		 * to it if the one in use fails storing it: neither's anchor
		 * would name the other.
		 */
		st->m[i].synced = true;
		st->no_failover = true;
		r = len ? p11_store_reanchor(st) : 0;
		st->no_failover = false;
		gen = st->generation;
	}
	if (r) {
		st->m[i].synced = false;
		return r;
	}
	if (!st->m[i].synced)
		return -EIO;	/* its anchor did not store: behind() said so */
	st->m[i].lagging = false;
	rep->generation = gen;
	log_info("pkcs11: token '%s' is in step with the key store again (generation %llu): %zu key version(s) copied to it, %zu destroyed in it",
		 p11_member_label(st, i), (unsigned long long)gen, rep->copied, rep->destroyed);
	return 0;
}

void p11_members_sync(struct p11be *p)
{
	struct p11_store *st = &p->st;

	if (pthread_equal(pthread_self(), st->opener))
		return;
	for (size_t i = 0; st->loaded && i < st->nm; i++) {
		struct p11_member *m = &st->m[i];
		struct ks_copy_report rep = { 0 };
		unsigned int ups = hsm_ups(m->hsm);
		int r;

		if (i == st->active || m->synced || m->foreign ||
		    (m->tried_once && m->tried == ups) || hsm_state(m->hsm, NULL, 0) != HSM_UP)
			continue;
		m->tried = ups;
		m->tried_once = true;
		r = p11_sync_one(p, i, &rep);
		if (r && r != -EXDEV)
			log_error("pkcs11: token '%s' cannot be brought up to date: %s",
				  p11_member_label(st, i), *rep.why ? rep.why : hsm_error());
	}
}

