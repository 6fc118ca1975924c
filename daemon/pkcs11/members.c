// SPDX-License-Identifier: GPL-2.0
/*
 * Several tokens as one key store (pkcs11_token given more than once, as
 * on-premise HSMs are deployed in pairs): the members.
 *
 * Every member holds the same hsmkey:instance, hsmkey:record, hsmkey:root
 * and hsmkey:audit, so a record authenticates, a verifier is derived and
 * an audit checkpoint is signed alike whichever answers; the first member
 * makes them, every other one is given copies when it joins (hsm.h,
 * HSM_OBJ_*: wrapped under its hsmkey:pair, never in clear outside a
 * token).  Key versions are made in the member in use and copied to every
 * member in step as they are made, and destroyed in each.
 *
 * Each member keeps its own rollback anchor.  One in step has the store's
 * anchor and takes every change; one that missed a change (it was down,
 * or a copy to it failed) is out of step until it is brought up to date:
 * the versions it lacks copied, those destroyed meanwhile destroyed, its
 * anchor made the store's.  Only a member in step takes over when the one
 * in use fails, so no change is lost and no destroyed key comes back.
 * The store is loaded against the member whose anchor is newest; one
 * older than the state directory is out of step, and if that is all that
 * answers, the store waits (degraded) for one that is not: rollback
 * protection is not given up for availability.
 *
 * Locking: everything here runs under the backend's lock, except that
 * st->hsm is also read without it (deliveries, audit signatures), so it
 * is written with release semantics and read with acquire.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "adapter.h"
#include "config.h"
#include "pkcs11/helper.h"
#include "util.h"

static const char *label(const struct p11_store *st, size_t i)
{
	return hsm_label(st->m[i].hsm);
}

static void activate(struct p11_store *st, size_t i)
{
	st->active = i;
	st->m[i].synced = true;
	__atomic_store_n(&st->hsm, st->m[i].hsm, __ATOMIC_RELEASE);
}

/*
 * Member @i is out of step until brought up to date: tried again as soon
 * as it answers, or (@wait_comeback) only after it has been away.
 */
static void out_of_step(struct p11_store *st, size_t i, bool wait_comeback)
{
	st->m[i].synced = false;
	st->m[i].tried = hsm_ups(st->m[i].hsm);
	st->m[i].tried_once = wait_comeback;
}

/* Member @i missed a change (@what failed with @err). */
static void behind(struct p11_store *st, size_t i, const char *what, int err)
{
	if (!st->m[i].synced)
		return;
	out_of_step(st, i, !p11_unreachable(err));
	log_warn("pkcs11: token '%s' is out of step with the key store (%s: %s): it is brought up to date when it answers again, and cannot take over until then",
		 label(st, i), what, hsm_error());
}

/* The settings every token of the key store (and the backup token) is opened with. */
static struct hsm_config token_config(struct p11be *p, const char *uri, bool join)
{
	const struct config *cfg = &p->cfg;

	return (struct hsm_config){
		.module = cfg->pkcs11_module,
		.token = uri,
		.pin_file = *cfg->pin_file ? cfg->pin_file : NULL,
		.timeout_ms = (unsigned int)cfg->pkcs11_timeout * 1000,
		.in_process = cfg->pkcs11_in_process,
		.join = join,
		.ups_fd = p->upfd,
	};
}

/* Whether the state directory holds a key store already (a record or a key file). */
static bool store_exists(struct p11_store *st)
{
	DIR *d;
	struct dirent *e;
	int fd = dup(st->dirfd);
	bool found = false;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return true;	/* not known: do not make new secrets */
	}
	while (!found && (e = readdir(d))) {
		size_t n = strlen(e->d_name);

		found = !strcmp(e->d_name, P11_RECORDS) ||
			(n > strlen(P11_SUFFIX) && !strcmp(e->d_name + n - strlen(P11_SUFFIX), P11_SUFFIX));
	}
	closedir(d);
	return found;
}

int p11_members_open(struct p11be *p, const struct config *cfg)
{
	struct p11_store *st = &p->st;
	int r = 0;

	p->cfg = *cfg;
	p->upfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->upfd < 0)
		return -errno;
	for (unsigned int i = 0; !r && i < cfg->pkcs11_ntokens; i++) {
		/*
		 * Only the first token of a new key store makes its secrets:
		 * a new (empty) token put in for a lost one must join (from
		 * another token, or hsmkeyctl restore), not start another
		 * store the records do not authenticate with.
		 */
		bool join = i > 0 || store_exists(st);
		struct hsm_config hc = token_config(p, cfg->pkcs11_token[i], join);

		r = hsm_open(&hc, &st->m[i].hsm);
		/* hsm_error() names the token; never the URI: a PIN may be in it. */
		if (r)
			log_error("pkcs11: cannot use %s", hsm_error());
		else
			st->nm++;
	}
	if (!r)
		activate(st, 0);
	return r;
}

