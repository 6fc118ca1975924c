// SPDX-License-Identifier: GPL-2.0
/*
 * Following the key server (store.h): every kmip_poll_interval (or up to
 * a fifth sooner, at random, so that a fleet of hosts does not ask in
 * step), the state of every version this host holds, asked in batches of
 * GetAttributes.  The server is authoritative: a version whose object is
 * deactivated, compromised or destroyed there, or not found in two rounds
 * in a row (a cluster's node that lags behind must not revoke a key just
 * made), revokes its key here (a key is revoked as a whole), with the
 * server's reason in the journal
 * and, through ->storage_events(), in the audit log; then comebacks_fd
 * wakes the daemon, whose reconciliation revokes the key in the kernel.
 *
 * The server unreachable for longer than offline_grace (when one is set)
 * revokes every key here in the same way: fail closed.
 *
 * The thread takes st->lock only to read and change the keystore, never
 * across a call to the server.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <openssl/rand.h>
#include "kmip/store.h"
#include "util.h"

/* One version of a key this host holds, as polled. */
struct polled {
	char name[HSMKEY_NAME_MAX];
	uint8_t id[HSMKEY_ID_LEN];
	uint32_t version;
	char uid[KS_REF_MAX];
	struct kmip_spent spent;	/* as stored here */
};

struct gather {
	struct polled *v;
	size_t n, cap;
	struct kmip_store *st;
};

static int gather_key(const struct ks_key *key, void *arg)
{
	struct gather *g = arg;
	struct ks_key v;
	uint32_t i;

	if (ks_key_revoked(key))
		return 0;	/* the server is told of it, or pending_retry() tells it */
	for (i = 1; i <= key->current; i++) {
		if (ks_get_version(g->st->ks, key->name, i, false, &v))
			continue;
		if (!v.ref[0]) {
			log_error("key %s version %u names no object on the KMIP server: its record is damaged; it is not followed",
				  key->name, i);
			continue;
		}
		if (g->n == g->cap) {
			size_t cap = g->cap ? 2 * g->cap : 64;
			struct polled *p = realloc(g->v, cap * sizeof(*p));

			if (!p)
				return -ENOMEM;
			g->v = p;
			g->cap = cap;
		}
		snprintf(g->v[g->n].name, sizeof(g->v[0].name), "%s", key->name);
		memcpy(g->v[g->n].id, key->id, HSMKEY_ID_LEN);
		g->v[g->n].version = i;
		snprintf(g->v[g->n].uid, sizeof(g->v[0].uid), "%s", v.ref);
		g->v[g->n].spent.requests = v.used_requests;
		g->v[g->n].spent.bytes = v.used_bytes;
		g->n++;
	}
	return 0;
}

/* Every version of every key not revoked here, with its object. */
static int gather(struct kmip_store *st, struct polled **out, size_t *n)
{
	struct gather g = { .st = st };
	int r;

	pthread_mutex_lock(&st->lock);
	r = ks_list(st->ks, NULL, gather_key, &g);
	pthread_mutex_unlock(&st->lock);
	if (r) {
		free(g.v);
		return r;
	}
	*out = g.v;
	*n = g.n;
	return 0;
}

static const char *state_name(uint32_t s)
{
	switch (s) {
	case KMIP_STATE_DEACTIVATED:
		return "deactivated";
	case KMIP_STATE_COMPROMISED:
		return "compromised";
	case KMIP_STATE_DESTROYED:
		return "destroyed";
	case KMIP_STATE_DESTROYED_COMPROMISED:
		return "destroyed (compromised)";
	default:
		return NULL;	/* pre-active, active: usable */
	}
}

/* Why the server's answer for one version revokes its key, or NULL. */
static const char *revoked_why(int err, const struct kmip_attrs *a, char *why, size_t len)
{
	const char *s;

	if (err == -ENOENT) {
		snprintf(why, len, "its object is no longer on the KMIP server");
		return why;
	}
	if (err)
		return NULL;	/* unreadable: no guess either way */
	s = state_name(a->state);
	if (!s)
		return NULL;
	snprintf(why, len, "%s on the KMIP server%s%s", s, a->revocation_message[0] ? ": " : "",
		 a->revocation_message);
	return why;
}

void kmip_event_add(struct kmip_store *st, const char *name, uint32_t version, const char *why)
{
	struct kmip_event *e;

	pthread_mutex_lock(&st->events_lock);
	if (st->nevents < KMIP_EVENTS_MAX) {
		e = &st->events[st->nevents++];
		snprintf(e->name, sizeof(e->name), "%s", name);
		e->version = version;
		snprintf(e->why, sizeof(e->why), "%s", why);
	} else {
		st->events_lost++;
	}
	pthread_mutex_unlock(&st->events_lock);
}

