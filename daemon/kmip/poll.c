// SPDX-License-Identifier: GPL-2.0
/*
 * Following the key server (store.h): every kmip_poll_interval (jittered
 * by up to a fifth either way, so that a fleet of hosts does not ask in
 * step), the state of every version this host holds, asked in batches of
 * GetAttributes.  The server is authoritative: a version whose object is
 * deactivated, compromised, destroyed or gone there revokes its key here
 * (a key is revoked as a whole), with the server's reason in the journal
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
	uint32_t version;
	char uid[KS_REF_MAX];
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
		return 0;
	for (i = 1; i <= key->current; i++) {
		if (ks_get_version(g->st->ks, key->name, i, false, &v) || !v.ref[0])
			continue;
		if (g->n == g->cap) {
			size_t cap = g->cap ? 2 * g->cap : 64;
			struct polled *p = realloc(g->v, cap * sizeof(*p));

			if (!p)
				return -ENOMEM;
			g->v = p;
			g->cap = cap;
		}
		snprintf(g->v[g->n].name, sizeof(g->v[0].name), "%s", key->name);
		g->v[g->n].version = i;
		snprintf(g->v[g->n].uid, sizeof(g->v[0].uid), "%s", v.ref);
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

/* @name revoked here because of the server: noted, and the daemon woken. */
static int revoke_here(struct kmip_store *st, const char *name, uint32_t version,
		       const char *why)
{
	struct ks_key cur;
	int r;

	pthread_mutex_lock(&st->lock);
	r = ks_get(st->ks, name, false, &cur);
	if (!r && !ks_key_revoked(&cur))
		r = ks_set_state(st->ks, name, KS_REVOKED);
	else if (!r)
		r = 1;	/* revoked already */
	pthread_mutex_unlock(&st->lock);
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

/* One round: every version's state asked, revocations applied. */
static int poll_once(struct kmip_store *st)
{
	struct polled *v = NULL;
	struct kmip_attrs *a;
	const char **uids;
	char why[512], reason[400];
	size_t n = 0, i;
	int *errs, r, revoked = 0;

	r = gather(st, &v, &n);
	if (r || !n) {
		free(v);
		return r;
	}
	uids = calloc(n, sizeof(*uids));
	errs = calloc(n, sizeof(*errs));
	a = calloc(n, sizeof(*a));
	r = uids && errs && a ? 0 : -ENOMEM;
	for (i = 0; !r && i < n; i++)
		uids[i] = v[i].uid;
	if (!r) {
		r = kmip_get_attrs_batch(st->client, uids, (unsigned int)n, a, errs, why, sizeof(why));
		kmip_note(st, r, why);
	}
	for (i = 0; !r && i < n; i++)
		if (revoked_why(errs[i], &a[i], reason, sizeof(reason)))
			revoked += revoke_here(st, v[i].name, v[i].version, reason) > 0;
	if (revoked)
		kmip_wake(st);
	free(uids);
	free(errs);
	free(a);
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
			revoked += revoke_here(st, v[i].name, v[i].version, why) > 0;
	if (revoked)
		kmip_wake(st);
	free(v);
}

static int64_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* The next wait: the interval, give or take up to a fifth of it. */
static int next_wait_ms(long long interval)
{
	uint32_t rnd = 0;
	long long ms = interval * 1000, spread = ms / 5;

	if (spread && RAND_bytes((uint8_t *)&rnd, sizeof(rnd)) == 1)
		ms += (long long)(rnd % (uint32_t)(2 * spread + 1)) - spread;
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
		r = poll_once(st);
		if (r != -EHOSTDOWN) {
			down_since = 0;
			continue;
		}
		if (!down_since)
			down_since = now_s();
		if (st->offline_grace >= 0 && now_s() - down_since >= st->offline_grace)
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
	if (!st->poll_interval)
		return 0;	/* not following the server: kmip_poll_interval = 0 */
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
	if (ev)
		memcpy(ev, st->events, n * sizeof(*ev));
	st->nevents = 0;
	st->events_lost = 0;
	pthread_mutex_unlock(&st->events_lock);
	if (!ev)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		fn(arg, ev[i].name, ev[i].version, ev[i].why);
	if (lost)
		log_warn("%u revocations by the KMIP server are in the journal only (too many at once for the audit log's queue)",
			 lost);
	free(ev);
	return 0;
}
