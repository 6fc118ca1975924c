// SPDX-License-Identifier: GPL-2.0
/*
 * Listings: list and status, every key with what the kernel holds of it,
 * streamed in messages of at most PROTO_MAX_MSG.
 */
#include <unistd.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "proto.h"
#include "kms_kernel.h"
#include "provision.h"
#include "request.h"
#include "util.h"

/*
 * A listing streams (proto.h): chunks of "keys" and "foreign" entries,
 * each message within PROTO_MAX_MSG with room for the final message's
 * other fields; the last entries go in the reply.  The backend walk may
 * hold the backend's lock, so a chunk is sent during it only if the
 * socket takes it at once; otherwise it waits, as text, to be sent with
 * the deadline after the walk.
 */
#define CHUNK_BYTES	(PROTO_MAX_MSG - 8192)

struct chunk {
	struct chunk *next;
	size_t len;
	char text[];
};

struct listing {
	struct request *rq;
	struct json_object *keys, *foreign;	/* the chunk being filled */
	size_t bytes;
	struct chunk *queue, **tail;		/* chunks the client has not taken yet */
	const struct kernel_key *held;		/* one kernel dump, sorted */
	size_t nheld;
	bool have_kernel;
};

static int queue(struct listing *l, const char *text, size_t len)
{
	struct chunk *c = malloc(sizeof(*c) + len);

	if (!c)
		return -ENOMEM;
	c->next = NULL;
	c->len = len;
	memcpy(c->text, text, len);
	*l->tail = c;
	l->tail = &c->next;
	return 0;
}

/* After the walk: what the client has not taken, each with the deadline. */
static int drain(struct listing *l)
{
	int r = 0;

	while (l->queue) {
		struct chunk *c = l->queue;

		if (!r)
			r = reply_more(l->rq, c->text, c->len, true);
		l->queue = c->next;
		free(c);
	}
	l->tail = &l->queue;
	return r;
}

static int flush(struct listing *l)
{
	struct json_object *m = proto_reply_ok();
	const char *text;
	size_t len;
	int r;

	json_object_object_add(m, "more", json_object_new_boolean(1));
	json_object_object_add(m, "keys", l->keys);
	json_object_object_add(m, "foreign", l->foreign);
	text = json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN);
	len = strlen(text);
	r = l->queue ? -EAGAIN : reply_more(l->rq, text, len, false);
	if (r == -EAGAIN)
		r = queue(l, text, len);
	json_object_put(m);
	l->keys = json_object_new_array();
	l->foreign = json_object_new_array();
	l->bytes = 0;
	return r;
}

/* Add @o to array @field of the chunk (sent first if it would overflow). */
static int add(struct listing *l, bool foreign, struct json_object *o)
{
	size_t n = strlen(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) + 1;
	int r;

	if (l->bytes + n > CHUNK_BYTES && (r = flush(l))) {
		json_object_put(o);
		return r;
	}
	json_object_array_add(foreign ? l->foreign : l->keys, o);
	l->bytes += n;
	return 0;
}

static int list_one(const struct ks_key *key, void *arg)
{
	struct listing *l = arg;
	struct json_object *o = json_object_new_object();
	const struct kernel_key *kk;

	add_key_fields(o, key);
	if (ks_type_daemon(key->type)) {
		json_object_object_add(o, "kernel", json_object_new_string("never"));
	} else if (l->have_kernel) {
		kk = kernel_held_find(l->held, l->nheld, key->id, key->version);
		if (!kk)	/* a listing's row has a count, whatever the key */
			json_object_object_add(o, "bindings", json_object_new_int64(0));
		add_kernel_fields(o, kk);
	} else {
		json_object_object_add(o, "kernel", json_object_new_string("unknown"));
	}
	return add(l, false, o);
}

/*
 * Kernel keys this keystore does not own: provisioned by a daemon on
 * another state directory (or by hand).  Reported, never touched.
 */
static int add_foreign(struct listing *l)
{
	char id[2 * HSMKEY_ID_LEN + 1];
	int r = 0;

	for (size_t i = 0; !r && i < l->nheld; i++) {
		const struct kernel_key *kk = &l->held[i];
		struct json_object *o;

		if (kk->has_owner && !memcmp(kk->owner, instance(l->rq->d), HSMKEY_OWNER_LEN))
			continue;
		o = json_object_new_object();
		hex_encode(kk->id, HSMKEY_ID_LEN, id);
		json_object_object_add(o, "name", json_object_new_string(kk->name));
		json_object_object_add(o, "id", json_object_new_string(id));
		json_object_object_add(o, "version", json_object_new_int64(kk->version));
		r = add(l, true, o);
	}
	return r;
}

/* The kernel's data keys of this keystore (kms_kernel.h): live and spent. */
static struct json_object *data_keys(const struct listing *l)
{
	struct json_object *o = json_object_new_object();
	int64_t live = 0, spent = 0;