/*
 * @p's key revoked here because of the server: noted, and the daemon
 * woken.  Only if its version @p->version is still the object polled (the
 * key may have been destroyed and a new one made under its name since).
 */
static int revoke_here(struct kmip_store *st, const struct polled *p, const char *why)
{
	const char *name = p->name;
	uint32_t version = p->version;
	struct ks_key cur, v;
	int r;

	pthread_mutex_lock(&st->lock);
	r = ks_get(st->ks, name, false, &cur);
	if (!r)
		r = ks_get_version(st->ks, name, version, false, &v);
	if (!r && (strcmp(v.ref, p->uid) || memcmp(v.id, p->id, HSMKEY_ID_LEN)))
		r = 1;	/* not the key polled */
	else if (!r && !ks_key_revoked(&cur))
		r = ks_set_state(st->ks, name, KS_REVOKED);
	else if (!r)
		r = 1;	/* revoked already */
	pthread_mutex_unlock(&st->lock);
	if (r == -ENOENT)
		return 0;	/* gone here meanwhile */
	if (r < 0)
		return log_errno(r, "key %s: %s, but cannot revoke it here: %s", name, why,
				 strerror(-r));
	if (r)
		return 0;
	log_warn("key %s version %u: %s: revoking the key here", name, version, why);
	kmip_event_add(st, name, version, why);
	return 1;
}

void kmip_wake(struct kmip_store *st)
{
	uint64_t one = 1;

	__atomic_add_fetch(&st->changes, 1, __ATOMIC_SEQ_CST);
	if (write(st->wake_fd, &one, sizeof(one)) < 0)
		log_warn("cannot wake the daemon: %s", strerror(errno));
}

static bool was_gone(const struct kmip_store *st, const char *uid)
{
	for (size_t i = 0; i < st->ngone; i++)
		if (!strcmp(st->gone[i], uid))
			return true;
	return false;
}

/*
 * The objects not found this round (@errs): kept for the next, and marked
 * 0 in @errs (no verdict yet) unless they were not found last round too.
 */
static void confirm_gone(struct kmip_store *st, const struct polled *v, int *errs, size_t n)
{
	char (*now)[KS_REF_MAX] = calloc(n, KS_REF_MAX);
	size_t k = 0, i;

	for (i = 0; i < n; i++) {
		if (errs[i] != -ENOENT)
			continue;
		if (now)
			snprintf(now[k++], KS_REF_MAX, "%s", v[i].uid);
		if (!was_gone(st, v[i].uid))
			errs[i] = -EAGAIN;	/* ask again next round */
	}
	free(st->gone);
	st->gone = now;
	st->ngone = now ? k : 0;
}

/*
 * The revocations the server has yet to be told: KMIP_PENDING_RECORD, a
 * line "NAME IDHEX" each (the key's id: a key made since under the same
 * name is not revoked for it).  Changed under st->pending_lock; the calls
 * to the server are made without it.
 */
#define PENDING_MAX	1024
#define PENDING_LINE	(HSMKEY_NAME_MAX + 2 * HSMKEY_ID_LEN + 2)

static int pending_load(struct kmip_store *st, char *buf)
{
	int n;

	pthread_mutex_lock(&st->lock);
	n = ks_record_load(st->ks, KMIP_PENDING_RECORD, buf, PENDING_MAX - 1);
	pthread_mutex_unlock(&st->lock);
	if (n == -ENOENT)
		n = 0;
	if (n < 0)
		return n;
	buf[n] = '\0';
	return 0;
}

static int pending_store(struct kmip_store *st, const char *buf)
{
	int r;

	pthread_mutex_lock(&st->lock);
	r = ks_record_store(st->ks, KMIP_PENDING_RECORD, buf, strlen(buf));
	pthread_mutex_unlock(&st->lock);
	return r;
}

/* @buf without its lines for @name (and, unless NULL, only that @line). */
static void pending_remove(char *buf, const char *name, const char *line)
{
	char out[PENDING_MAX] = "", *l, *save = NULL;
	size_t n = strlen(name), used = 0;

	for (l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		bool match = line ? !strcmp(l, line) : !strncmp(l, name, n) && l[n] == ' ';

		if (!match && used + strlen(l) + 2 <= sizeof(out))
			used += (size_t)snprintf(out + used, sizeof(out) - used, "%s\n", l);
	}
	strcpy(buf, out);
}