void p11_members_close(struct p11be *p)
{
	if (p->retired)
		hsm_close(p->retired);
	p->retired = NULL;
	for (size_t i = 0; i < p->st.nm; i++)
		hsm_close(p->st.m[i].hsm);
	p->st.nm = 0;
	p->st.hsm = NULL;
	if (p->upfd >= 0)
		close(p->upfd);
	p->upfd = -1;
}

bool p11_failover(struct p11_store *st)
{
	size_t old = st->active;
	char why[256];

	snprintf(why, sizeof(why), "%s", hsm_error());
	for (size_t i = 0; i < st->nm; i++) {
		if (i == old || !st->m[i].synced || st->m[i].foreign ||
		    hsm_state(st->m[i].hsm, NULL, 0) != HSM_UP)
			continue;
		out_of_step(st, old, false);
		activate(st, i);
		log_warn("pkcs11: FAILOVER: token '%s' failed (%s); token '%s', in step at generation %llu, takes over",
			 label(st, old), why, label(st, i), (unsigned long long)st->generation);
		return true;
	}
	return false;
}

int p11_anchor_all(struct p11_store *st, uint64_t gen, const uint8_t *buf, size_t len)
{
	int r;

	do
		r = hsm_anchor_store(st->hsm, gen, buf, len);
	while (p11_unreachable(r) && p11_failover(st));
	if (r)
		return r;
	for (size_t i = 0; i < st->nm; i++) {
		if (i == st->active || !st->m[i].synced)
			continue;
		if (hsm_anchor_store(st->m[i].hsm, gen, buf, len))
			behind(st, i, "storing its anchor", -EIO);
	}
	return 0;
}

/* Each member's anchor and instance as it answers now. */
struct anchors {
	bool ok[P11_MEMBERS_MAX];	/* answered, and holds the store's secrets */
	bool blank[P11_MEMBERS_MAX];	/* answered, and has not joined yet */
	uint64_t gen[P11_MEMBERS_MAX];
	size_t len[P11_MEMBERS_MAX];
	uint8_t buf[P11_MEMBERS_MAX][HSM_ANCHOR_MAX];
	uint8_t inst[P11_MEMBERS_MAX][HSMKEY_OWNER_LEN];
};

/* @h's anchor into @buf (*@len: its size in, length out); none (a store never changed): 0, 0. */
static int load_anchor(struct hsm *h, uint64_t *gen, uint8_t *buf, size_t *len)
{
	int r = hsm_anchor_load(h, gen, buf, len);

	if (r == -ENOENT) {
		*gen = 0;
		*len = 0;
		r = 0;
	}
	return r;
}

static int read_anchor(struct p11_store *st, size_t i, struct anchors *a)
{
	a->len[i] = sizeof(a->buf[i]);
	return hsm_instance(st->m[i].hsm, a->inst[i]) ?:
	       load_anchor(st->m[i].hsm, &a->gen[i], a->buf[i], &a->len[i]);
}

/* Member @i is another key store's: never used. */
static int not_ours(struct p11_store *st, size_t i)
{
	st->m[i].foreign = true;
	return log_errno(EXDEV, "pkcs11: token '%s' belongs to another key store (its hsmkey:instance differs): it is not used",
			 label(st, i));
}

/*
 * A member's anchor (@mgen, @mbuf) against the store's (@gen, @now): 1 if
 * it is the store's already; 0 if it is older (or none): behind, to be
 * brought up to date; -EXDEV if it is as new or newer and another, a
 * history that diverged from the records (a state directory put back, two
 * sites each on one token): nothing in it is used or changed, as its keys
 * may be newer.
 */
static int anchor_relation(struct p11_store *st, size_t i, uint64_t mgen, const uint8_t *mbuf,
			   size_t mlen, uint64_t gen, const uint8_t *now, size_t len)
{
	if (mgen == gen && mlen == len && !CRYPTO_memcmp(mbuf, now, len))
		return 1;
	if (mgen < gen)
		return 0;
	st->m[i].foreign = st->m[i].diverged = true;
	return log_errno(EXDEV, "pkcs11: token '%s' has an anchor (generation %llu) that is not the key store's (generation %llu): its history diverged from the records; it is not used and nothing in it is changed",
			 label(st, i), (unsigned long long)mgen, (unsigned long long)gen);
}

