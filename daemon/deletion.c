// SPDX-License-Identifier: GPL-2.0
/*
 * Deletion: when the next scheduled destruction is due, and carrying out
 * those that are (every version revoked and removed from the kernel, then
 * destroyed in the backend, each recorded in the audit log).
 */
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "audit.h"
#include "audit_anchor.h"
#include "deletion.h"
#include "provision.h"
#include "proto.h"
#include "request.h"
#include "util.h"

/*
 * Destroy @key (its deletion is due): every version revoked and taken out
 * of the kernel first, so no binding outlives the material, then removed
 * from the backend.  A kernel that cannot be reached postpones it.
 */
static int destroy_key(struct daemon *d, const struct ks_key *key)
{
	struct request rq = { .d = d };
	struct kernel *k;
	int r;

	r = reach_kernel(&rq, &k);	/* no module: nothing loaded to revoke */
	if (!r && k)
		r = kernel_revoke_all(&rq, k, key, true);
	kernel_close(k);
	if (!r) {
		r = d->be->ops->destroy(d->be, key->name);
		if (r)
			snprintf(rq.err, sizeof(rq.err), "the keystore did not destroy it: %s",
				 strerror(-r));
	}
	if (d->audit) {
		struct audit_who me = { .uid = getuid(), .pid = getpid(), .comm = "hsmkeyd" };

		if (!audit_record(d->audit, &me, "destroy", key->name, key->current, r,
				  r ? rq.err : "every version destroyed"))
			audit_anchor(d);
	}
	if (r)
		log_error("cannot destroy key %s yet: %s; retrying later", key->name, rq.err);
	else
		log_info("destroyed key %s (%u versions): %s", key->name, key->current,
			 d->be->ops->destruction);
	return r;
}

struct due_ctx {
	int64_t now, next;
	struct ks_key *due;
	size_t ndue;
};

static int collect_due(const struct ks_key *key, void *arg)
{
	struct due_ctx *c = arg;
	struct ks_key *tmp;

	if (key->state != KS_PENDING_DELETION)
		return 0;
	if (key->delete_at > c->now) {
		if (!c->next || key->delete_at < c->next)
			c->next = key->delete_at;
		return 0;
	}
	tmp = realloc(c->due, (c->ndue + 1) * sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	c->due = tmp;
	c->due[c->ndue] = *key;
	ks_key_wipe(&c->due[c->ndue++]);
	return 0;
}

/*
 * @next_deletion: 0 unknown (look), -1 none pending, else when the first
 * pending one is due.
 */
void note_deletion(struct daemon *d, int64_t at)
{
	pthread_mutex_lock(&d->lock);
	if (d->next_deletion <= 0 || at < d->next_deletion)
		d->next_deletion = at;
	pthread_mutex_unlock(&d->lock);
}

int control_deletions_due(struct daemon *d)
{
	int64_t next, left;

	pthread_mutex_lock(&d->lock);
	next = d->next_deletion;
	pthread_mutex_unlock(&d->lock);
	if (next < 0)
		return -1;
	left = next - (int64_t)time(NULL);
	return left < 0 ? 0 : left > 3600 ? 3600 : (int)left;
}

void control_deletions_run(struct daemon *d)
{
	struct due_ctx c;

	pthread_mutex_lock(&d->mutate);
	c = (struct due_ctx){ .now = (int64_t)time(NULL) };
	pthread_mutex_lock(&d->lock);
	d->next_deletion = -1;	/* what the scan finds replaces it */
	pthread_mutex_unlock(&d->lock);
	d->be->ops->list(d->be, NULL, collect_due, &c);
	for (size_t i = 0; i < c.ndue; i++)
		if (destroy_key(d, &c.due[i]) && (!c.next || c.now + 60 < c.next))
			c.next = c.now + 60;	/* retry a failed one in a minute */
	free(c.due);
	if (c.next)
		note_deletion(d, c.next);
	pthread_mutex_unlock(&d->mutate);
}
