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
 * the versions it lacks copied, those destroyed meanwhile destroyed, the
 * store anchored anew naming it.  Only a member in step takes over when
 * the one in use fails, so no change is lost and no destroyed key comes
 * back.  The store is loaded against the member whose anchor is newest;
 * one older than the state directory is out of step, and if that is all
 * that answers, or its anchor names a member in step with it that does
 * not answer, the store waits (degraded) for that one: rollback
 * protection is not given up for availability (the operator may, with
 * hsmkeyd --leave-out-absent).
 *
 * This file: the members opened, their anchors read and the store loaded,
 * changes mirrored, failover; catchup.c brings a member up to date,
 * backup.c serves the backup token.
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
#include "config.h"
#include "members.h"
#include "pkcs11/helper.h"
#include "util.h"

_Static_assert(P11_ANCHOR_LEN + 2 + (P11_MEMBERS_MAX + P11_FENCED_MAX) * HSM_MEMBER_LEN <=
	       HSM_ANCHOR_MAX, "an anchor names every member and those left out");

const char *p11_member_label(const struct p11_store *st, size_t i)
{
	return hsm_label(st->m[i].hsm);
}

void p11_activate(struct p11_store *st, size_t i)
{
	st->active = i;
	st->m[i].synced = true;
	st->m[i].lagging = false;
	__atomic_store_n(&st->hsm, st->m[i].hsm, __ATOMIC_RELEASE);
}

/*
 * Member @i is out of step until brought up to date: tried again as soon
 * as it answers, or (@wait_comeback) only after it has been away.
 */
static void out_of_step(struct p11_store *st, size_t i, bool wait_comeback)
{
	st->m[i].synced = false;
	st->m[i].lagging = true;
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
		 p11_member_label(st, i), what, hsm_error());
}

/* The settings every token of the key store (and the backup token) is opened with. */
struct hsm_config p11_token_config(struct p11be *p, const char *uri, bool join)
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
		struct hsm_config hc = p11_token_config(p, cfg->pkcs11_token[i], join);

		r = hsm_open(&hc, &st->m[i].hsm);
		/* hsm_error() names the token; never the URI: a PIN may be in it. */
		if (r)
			log_error("pkcs11: cannot use %s", hsm_error());
		else
			st->nm++;
	}
	if (!r)
		p11_activate(st, 0);
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
		p11_activate(st, i);
		log_warn("pkcs11: FAILOVER: token '%s' failed (%s); token '%s', in step at generation %llu, takes over",
			 p11_member_label(st, old), why, p11_member_label(st, i), (unsigned long long)st->generation);
		return true;
	}
	return false;
}

/*
 * After the records' part, an anchor of a key store of several tokens
 * names the members in step when it was written (a count, then each one's
 * hsmkey:member id), then the members the operator left out (likewise).
 * A start on a member whose anchor names one in step that does not answer
 * cannot tell that one did not go on taking changes without it (and the
 * state directory may have been put back to what this anchor vouches
 * for), so it waits for it (witnesses()).  A store of one token names
 * none.
 */
struct anchor_tail {
	size_t nstep, nfenced;
	const uint8_t *step, *fenced;	/* HSM_MEMBER_LEN each */
};

static int parse_tail(const uint8_t *buf, size_t len, struct anchor_tail *t)
{
	size_t off = P11_ANCHOR_LEN;

	memset(t, 0, sizeof(*t));
	if (!len || len == P11_ANCHOR_LEN)	/* none yet; one token's */
		return 0;
	if (len < off + 2 || buf[off] > P11_MEMBERS_MAX)
		return -EBADMSG;
	t->nstep = buf[off++];
	t->step = buf + off;
	off += t->nstep * HSM_MEMBER_LEN;
	if (off >= len || buf[off] > P11_FENCED_MAX)
		return -EBADMSG;
	t->nfenced = buf[off++];
	t->fenced = buf + off;
	off += t->nfenced * HSM_MEMBER_LEN;
	return off == len ? 0 : -EBADMSG;
}

static bool is_fenced(const struct p11_store *st, const uint8_t *id)
{
	for (size_t k = 0; k < st->nfenced; k++)
		if (!CRYPTO_memcmp(st->fenced[k], id, HSM_MEMBER_LEN))
			return true;
	return false;
}