/*
 * The member to load against: of those answering that hold the store's
 * secrets (a member not joined yet does not), the one whose anchor is
 * newest, the first of equals.
 */
static int read_anchors(struct p11be *p, struct anchors *a, size_t *best)
{
	struct p11_store *st = &p->st;
	int first = 0;
	bool any = false;

	for (size_t i = 0; i < st->nm; i++) {
		int r;

		if (st->m[i].foreign)
			continue;
		r = read_anchor(st, i, a);
		a->ok[i] = !r;
		a->blank[i] = r == -ENOENT;
		if (r) {
			if (r != -ENOENT)
				first = first ?: r;
			continue;
		}
		/* Known already: another store's token cannot win with a higher anchor. */
		if (p->have_instance && CRYPTO_memcmp(a->inst[i], p->instance, HSMKEY_OWNER_LEN))
			continue;
		if (!any || a->gen[i] > a->gen[*best])
			*best = i;
		any = true;
	}
	if (any && p->have_instance && CRYPTO_memcmp(a->inst[*best], p->instance,
						     HSMKEY_OWNER_LEN))
		return log_errno(EBADMSG, "pkcs11: token '%s' is not the key store's any more (its hsmkey:instance changed)",
				 label(st, *best));
	if (any && !p->have_instance) {
		memcpy(p->instance, a->inst[*best], HSMKEY_OWNER_LEN);
		p->have_instance = true;
	}
	for (size_t i = 0; any && i < st->nm; i++) {
		if (!a->ok[i] || !CRYPTO_memcmp(a->inst[i], p->instance, HSMKEY_OWNER_LEN))
			continue;
		a->ok[i] = false;
		not_ours(st, i);
	}
	if (!any && !first)
		return hsm_fail(st->hsm, -EHOSTDOWN, "has not joined the key store, and no token that holds its secrets answers (new tokens for lost ones: hsmkeyctl restore)");
	return any ? 0 : first ?: -EHOSTDOWN;
}

/* The anchor of the member in use. */
static int store_anchor(struct p11_store *st, uint64_t *gen, uint8_t *buf, size_t *len)
{
	return load_anchor(st->hsm, gen, buf, len);
}

static bool others_down(const struct p11_store *st, const struct anchors *a)
{
	for (size_t i = 0; i < st->nm; i++)
		if (!a->ok[i] && !a->blank[i] && !st->m[i].foreign)
			return true;
	return false;
}

int p11_members_load(struct p11be *p)
{
	struct p11_store *st = &p->st;
	struct anchors *a = calloc(1, sizeof(*a));
	uint8_t now[HSM_ANCHOR_MAX];
	size_t best = 0, len = sizeof(now);
	uint64_t gen;
	int r;

	if (!a)
		return -ENOMEM;
	/* In step is known again below, from the anchors. */
	for (size_t i = 0; i < st->nm; i++)
		st->m[i].synced = false;
	r = read_anchors(p, a, &best);
	if (!r) {
		activate(st, best);
		r = p11_store_load(st);
	}
	if (r == -EBADMSG && st->nm > 1 && others_down(st, a)) {
		/* The newest anchor may be in a member that does not answer. */
		r = hsm_fail(st->hsm, -EHOSTDOWN, "does not vouch for the records (it missed changes) and another token of the key store, which may have them, is unreachable: waiting for it");
	}
	/* The store's anchor now (a load may have moved it on); each member's against it. */
	if (!r && st->nm > 1 && !store_anchor(st, &gen, now, &len)) {
		for (size_t i = 0; i < st->nm; i++)
			if (i != st->active && a->ok[i])
				st->m[i].synced = anchor_relation(st, i, a->gen[i], a->buf[i],
								  a->len[i], gen, now, len) == 1;
	}
	free(a);
	return r;
}

static int member_id(struct p11_store *st, size_t i)
{
	struct p11_member *m = &st->m[i];
	int r;

	if (m->have_id)
		return 0;
	r = hsm_member(m->hsm, m->id);
	m->have_id = !r;
	return r;
}