void kmip_pending_add(struct kmip_store *st, const char *name, const uint8_t *id, int err)
{
	char buf[PENDING_MAX], line[PENDING_LINE], hex[2 * HSMKEY_ID_LEN + 1];
	int r;

	hex_encode(id, HSMKEY_ID_LEN, hex);
	snprintf(line, sizeof(line), "%s %s", name, hex);
	pthread_mutex_lock(&st->pending_lock);
	r = pending_load(st, buf);
	if (!r) {
		pending_remove(buf, name, line);	/* not twice */
		if (strlen(buf) + strlen(line) + 2 > sizeof(buf))
			r = -ENOSPC;
		else
			r = pending_store(st, strcat(strcat(buf, line), "\n"));
	}
	pthread_mutex_unlock(&st->pending_lock);
	if (r)
		log_error("key %s is revoked here but not on the KMIP server (%s), and cannot be remembered for later (%s): revoke its objects on the server by hand",
			  name, strerror(-err), strerror(-r));
	else
		log_warn("key %s is revoked here; the KMIP server could not be told (%s) and is told when it answers",
			 name, strerror(-err));
}

void kmip_pending_drop(struct kmip_store *st, const char *name)
{
	char buf[PENDING_MAX];

	pthread_mutex_lock(&st->pending_lock);
	if (!pending_load(st, buf) && buf[0]) {
		pending_remove(buf, name, NULL);
		if (pending_store(st, buf))
			log_error("cannot update the revocations the KMIP server has yet to be told");
	}
	pthread_mutex_unlock(&st->pending_lock);
}

/*
 * One pending line told to the server: 0 (told, or nothing left to tell),
 * or -EHOSTDOWN (not now).  Any other failure is logged and given up.
 */
static int pending_tell(struct kmip_store *st, const char *line)
{
	char name[HSMKEY_NAME_MAX], hex[2 * HSMKEY_ID_LEN + 1], want[2 * HSMKEY_ID_LEN + 1];
	struct ks_key cur;
	int r;

	if (sscanf(line, "%63s %32s", name, want) != 2)
		return 0;
	pthread_mutex_lock(&st->lock);
	r = ks_get(st->ks, name, false, &cur);
	pthread_mutex_unlock(&st->lock);
	if (!r)
		hex_encode(cur.id, HSMKEY_ID_LEN, hex);
	if (r || strcmp(hex, want) || !ks_key_revoked(&cur))
		return 0;	/* gone, or another key by now */
	r = kmip_revoke_on_server(st, name);
	if (!r || r == -ENOENT)
		log_info("key %s: its revocation has reached the KMIP server", name);
	else if (r != -EHOSTDOWN)
		log_error("key %s: the KMIP server refuses its revocation (%s): revoke its objects on the server by hand",
			  name, strerror(-r));
	return r == -EHOSTDOWN ? r : 0;
}

/* The revocations the server has not been told yet: told now, if it answers. */
static void pending_retry(struct kmip_store *st)
{
	char buf[PENDING_MAX], done[PENDING_MAX], *line, *save = NULL;

	pthread_mutex_lock(&st->pending_lock);
	if (pending_load(st, buf))
		buf[0] = '\0';
	pthread_mutex_unlock(&st->pending_lock);
	if (!buf[0])
		return;
	strcpy(done, buf);
	for (line = strtok_r(done, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (pending_tell(st, line))
			break;	/* the server away: the rest next round */
		/* Told (or given up): off the record, as it is now. */
		pthread_mutex_lock(&st->pending_lock);
		if (!pending_load(st, buf)) {
			pending_remove(buf, "", line);
			if (pending_store(st, buf))
				log_error("cannot update the revocations the KMIP server has yet to be told");
		}
		pthread_mutex_unlock(&st->pending_lock);
	}
}

/*
 * After the round's revocations, which must not wait on it: the spent
 * counts (spent.c), version by version, until the server stops
 * answering, the rest then left for the next round.  Not those of a key
 * revoked (@revoked[i]: its name was, this round).
 */
static void sync_spent(struct kmip_store *st, const struct polled *v,
		       const struct kmip_attrs *a, const int *errs, const bool *revoked,
		       size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct kmip_spent_version sv = {
			v[i].name, v[i].id, v[i].version, v[i].uid, v[i].spent,
		};
		int r;

		if (errs[i] || revoked[i])
			continue;
		r = kmip_spent_sync(st, &sv, &a[i]);
		if (r == -EHOSTDOWN || r == -ETIMEDOUT || r == -ECONNABORTED)
			return;
	}
}