	for (size_t i = 0; i < l->nheld; i++) {
		const struct kernel_key *kk = &l->held[i];

		if (!kms_kernel_ours(l->rq->d, kk))
			continue;
		if (kk->state == HSMKEY_STATE_REVOKED)
			spent++;
		else
			live++;
	}
	json_object_object_add(o, "live", json_object_new_int64(live));
	json_object_object_add(o, "spent", json_object_new_int64(spent));
	return o;
}

/* One kernel dump and one backend walk, whatever the number of keys. */
static int list_keys(struct request *rq, struct kernel *k)
{
	struct kernel_key *held = NULL;
	struct listing l = { .rq = rq, .keys = json_object_new_array(),
			     .foreign = json_object_new_array() };
	int r = 0, d;

	l.tail = &l.queue;
	if (k && !kernel_held(k, &held, &l.nheld)) {
		l.held = held;
		l.have_kernel = true;
		r = add_foreign(&l);
	}
	if (!r)
		r = rq->d->be->ops->list(rq->d->be, NULL, list_one, &l);
	d = drain(&l);
	r = r ?: d;
	json_object_object_add(rq->reply, "keys", l.keys);
	if (l.have_kernel) {
		json_object_object_add(rq->reply, "foreign", l.foreign);
		json_object_object_add(rq->reply, "data_keys", data_keys(&l));
	} else {
		json_object_put(l.foreign);
	}
	free(held);
	if (r == -ETIMEDOUT || r == -EPIPE || r == -ECONNRESET)
		return fail(rq, r, "the client did not take the listing");
	return r ? fail(rq, r, "cannot list the keystore: %s", strerror(-r)) : 0;
}

int op_list(struct request *rq)
{
	struct kernel *k = NULL;
	int r;

	kernel_open(&k);
	r = list_keys(rq, k);
	kernel_close(k);
	return r;
}

/* "backend": "up" or "degraded" and why; true when degraded. */
static bool add_backend_health(struct request *rq)
{
	struct backend *be = rq->d->be;
	char why[256] = "";
	int r = be->ops->health ? be->ops->health(be, why, sizeof(why)) : 0;

	json_object_object_add(rq->reply, "backend", json_object_new_string(r ? "degraded" : "up"));
	if (*why)
		json_object_object_add(rq->reply, "backend_reason", json_object_new_string(why));
	if (!r && !rq->d->audit)
		json_object_object_add(rq->reply, "backend_reason",
				       json_object_new_string("reachable again; resuming"));
	return r != 0;
}

/* "delivery": why keys cannot reach the kernel, when the storage knows. */
static void add_delivery(struct request *rq)
{
	struct backend *be = rq->d->be;
	char why[512];

	if (be->ops->undeliverable && be->ops->undeliverable(be, why, sizeof(why)))
		json_object_object_add(rq->reply, "delivery", json_object_new_string(why));
}

int op_status(struct request *rq)
{
	struct json_object *ko = json_object_new_object();
	struct kernel_info info;
	struct kernel *k = NULL;
	bool degraded;
	int r;

	json_object_object_add(rq->reply, "daemon_version", json_object_new_string(HSMKEY_VERSION));
	json_object_object_add(rq->reply, "pid", json_object_new_int(getpid()));
	json_object_object_add(rq->reply, "state_dir", json_object_new_string(rq->d->state_dir));
	json_object_object_add(rq->reply, "keystore", json_object_new_string(rq->d->be->ops->name));
	json_object_object_add(rq->reply, "destruction",
			       json_object_new_string(rq->d->be->ops->destruction));
	json_object_object_add(rq->reply, "deletion_wait",
			       json_object_new_int64(deletion_wait(rq->d)));
	json_object_object_add(rq->reply, "kernel", ko);
	degraded = add_backend_health(rq);
	add_delivery(rq);
	if (!kernel_open(&k) && !kernel_info(k, &info)) {
		json_object_object_add(ko, "loaded", json_object_new_boolean(1));
		json_object_object_add(ko, "version", json_object_new_string(info.version));
		json_object_object_add(ko, "keys", json_object_new_int64(info.nkeys));
		json_object_object_add(ko, "xts_driver", json_object_new_string(info.inner_xts));
		json_object_object_add(ko, "tls_sessions", json_object_new_int64(info.sessions));
		json_object_object_add(ko, "tls_sessions_bound",
				       json_object_new_int64(info.sessions_bound));
	} else {
		json_object_object_add(ko, "loaded", json_object_new_boolean(0));
	}
	if (degraded) {
		/* No key can be read: the kernel's keep working, unlisted. */
		json_object_object_add(rq->reply, "keys", json_object_new_array());
		kernel_close(k);
		return 0;
	}
	r = list_keys(rq, k);
	kernel_close(k);
	return r;
}