/* @a and @b know each other's hsmkey:pair (kept in the tokens: once is enough, again is 0). */
static int introduce(struct p11_store *st, size_t a, size_t b)
{
	struct hsm_import_key pa, pb;

	return member_id(st, a) ?: member_id(st, b) ?:
	       hsm_pair_pub(st->m[a].hsm, &pa) ?: hsm_pair_pub(st->m[b].hsm, &pb) ?:
	       hsm_peer_add(st->m[a].hsm, st->m[b].id, &pb) ?:
	       hsm_peer_add(st->m[b].hsm, st->m[a].id, &pa);
}

/* One object copied from the member in use to @to; @r_src: the error was the source's. */
static int copy_obj(struct p11_store *st, size_t to, enum hsm_obj o, const uint8_t *id,
		    uint32_t version, int type, const char *name, bool *src_failed)
{
	uint8_t blob[HSM_COPY_MAX];
	size_t len = sizeof(blob);
	int r = member_id(st, to);

	*src_failed = false;
	if (!r) {
		r = hsm_export(st->hsm, st->m[to].id, o, id, version, blob, &len);
		/*
		 * No such peer (two members that were each introduced to a
		 * third only: after a restore, a failover among three).
		 */
		if (r == -ENOENT && !introduce(st, st->active, to)) {
			len = sizeof(blob);
			r = hsm_export(st->hsm, st->m[to].id, o, id, version, blob, &len);
		}
		*src_failed = r != 0;
	}
	if (!r)
		r = hsm_import_copy(st->m[to].hsm, o, id, version, type, name, blob, len);
	return r;
}

void p11_suspect(struct p11_store *st, size_t i, const uint8_t *id, uint32_t version)
{
	struct p11_member *m = &st->m[i];

	if (m->nsuspect == P11_SUSPECTS) {
		/* Too many to track: it is taken as diverged rather than trusted. */
		m->foreign = true;
		log_error("pkcs11: token '%s' may hold versions unlike the key store's, too many to track: it is not used",
			  label(st, i));
		return;
	}
	memcpy(m->suspect[m->nsuspect].id, id, HSMKEY_ID_LEN);
	m->suspect[m->nsuspect++].version = version;
}

int p11_mirror_version(struct p11be *p, const struct p11_rec *rec, uint32_t version)
{
	struct p11_store *st = &p->st;
	const struct ks_key *k = &rec->meta;

	for (size_t i = 0; i < st->nm; i++) {
		bool src_failed;
		int r;

		if (i == st->active || !st->m[i].synced)
			continue;
		r = copy_obj(st, i, HSM_OBJ_VERSION, k->id, version, k->type, k->name,
			     &src_failed);
		/* The member in use failing fails the operation (and it fails over). */
		if (r && src_failed)
			return r;
		if (r == -EEXIST)	/* another key there as this version */
			p11_suspect(st, i, k->id, version);
		if (r)
			behind(st, i, "copying a new key version to it", r);
	}
	return 0;
}

int p11_destroy_version(struct p11be *p, const uint8_t *id, uint32_t version)
{
	struct p11_store *st = &p->st;
	int r = hsm_key_destroy(st->hsm, id, version);

	if (r && r != -ENOENT)
		return r;
	for (size_t i = 0; i < st->nm; i++) {
		int e;

		if (i == st->active || !st->m[i].synced)
			continue;
		e = hsm_key_destroy(st->m[i].hsm, id, version);
		if (e && e != -ENOENT)
			behind(st, i, "destroying a key version in it", e);
	}
	return r;
}

/* A member new to the key store given its secrets, the instance last (it marks the join). */
static int join(struct p11be *p, size_t i)
{
	/* Not hsmkey:audit: no token can give an EdDSA key (each makes its own). */
	static const enum hsm_obj shared[] = { HSM_OBJ_RECORD, HSM_OBJ_ROOT };
	struct p11_store *st = &p->st;
	bool src_failed;
	int r = 0;

	log_info("pkcs11: token '%s' joins the key store of token '%s'", label(st, i),
		 label(st, st->active));
	for (size_t k = 0; !r && k < ARRAY_SIZE(shared); k++) {
		r = copy_obj(st, i, shared[k], NULL, 0, 0, NULL, &src_failed);
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
				  w[k].v.version, w[k].name, label(st, st->active), label(st, i));
			note_missing(rep, &w[k]);
			continue;
		}
		r = copy_obj(st, i, HSM_OBJ_VERSION, w[k].v.id, w[k].v.version, w[k].type,
			     w[k].name, &src_failed);
		rep->copied += !r;
	}
	free(mine);
	free(used);
	free(w);
	return r;
}

