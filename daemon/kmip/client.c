// SPDX-License-Identifier: GPL-2.0
/*
 * The KMIP client's servers, connections and failover (client.h).
 *
 * Locking: c->lock guards the pool of idle connections and c->preferred;
 * it is never held across network I/O.  A connection taken from the pool
 * belongs to that call alone until it is put back or closed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kmip/client.h"
#include "kmip/conn.h"
#include "util.h"

/* A connection, and what was agreed with its server. */
struct kmip_link {
	struct kmip_conn *conn;
	struct kmip_version v;
	time_t idle_since;
};

struct kmip_server {
	char addr[256];
	struct kmip_link idle[KMIP_IDLE_MAX];
	unsigned int nidle;
};

struct kmip_client {
	struct kmip_tls *tls;
	int timeout_ms;
	unsigned int nservers, preferred;
	struct kmip_server servers[KMIP_SERVERS_MAX];
	pthread_mutex_t lock;
};

/* What hsmkey speaks, newest first: the version is the first both know. */
static const struct kmip_version ours[] = { { 1, 4 }, { 1, 3 }, { 1, 2 } };

int kmip_client_new(const struct kmip_client_config *cfg, struct kmip_client **out, char *why,
		    size_t whylen)
{
	struct kmip_client *c;
	char host[256], port[8];
	unsigned int i;
	int r;

	if (!cfg->nservers || cfg->nservers > KMIP_SERVERS_MAX) {
		snprintf(why, whylen, "kmip_server: between 1 and %d servers", KMIP_SERVERS_MAX);
		return -EINVAL;
	}
	for (i = 0; i < cfg->nservers; i++) {
		if (strlen(cfg->servers[i]) >= sizeof(c->servers[i].addr) ||
		    kmip_split_server(cfg->servers[i], host, sizeof(host), port, sizeof(port))) {
			snprintf(why, whylen, "kmip_server: not HOST:PORT: %s", cfg->servers[i]);
			return -EINVAL;
		}
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	r = kmip_tls_new(cfg->ca, cfg->cert, cfg->key, &c->tls, why, whylen);
	if (r) {
		free(c);
		return r;
	}
	for (i = 0; i < cfg->nservers; i++)
		strcpy(c->servers[i].addr, cfg->servers[i]);
	c->nservers = cfg->nservers;
	c->timeout_ms = cfg->timeout_ms;
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void kmip_client_free(struct kmip_client *c)
{
	unsigned int i, j;

	if (!c)
		return;
	for (i = 0; i < c->nservers; i++)
		for (j = 0; j < c->servers[i].nidle; j++)
			kmip_conn_close(c->servers[i].idle[j].conn);
	kmip_tls_free(c->tls);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

const char *kmip_client_server(const struct kmip_client *c, unsigned int i)
{
	return i < c->nservers ? c->servers[i].addr : "?";
}

void kmip_reply_free(struct kmip_reply *r)
{
	kmip_response_free(r->buf, r->len);
	memset(r, 0, sizeof(*r));
}

/* A pooled connection to server @s that is still good, or none. */
static bool take_idle(struct kmip_client *c, unsigned int s, struct kmip_link *l)
{
	struct kmip_server *sv = &c->servers[s];
	time_t now = time(NULL);
	bool found = false;

	pthread_mutex_lock(&c->lock);
	while (sv->nidle && !found) {
		*l = sv->idle[--sv->nidle];
		found = now - l->idle_since < KMIP_IDLE_SECONDS && kmip_conn_idle_ok(l->conn);
		if (!found)
			kmip_conn_close(l->conn);
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

static void put_idle(struct kmip_client *c, unsigned int s, struct kmip_link *l)
{
	struct kmip_server *sv = &c->servers[s];

	l->idle_since = time(NULL);
	pthread_mutex_lock(&c->lock);
	if (sv->nidle < KMIP_IDLE_MAX) {
		sv->idle[sv->nidle++] = *l;
		l = NULL;
	}
	c->preferred = s;
	pthread_mutex_unlock(&c->lock);
	if (l)
		kmip_conn_close(l->conn);
}

static void build_discover(struct ttlv_out *o, const struct kmip_version *v, const void *arg)
{
	(void)arg;
	kmip_request_begin(o, v, 1);
	kmip_req_discover(o, ours, ARRAY_SIZE(ours));
	kmip_request_end(o);
}

/* One request on @l: the parsed answer into @r. */
static int exchange(struct kmip_link *l, const char *addr, kmip_build_fn build, const void *arg,
		    struct kmip_reply *r, bool *sent, char *why, size_t whylen)
{
	struct ttlv_out o;
	const uint8_t *req;
	size_t len;
	int e;

	*sent = false;
	ttlv_out_init(&o, KMIP_MSG_MAX);
	build(&o, &l->v, arg);
	e = ttlv_out_finish(&o, &req, &len);
	if (e) {
		snprintf(why, whylen, "cannot build the KMIP request: %s", strerror(-e));
		ttlv_out_free(&o);
		return e;
	}
	e = kmip_conn_call(l->conn, req, len, &r->buf, &r->len, sent, why, whylen);
	ttlv_out_free(&o);
	if (e)
		return e;
	e = kmip_response_parse(r->buf, r->len, &r->resp);
	if (e) {
		snprintf(why, whylen, "KMIP server %s: its answer is malformed", addr);
		kmip_reply_free(r);
	}
	return e;
}

/* The newest version of ours the server lists (it lists those it speaks). */
static int agree(struct kmip_link *l, const char *addr, char *why, size_t whylen)
{
	struct kmip_version theirs[KMIP_VERSIONS_MAX];
	struct kmip_result res;
	struct kmip_reply r = { 0 };
	unsigned int n = 0, i, j;
	bool sent;
	int e;

	l->v = ours[ARRAY_SIZE(ours) - 1];	/* asked in the oldest we speak */
	e = exchange(l, addr, build_discover, NULL, &r, &sent, why, whylen);
	if (e)
		return e;
	e = kmip_response_next(&r.resp, &res) == 1 ? kmip_result_errno(&res) : -EBADMSG;
	if (!e && res.has_payload)
		e = kmip_read_versions(&res.payload, theirs, ARRAY_SIZE(theirs), &n);
	kmip_reply_free(&r);
	for (i = 0; !e && i < n; i++)
		for (j = 0; j < ARRAY_SIZE(ours); j++)
			if (theirs[i].major == ours[j].major && theirs[i].minor == ours[j].minor) {
				l->v = ours[j];
				return 0;
			}
	snprintf(why, whylen, "KMIP server %s speaks none of KMIP 1.4, 1.3 and 1.2%s%s", addr,
		 e ? ": " : "", e ? strerror(-e) : "");
	return e ? e : -EPROTONOSUPPORT;
}

static int open_link(struct kmip_client *c, unsigned int s, struct kmip_link *l, char *why,
		     size_t whylen)
{
	int e;

	e = kmip_conn_open(c->tls, c->servers[s].addr, c->timeout_ms, &l->conn, why, whylen);
	if (e)
		return e;
	e = agree(l, c->servers[s].addr, why, whylen);
	if (e)
		kmip_conn_close(l->conn);
	return e;
}

/*
 * Server @s: 0 with the answer, or the error and whether the request may
 * have been carried out (@sent).  A pooled connection that fails (one the
 * server or a firewall dropped while idle) is replaced by a new one, once,
 * if the request had not gone out or may safely go again.
 */
static int try_server(struct kmip_client *c, unsigned int s, bool idempotent,
		      kmip_build_fn build, const void *arg, struct kmip_reply *r, bool *sent,
		      char *why, size_t whylen)
{
	struct kmip_link l;
	bool pooled = take_idle(c, s, &l);
	int e;

	*sent = false;
	if (!pooled) {
		e = open_link(c, s, &l, why, whylen);
		if (e)
			return e;
	}
	e = exchange(&l, c->servers[s].addr, build, arg, r, sent, why, whylen);
	if (e && pooled && (!*sent || idempotent)) {
		kmip_conn_close(l.conn);
		e = open_link(c, s, &l, why, whylen);
		if (e)
			return e;
		e = exchange(&l, c->servers[s].addr, build, arg, r, sent, why, whylen);
	}
	if (e) {
		kmip_conn_close(l.conn);
		return e;
	}
	r->server = s;
	r->version = l.v;
	put_idle(c, s, &l);
	return 0;
}

int kmip_client_call(struct kmip_client *c, bool idempotent, kmip_build_fn build,
		     const void *arg, struct kmip_reply *r, char *why, size_t whylen)
{
	unsigned int i, s, first;
	char last[384] = "";
	bool sent;
	int e;

	memset(r, 0, sizeof(*r));
	pthread_mutex_lock(&c->lock);
	first = c->preferred;
	pthread_mutex_unlock(&c->lock);
	for (i = 0; i < c->nservers; i++) {
		s = (first + i) % c->nservers;
		e = try_server(c, s, idempotent, build, arg, r, &sent, last, sizeof(last));
		if (!e)
			return 0;
		if (sent && !idempotent) {
			snprintf(why, whylen, "%s; the request may have been carried out", last);
			return -ECONNABORTED;
		}
	}
	if (c->nservers > 1)
		snprintf(why, whylen, "no KMIP server answered (of %u; the last: %s)", c->nservers,
			 last);
	else
		snprintf(why, whylen, "%s", last);
	return -EHOSTDOWN;
}