/* @id left out by the operator (the oldest forgotten past P11_FENCED_MAX). */
static void fence(struct p11_store *st, const uint8_t *id)
{
	if (is_fenced(st, id))
		return;
	if (st->nfenced == P11_FENCED_MAX)
		memmove(st->fenced, st->fenced + 1, --st->nfenced * HSM_MEMBER_LEN);
	memcpy(st->fenced[st->nfenced++], id, HSM_MEMBER_LEN);
}

static size_t name_members(const struct p11_store *st, uint8_t *buf, size_t len)
{
	size_t n = 0, off = len + 1;

	if (st->nm < 2 && !st->nfenced)
		return len;
	for (size_t i = 0; i < st->nm; i++) {
		const struct p11_member *m = &st->m[i];

		if ((i != st->active && !m->synced) || m->foreign || !m->have_id)
			continue;
		memcpy(buf + off, m->id, HSM_MEMBER_LEN);
		off += HSM_MEMBER_LEN;
		n++;
	}
	buf[len] = (uint8_t)n;
	buf[off++] = (uint8_t)st->nfenced;
	memcpy(buf + off, st->fenced, st->nfenced * HSM_MEMBER_LEN);
	return off + st->nfenced * HSM_MEMBER_LEN;
}

int p11_anchor_all(struct p11_store *st, uint64_t gen, const uint8_t *buf, size_t len)
{
	uint8_t full[HSM_ANCHOR_MAX];
	size_t flen;
	int r;

	if (len != P11_ANCHOR_LEN)
		return -EINVAL;
	memcpy(full, buf, len);
	/*
	 * Known since the load, as a rule; a member in step whose id cannot
	 * be had could not be named, so it is not in step.
	 */
	for (size_t i = 0; st->nm > 1 && i < st->nm; i++) {
		if ((i == st->active || st->m[i].synced) && !st->m[i].have_id &&
		    p11_member_id(st, i) && i != st->active)
			behind(st, i, "reading its hsmkey:member", -EIO);
	}
	do {
		flen = name_members(st, full, len);
		r = hsm_anchor_store(st->hsm, gen, full, flen);
	} while (p11_unreachable(r) && !st->no_failover && p11_failover(st));
	if (r)
		return r;
	for (size_t i = 0; i < st->nm; i++) {
		if (i == st->active || !st->m[i].synced)
			continue;
		if (hsm_anchor_store(st->m[i].hsm, gen, full, flen))
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
int p11_load_anchor(struct hsm *h, uint64_t *gen, uint8_t *buf, size_t *len)
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
	       p11_load_anchor(st->m[i].hsm, &a->gen[i], a->buf[i], &a->len[i]);
}

/* Member @i is another key store's: never used. */
int p11_not_ours(struct p11_store *st, size_t i)
{
	st->m[i].foreign = true;
	return log_errno(EXDEV, "pkcs11: token '%s' belongs to another key store (its hsmkey:instance differs): it is not used",
			 p11_member_label(st, i));
}

/*
 * A member's anchor (@mgen, @mbuf) against the store's (@gen, @now): 1 if
 * it is the store's already; 0 if it is older (or none): behind, to be
 * brought up to date; -EXDEV if it is as new or newer and another, a
 * history that diverged from the records (a state directory put back, two
 * sites each on one token): nothing in it is used or changed, as its keys
 * may be newer.
 */
int p11_anchor_relation(struct p11_store *st, size_t i, uint64_t mgen, const uint8_t *mbuf,
			size_t mlen, uint64_t gen, const uint8_t *now, size_t len)
{
	if (mgen == gen && mlen == len && !CRYPTO_memcmp(mbuf, now, len))
		return 1;
	/*
	 * The same records, other members named (a follower that stored an
	 * anchor its deadline then gave up on, the store failed over and
	 * stored one naming fewer): behind, re-anchored when brought up.
	 */
	if (mgen < gen || (mgen == gen && mlen >= P11_ANCHOR_LEN && len >= P11_ANCHOR_LEN &&
			   !CRYPTO_memcmp(mbuf, now, P11_ANCHOR_LEN)))
		return 0;
	st->m[i].foreign = st->m[i].diverged = true;
	return log_errno(EXDEV, "pkcs11: token '%s' has an anchor (generation %llu) that is not the key store's (generation %llu): its history diverged from the records; it is not used and nothing in it is changed",
			 p11_member_label(st, i), (unsigned long long)mgen, (unsigned long long)gen);
}

/* Member @i was left out by the operator: never used (-EXDEV, logged once). */
static int left_out(struct p11_store *st, size_t i)
{
	struct p11_member *m = &st->m[i];

	if (m->fenced)
		return -EXDEV;
	m->fenced = m->foreign = true;
	return log_errno(EXDEV, "pkcs11: %s '%s' was left out of the key store by the operator (hsmkeyd --leave-out-absent while it was away): it is not used, and nothing in it is changed; re-initialise it to make it a member again",
			 i < st->nm ? "token" : "the backup token", p11_member_label(st, i));
}

/*
 * Member @i's identity (hsmkey:member, made at first use).  Two URIs may
 * select one token (by label and by serial, through p11-kit and directly):
 * the one found to be another's is its twin and never used, so that one
 * token is not counted, and failed over to, as two; the backup token (at
 * st->nm) found to be a member is refused likewise.
 */
int p11_member_id(struct p11_store *st, size_t i)
{
	struct p11_member *m = &st->m[i];
	int r;

	if (m->twin || m->fenced)
		return -EXDEV;
	if (m->have_id)
		return is_fenced(st, m->id) ? left_out(st, i) : 0;
	r = hsm_member(m->hsm, m->id);
	m->have_id = !r;
	if (!r && is_fenced(st, m->id))
		return left_out(st, i);
	/* The one found later is the twin. */
	for (size_t j = 0; !r && j < st->nm; j++) {
		if (j == i || !st->m[j].have_id || CRYPTO_memcmp(st->m[j].id, m->id, HSM_MEMBER_LEN))
			continue;
		m->twin = m->foreign = true;
		m->twin_of = j;
		return log_errno(EXDEV, "pkcs11: %s '%s' is token '%s' of the key store, selected by another URI: it is not used",
				 i < st->nm ? "token" : "the backup token", p11_member_label(st, i),
				 p11_member_label(st, j));
	}
	return r;
}

void p11_fences_from(struct p11_store *st, const uint8_t *buf, size_t len)
{
	struct anchor_tail t;

	st->nfenced = 0;
	if (parse_tail(buf, len, &t))
		return;
	for (size_t k = 0; k < t.nfenced; k++)
		fence(st, t.fenced + k * HSM_MEMBER_LEN);
}

/* Those left out, as every member that answers with the store's secrets knows them. */
static void read_fences(struct p11be *p, const struct anchors *a)
{
	struct p11_store *st = &p->st;
	struct anchor_tail t;

	st->nfenced = 0;
	for (size_t i = 0; i < st->nm; i++) {
		if (!a->ok[i] || parse_tail(a->buf[i], a->len[i], &t) ||
		    (p->have_instance && CRYPTO_memcmp(a->inst[i], p->instance, HSMKEY_OWNER_LEN)))
			continue;
		for (size_t k = 0; k < t.nfenced; k++)
			fence(st, t.fenced + k * HSM_MEMBER_LEN);
	}
}

/*
 * The member to load against: of those answering that hold the store's
 * secrets (a member not joined yet does not) and were not left out, the
 * one whose anchor is newest, the first of equals.
 */
static int read_anchors(struct p11be *p, struct anchors *a, size_t *best)
{
	struct p11_store *st = &p->st;
	int first = 0;
	bool any = false;

	for (size_t i = 0; i < st->nm; i++) {
		int r;

		/* One token: no member to tell apart, nothing to make in it. */
		if (st->m[i].foreign || (st->nm > 1 && p11_member_id(st, i) == -EXDEV))
			continue;
		r = read_anchor(st, i, a);
		a->ok[i] = !r;
		a->blank[i] = r == -ENOENT;
		if (r && r != -ENOENT)
			first = first ?: r;
	}
	read_fences(p, a);
	for (size_t i = 0; i < st->nm; i++) {
		if (!a->ok[i])
			continue;
		if (st->m[i].have_id && is_fenced(st, st->m[i].id)) {
			a->ok[i] = false;
			left_out(st, i);
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
				 p11_member_label(st, *best));
	if (any && !p->have_instance) {
		memcpy(p->instance, a->inst[*best], HSMKEY_OWNER_LEN);
		p->have_instance = true;
	}
	for (size_t i = 0; any && i < st->nm; i++) {
		if (!a->ok[i] || !CRYPTO_memcmp(a->inst[i], p->instance, HSMKEY_OWNER_LEN))
			continue;
		a->ok[i] = false;
		p11_not_ours(st, i);
	}
	if (!any && !first)
		return hsm_fail(st->hsm, -EHOSTDOWN, "has not joined the key store, and no token that holds its secrets answers (new tokens for lost ones: hsmkeyctl restore)");
	return any ? 0 : first ?: -EHOSTDOWN;
}

/* The anchor of the member in use. */
int p11_store_anchor(struct p11_store *st, uint64_t *gen, uint8_t *buf, size_t *len)
{
	return p11_load_anchor(st->hsm, gen, buf, len);
}

static bool others_down(const struct p11_store *st, const struct anchors *a)
{
	for (size_t i = 0; i < st->nm; i++)
		if (!a->ok[i] && !a->blank[i] && !st->m[i].foreign)
			return true;
	return false;
}

/* The member @id answered, with the store's secrets. */
static bool answered(const struct p11_store *st, const struct anchors *a, const uint8_t *id)
{
	for (size_t j = 0; j < st->nm; j++)
		if (a->ok[j] && st->m[j].have_id && !CRYPTO_memcmp(st->m[j].id, id, HSM_MEMBER_LEN))
			return true;
	return false;
}

/*
 * @id, named in step by an anchor, for messages: the member that has it
 * (known to this process), or those that do not answer.
 */
static void absent_name(const struct p11_store *st, const struct anchors *a, const uint8_t *id,
			char *buf, size_t len)
{
	char hex[2 * HSM_MEMBER_LEN + 1];
	size_t off = 0;

	for (size_t j = 0; j < st->nm; j++)
		if (st->m[j].have_id && !CRYPTO_memcmp(st->m[j].id, id, HSM_MEMBER_LEN)) {
			snprintf(buf, len, "token '%s'", p11_member_label(st, j));
			return;
		}
	hex_encode(id, HSM_MEMBER_LEN, hex);
	for (size_t j = 0; j < st->nm && off < len; j++) {
		int n;

		if (a->ok[j] || a->blank[j] || st->m[j].foreign)
			continue;
		n = snprintf(buf + off, len - off, "%stoken '%s'", off ? " or " : "",
			     p11_member_label(st, j));
		off += n > 0 ? (size_t)n : 0;
	}
	snprintf(buf + off, len - off, off ? " (whichever is hsmkey:member %s)" :
		 "the token that is hsmkey:member %s (replaced, or no longer named by pkcs11_token)", hex);
}

/* @id, named by an anchor, lags behind in this process's own knowledge. */
static bool lagging(const struct p11_store *st, const uint8_t *id)
{
	for (size_t j = 0; j < st->nm; j++)
		if (st->m[j].have_id && st->m[j].lagging &&
		    !CRYPTO_memcmp(st->m[j].id, id, HSM_MEMBER_LEN))
			return true;
	return false;
}

/*
 * Every member that member @b's anchor names as in step with it answers;
 * if one does not, and the operator said to leave such out, it is left
 * out for good (*@left).  One that does not answer may have gone on taking
 * changes after @b fell behind, and the state directory may have been put
 * back to what @b vouches for: keys destroyed, revoked or narrowed since
 * would come back.  So the store waits for it, as it does for one that is
 * newer; but not for one this process saw miss a change and has not
 * brought up since (a reload: it cannot be newer than those in step).
 */
static int witnesses(struct p11_store *st, const struct anchors *a, size_t b, bool *left)
{
	struct anchor_tail t;
	char who[320];

	*left = false;
	if (parse_tail(a->buf[b], a->len[b], &t))
		return hsm_fail(st->m[b].hsm, -EPROTO, "its anchor is not one of ours");
	for (size_t k = 0; k < t.nstep; k++) {
		const uint8_t *id = t.step + k * HSM_MEMBER_LEN;

		if (answered(st, a, id) || lagging(st, id))
			continue;
		absent_name(st, a, id, who, sizeof(who));
		if (!st->leave_out)
			return hsm_fail(st->m[b].hsm, -EHOSTDOWN, "vouches for the records at generation %llu, when %s was in step with it too; that one does not answer and may have taken changes since: waiting for it (if lost for good: hsmkeyd --leave-out-absent)",
					(unsigned long long)a->gen[b], who);
		log_warn("pkcs11: the key store loaded as token '%s' vouches for it (generation %llu), without %s, in step with it then (--leave-out-absent): that token is left out of the key store for good, and any change it took after generation %llu is given up (re-initialise it to make it a member again)",
			 p11_member_label(st, b), (unsigned long long)a->gen[b], who,
			 (unsigned long long)a->gen[b]);
		fence(st, id);
		*left = true;
	}
	return 0;
}

int p11_members_load(struct p11be *p)
{
	struct p11_store *st = &p->st;
	struct anchors *a = calloc(1, sizeof(*a));
	uint8_t now[HSM_ANCHOR_MAX];
	size_t best = 0, len = sizeof(now);
	bool left = false;
	uint64_t gen;
	int r;

	if (!a)
		return -ENOMEM;
	/* In step is known again below, from the anchors. */
	for (size_t i = 0; i < st->nm; i++)
		st->m[i].synced = false;
	r = read_anchors(p, a, &best);
	if (!r) {
		p11_activate(st, best);
		r = witnesses(st, a, best, &left);
	}
	r = r ?: p11_store_load(st);
	if (r == -EBADMSG && st->nm > 1 && others_down(st, a)) {
		/* The newest anchor may be in a member that does not answer. */
		r = hsm_fail(st->hsm, -EHOSTDOWN, "does not vouch for the records (it missed changes) and another token of the key store, which may have them, is unreachable: waiting for it");
	}
	/* The store's anchor now (a load may have moved it on); each member's against it. */
	if (!r && st->nm > 1 && !p11_store_anchor(st, &gen, now, &len)) {
		for (size_t i = 0; i < st->nm; i++)
			if (i != st->active && a->ok[i])
				st->m[i].synced = p11_anchor_relation(st, i, a->gen[i], a->buf[i],
								      a->len[i], gen, now, len) == 1;
		for (size_t i = 0; i < st->nm; i++)
			st->m[i].lagging &= !st->m[i].synced;
	}
	/* No longer naming the members that were not there to vouch; naming them left out. */
	if (!r && left)
		r = p11_store_reanchor(st);
	/* The operator's word covers the store as it was at start, not a later reload. */
	st->leave_out = false;
	free(a);
	return r;
}

/* @a and @b know each other's hsmkey:pair (kept in the tokens: once is enough, again is 0). */
int p11_introduce(struct p11_store *st, size_t a, size_t b)
{
	struct hsm_import_key pa, pb;

	return p11_member_id(st, a) ?: p11_member_id(st, b) ?:
	       hsm_pair_pub(st->m[a].hsm, &pa) ?: hsm_pair_pub(st->m[b].hsm, &pb) ?:
	       hsm_peer_add(st->m[a].hsm, st->m[b].id, &pb) ?:
	       hsm_peer_add(st->m[b].hsm, st->m[a].id, &pa);
}

/* One object copied from the member in use to @to; @r_src: the error was the source's. */
int p11_copy_obj(struct p11_store *st, size_t to, enum hsm_obj o, const uint8_t *id,
		 uint32_t version, int type, const char *name, bool *src_failed)
{
	uint8_t blob[HSM_COPY_MAX];
	size_t len = sizeof(blob);
	int r = p11_member_id(st, to);

	*src_failed = false;
	if (!r) {
		r = hsm_export(st->hsm, st->m[to].id, o, id, version, blob, &len);
		/*
		 * No such peer (two members that were each introduced to a
		 * third only: after a restore, a failover among three).
		 */
		if (r == -ENOENT && !p11_introduce(st, st->active, to)) {
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
			  p11_member_label(st, i));
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
		r = p11_copy_obj(st, i, HSM_OBJ_VERSION, k->id, version, k->type, k->name,
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

void p11_members_describe(struct p11be *p, char *buf, size_t len)
{
	struct p11_store *st = &p->st;
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < st->nm && off < len; i++) {
		enum hsm_state s = hsm_state(st->m[i].hsm, NULL, 0);
		const char *what = i == st->active ? "in use" :
				   st->m[i].twin ? "NOT USED: the same token as another" :
				   st->m[i].fenced ? "NOT USED: left out by the operator" :
				   st->m[i].diverged ? "NOT USED: its history diverged" :
				   st->m[i].foreign ? "NOT USED: another key store's" :
				   s != HSM_UP ? "down" :
				   st->m[i].synced ? "in step" : "out of step";
		int n = snprintf(buf + off, len - off, "%stoken '%s' (%s)", i ? ", " : "",
				 p11_member_label(st, i), what);

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