/* Member @i's anchor, read now, against the store's (anchor_relation()). */
static int compare_anchor(struct p11_store *st, size_t i, uint64_t gen, const uint8_t *now,
			  size_t len)
{
	uint8_t buf[HSM_ANCHOR_MAX];
	size_t blen = sizeof(buf);
	uint64_t mgen;

	return load_anchor(st->m[i].hsm, &mgen, buf, &blen) ?:
	       anchor_relation(st, i, mgen, buf, blen, gen, now, len);
}

static int sync_one(struct p11be *p, size_t i, struct ks_copy_report *rep)
{
	struct p11_store *st = &p->st;
	uint8_t inst[HSMKEY_OWNER_LEN], now[HSM_ANCHOR_MAX];
	size_t len = sizeof(now);
	uint64_t gen;
	int r = introduce(st, st->active, i);

	if (!r) {
		r = hsm_instance(st->m[i].hsm, inst);
		if (r == -ENOENT)
			r = join(p, i) ?: hsm_instance(st->m[i].hsm, inst);
	}
	if (!r && CRYPTO_memcmp(inst, p->instance, sizeof(inst)))
		return not_ours(st, i);
	r = r ?: store_anchor(st, &gen, now, &len) ?: compare_anchor(st, i, gen, now, len);
	if (r == 1) {		/* its anchor is the store's already */
		st->m[i].synced = true;
		return 0;
	}
	r = r ?: converge(p, i, rep);
	/* A store that was never changed has no anchor to give. */
	if (!r && len)
		r = hsm_anchor_store(st->m[i].hsm, gen, now, len);
	if (r)
		return r;
	st->m[i].synced = true;
	rep->generation = gen;
	log_info("pkcs11: token '%s' is in step with the key store again (generation %llu): %zu key version(s) copied to it, %zu destroyed in it",
		 label(st, i), (unsigned long long)gen, rep->copied, rep->destroyed);
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
		r = sync_one(p, i, &rep);
		if (r && r != -EXDEV)
			log_error("pkcs11: token '%s' cannot be brought up to date now: %s",
				  label(st, i), hsm_error());
	}
}

void p11_members_describe(struct p11be *p, char *buf, size_t len)
{
	struct p11_store *st = &p->st;
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < st->nm && off < len; i++) {
		enum hsm_state s = hsm_state(st->m[i].hsm, NULL, 0);
		const char *what = i == st->active ? "in use" :
				   st->m[i].diverged ? "NOT USED: its history diverged" :
				   st->m[i].foreign ? "NOT USED: another key store's" :
				   s != HSM_UP ? "down" :
				   st->m[i].synced ? "in step" : "out of step";
		int n = snprintf(buf + off, len - off, "%stoken '%s' (%s)", i ? ", " : "",
				 label(st, i), what);

		off += n > 0 ? (size_t)n : 0;
	}
}

unsigned int p11_members_ups(struct p11be *p)
{
	unsigned int n = p->restores;

	for (size_t i = 0; i < p->st.nm; i++)
		n += hsm_ups(p->st.m[i].hsm);
	return n;
}

/*
 * The backup token, opened for one backup or restore in the slot after
 * the members (no loop over the members reaches it), and up: its helper
 * is given pkcs11_timeout to log in.
 */
static int backup_open(struct p11be *p, struct ks_copy_report *rep)
{
	struct p11_store *st = &p->st;
	struct hsm_config hc = token_config(p, p->cfg.pkcs11_backup_token, true);
	unsigned int waited = 0, limit = hc.timeout_ms ?: 10000;
	char why[256] = "";
	int r;

	hc.ups_fd = 0;		/* its comings and goings are no comeback of the store */
	if (!*p->cfg.pkcs11_backup_token) {
		snprintf(rep->why, sizeof(rep->why), "no backup token: set pkcs11_backup_token in hsmkeyd.conf");
		return -ENODEV;
	}
	memset(&st->m[st->nm], 0, sizeof(st->m[st->nm]));
	r = hsm_open(&hc, &st->m[st->nm].hsm);
	if (r) {
		snprintf(rep->why, sizeof(rep->why), "cannot use the backup token: %s", hsm_error());
		return r;
	}
	snprintf(rep->token, sizeof(rep->token), "%s", label(st, st->nm));
	while (hsm_state(st->m[st->nm].hsm, why, sizeof(why)) != HSM_UP && waited < limit) {
		usleep(50 * 1000);
		waited += 50;
	}
	if (hsm_state(st->m[st->nm].hsm, why, sizeof(why)) == HSM_UP)
		return 0;
	snprintf(rep->why, sizeof(rep->why), "the backup token does not answer: %s", why);
	hsm_close(st->m[st->nm].hsm);
	return -EHOSTDOWN;
}