/* One round: every version's state asked, revocations applied, spent counts kept. */
static int poll_once(struct kmip_store *st)
{
	struct polled *v = NULL;
	struct kmip_attrs *a;
	const char **uids;
	char why[512], reason[400];
	size_t n = 0, i;
	int *errs, r, revoked = 0;
	bool *gone;

	r = gather(st, &v, &n);
	if (r || !n) {
		free(v);
		return r;
	}
	uids = calloc(n, sizeof(*uids));
	errs = calloc(n, sizeof(*errs));
	a = calloc(n, sizeof(*a));
	gone = calloc(n, sizeof(*gone));
	r = uids && errs && a && gone ? 0 : -ENOMEM;
	for (i = 0; !r && i < n; i++)
		uids[i] = v[i].uid;
	if (!r) {
		r = kmip_get_attrs_batch(st->client, uids, (unsigned int)n, a, errs, why, sizeof(why));
		kmip_note(st, r, why);
	}
	if (!r)
		confirm_gone(st, v, errs, n);
	for (i = 0; !r && i < n; i++) {
		if (!revoked_why(errs[i], &a[i], reason, sizeof(reason)))
			continue;
		revoked += revoke_here(st, &v[i], reason) > 0;
		for (size_t j = 0; j < n; j++)	/* the key as a whole */
			gone[j] = gone[j] || !strcmp(v[j].name, v[i].name);
	}
	if (revoked)
		kmip_wake(st);
	if (!r)
		sync_spent(st, v, a, errs, gone, n);
	free(uids);
	free(errs);
	free(a);
	free(gone);
	free(v);
	return r;
}

/* The server away for longer than offline_grace: every key revoked here. */
static void offline_expired(struct kmip_store *st)
{
	struct polled *v = NULL;
	char why[128];
	size_t n = 0, i;
	int revoked = 0;

	if (gather(st, &v, &n))
		return;
	snprintf(why, sizeof(why), "the KMIP server has been unreachable for longer than offline_grace (%llds)",
		 st->offline_grace);
	for (i = 0; i < n; i++)
		if (i == 0 || strcmp(v[i].name, v[i - 1].name))
			revoked += revoke_here(st, &v[i], why) > 0;
	if (revoked)
		kmip_wake(st);
	free(v);
}

/*
 * The next wait: the interval less up to a fifth of it, at random, so
 * that a fleet's hosts do not ask in step, and none waits longer than the
 * interval: a revocation on the server reaches this host within it and
 * one round of poll_once() (the wait begins when a round ends), which is
 * what an operator sets it for.
 */
static int next_wait_ms(long long interval)
{
	uint32_t rnd = 0;
	long long ms = interval * 1000, spread = ms / 5;

	if (spread && RAND_bytes((uint8_t *)&rnd, sizeof(rnd)) == 1)
		ms -= (long long)(rnd % (uint32_t)(spread + 1));
	return (int)(ms > 0 ? ms : 1);
}

static void *poller(void *arg)
{
	struct kmip_store *st = arg;
	struct pollfd p = { .fd = st->stop_fd, .events = POLLIN };
	int64_t down_since = 0;
	int r;

	for (;;) {
		r = poll(&p, 1, next_wait_ms(st->poll_interval));
		if (r > 0)
			break;		/* stopping */
		pending_retry(st);
		r = poll_once(st);
		if (r != -EHOSTDOWN) {
			down_since = 0;
			continue;
		}
		if (!down_since)
			down_since = monotonic_ms() / 1000;
		if (st->offline_grace >= 0 && monotonic_ms() / 1000 - down_since >= st->offline_grace)
			offline_expired(st);
	}
	return NULL;
}

int kmip_poll_start(struct kmip_store *st)
{
	int r;

	st->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	st->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (st->wake_fd < 0 || st->stop_fd < 0)
		return -errno;
	r = pthread_create(&st->poll_thread, NULL, poller, st);
	if (r)
		return -r;
	st->polling = true;
	return 0;
}

void kmip_poll_stop(struct kmip_store *st)
{
	uint64_t one = 1;

	if (st->polling && write(st->stop_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(st->poll_thread, NULL);
	st->polling = false;
	free(st->gone);
	st->gone = NULL;
	if (st->wake_fd >= 0)
		close(st->wake_fd);
	if (st->stop_fd >= 0)
		close(st->stop_fd);
}

int kmip_storage_events(struct kmip_store *st,
			void (*fn)(void *arg, const char *name, uint32_t version, const char *why),
			void *arg)
{
	struct kmip_event *ev;
	unsigned int n, lost, i;

	pthread_mutex_lock(&st->events_lock);
	n = st->nevents;
	lost = st->events_lost;
	ev = malloc(n * sizeof(*ev) + 1);
	if (ev) {
		memcpy(ev, st->events, n * sizeof(*ev));
		st->nevents = 0;
		st->events_lost = 0;
	}
	pthread_mutex_unlock(&st->events_lock);
	if (!ev)
		return -ENOMEM;	/* kept for the next call */
	for (i = 0; i < n; i++)
		fn(arg, ev[i].name, ev[i].version, ev[i].why);
	if (lost)
		fn(arg, NULL, 0, NULL);	/* some not named: see backend.h */
	if (lost)
		log_warn("%u revocations by the KMIP server are in the journal only (too many at once for the audit log's queue)",
			 lost);
	free(ev);
	return 0;
}