/*
 * Restore published the backup token as the one in use (st->hsm), which
 * deliveries, signatures and status read without the lock: its handle is
 * closed with the backend, not now, so none of them can use a freed one.
 */
static void backup_close(struct p11be *p, bool published)
{
	struct p11_store *st = &p->st;
	struct hsm *h = st->m[st->nm].hsm;

	memset(&st->m[st->nm], 0, sizeof(st->m[st->nm]));
	if (!published) {
		hsm_close(h);
		return;
	}
	if (p->retired)
		hsm_close(p->retired);	/* an earlier restore's: long unpublished */
	p->retired = h;
}

int p11_backup(struct p11be *p, struct ks_copy_report *rep)
{
	struct p11_store *st = &p->st;
	int r = backup_open(p, rep);

	if (r)
		return r;
	r = sync_one(p, st->nm, rep);
	if (r && !*rep->why)
		snprintf(rep->why, sizeof(rep->why), "%s", r == -EXDEV ?
			 "the backup token belongs to another key store" : hsm_error());
	if (!r)
		log_info("pkcs11: backup: token '%s' holds the key store at generation %llu (%zu key version(s) copied to it, %zu destroyed in it)",
			 rep->token, (unsigned long long)rep->generation, rep->copied,
			 rep->destroyed);
	backup_close(p, false);
	return r;
}

/* Restore needs every token of the key store answering, and none holding a key store. */
static int restore_targets(struct p11be *p, struct ks_copy_report *rep)
{
	struct p11_store *st = &p->st;
	uint8_t inst[HSMKEY_OWNER_LEN];

	for (size_t i = 0; i < st->nm; i++) {
		int r = hsm_instance(st->m[i].hsm, inst);

		if (r == -ENOENT)
			continue;
		snprintf(rep->why, sizeof(rep->why), r ?
			 "token '%s' does not answer (%s): restore needs every token of the key store" :
			 "token '%s' holds a key store: restore only fills new, empty tokens (one that is behind is brought up to date by itself)",
			 label(st, i), r ? hsm_error() : "");
		return r ?: -EEXIST;
	}
	return 0;
}

int p11_restore(struct p11be *p, struct ks_copy_report *rep)
{
	struct p11_store *st = &p->st;
	size_t bk = st->nm, first = st->nm;
	int r;

	if (st->loaded) {
		snprintf(rep->why, sizeof(rep->why), "the key store is up (token '%s'): nothing to restore",
			 label(st, st->active));
		return -EALREADY;
	}
	r = restore_targets(p, rep) ?: backup_open(p, rep);
	if (r)
		return r;
	r = hsm_instance(st->m[bk].hsm, p->instance);
	p->have_instance = !r;
	if (r) {
		snprintf(rep->why, sizeof(rep->why), "the backup token holds no key store (%s)",
			 hsm_error());
		backup_close(p, false);
		return r;
	}
	/* The records as they are, authenticated by the backup's record key: the operator's word. */
	for (size_t i = 0; i < st->nm; i++)
		st->m[i].synced = false;
	activate(st, bk);
	st->accept = true;
	r = p11_store_load(st);
	st->accept = false;	/* the operator's word covers this load only */
	for (size_t i = 0; !r && i < st->nm; i++) {
		struct ks_copy_report one = { 0 };

		r = sync_one(p, i, &one);
		rep->copied += one.copied;
		rep->generation = one.generation;
		if (!i) {
			rep->missing = one.missing;
			memcpy(rep->missing_names, one.missing_names, sizeof(one.missing_names));
		}
		if (!r && first == st->nm)
			first = i;
	}
	if (r) {
		snprintf(rep->why, sizeof(rep->why), "%s", hsm_error());
		st->loaded = false;
	}
	activate(st, first < st->nm ? first : 0);
	if (first == st->nm)
		st->m[0].synced = false;
	backup_close(p, true);
	if (!r) {
		p->restores++;
		eventfd_write(p->upfd, 1);
		log_warn("pkcs11: RESTORE from backup token '%s': %zu key version(s) copied into the key store's tokens; %zu version(s) the records name are not in the backup%s%s",
			 rep->token, rep->copied, rep->missing, rep->missing ? ": " : "",
			 rep->missing_names);
	}
	return r;
}
