// SPDX-License-Identifier: GPL-2.0
/*
 * Events: what the module tells the daemon (and any CAP_SYS_ADMIN
 * listener) on the "events" multicast group, and how it keeps an
 * unprivileged user from drowning them.
 *
 * Anyone who can call setkey() can cause DENY and BIND events, so both are
 * limited per user: one user's flood uses up only that user's budget, and
 * a genuine denial caused by anyone else still goes out.  The user charged
 * is the effective uid in the initial user namespace, or, inside a user
 * namespace, the owner of the outermost one: the uids a user maps into its
 * namespaces are all that one user's.  Budgets are slots of the current
 * second; when every slot is in use, the users without one share a last,
 * common budget, so even many users cannot exceed a bounded rate.  A token naming a
 * key version that is not in the table is only counted, never announced:
 * it names nothing a listener could act on, and random tokens cost an
 * attacker nothing.  Held-back events take no sequence number and are
 * counted in HSMKEY_EVENT_A_SUPPRESSED instead, so a listener tells "held
 * back by the limit" (the counter grew) from "lost" (a gap in the
 * sequence).  Nothing here prints to the kernel log.
 *
 * The key table and the token code call in here; netlink.c hands over the
 * family once registered.  hsmkey_event_limit_lock protects the limiter
 * slots; hsmkey_event_send_lock makes taking a sequence number and sending
 * one step, so that listeners receive events in sequence order.  Callers
 * are in process context (setkey, netlink handlers, work items).
 */
#include <linux/cred.h>
#include <linux/jiffies.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/user_namespace.h>
#include "events.h"

#define HSMKEY_EVENT_LIMIT_SLOTS	64	/* the last one is shared */

/* One user's budget for one kind of event in the current second. */
struct hsmkey_event_budget {
	kuid_t uid;
	unsigned long start;		/* jiffies; 0: unused */
	unsigned int sent;
};

static struct hsmkey_event_budget hsmkey_deny_budget[HSMKEY_EVENT_LIMIT_SLOTS];
static struct hsmkey_event_budget hsmkey_bind_budget[HSMKEY_EVENT_LIMIT_SLOTS];
static DEFINE_SPINLOCK(hsmkey_event_limit_lock);
static DEFINE_MUTEX(hsmkey_event_send_lock);

static const struct genl_family *hsmkey_event_family;
static atomic64_t hsmkey_event_seq;
static atomic64_t hsmkey_event_suppressed;
static atomic64_t hsmkey_event_unknown;

/* The user to charge for the current task's events: see above. */
static kuid_t hsmkey_event_user(void)
{
	const struct user_namespace *ns = current_user_ns();

	if (ns == &init_user_ns)
		return current_euid();
	while (ns->parent != &init_user_ns)
		ns = ns->parent;
	return ns->owner;
}

static bool hsmkey_event_expired(const struct hsmkey_event_budget *b,
				 unsigned long now)
{
	return !b->start || time_after_eq(now, b->start + HZ);
}

/*
 * @uid's slot in @budget: its own, else one whose second is over, else the
 * shared last one.
 */
static struct hsmkey_event_budget *
hsmkey_event_slot(struct hsmkey_event_budget *budget, kuid_t uid,
		  unsigned long now)
{
	struct hsmkey_event_budget *free = NULL;
	int i;

	for (i = 0; i < HSMKEY_EVENT_LIMIT_SLOTS - 1; i++) {
		struct hsmkey_event_budget *b = &budget[i];

		if (b->start && uid_eq(b->uid, uid))
			return b;
		if (!free && hsmkey_event_expired(b, now))
			free = b;
	}
	if (!free)
		return &budget[HSMKEY_EVENT_LIMIT_SLOTS - 1];
	free->uid = uid;
	free->start = 0;
	return free;
}

/* May @type, caused by the current task, go out now? */
static bool hsmkey_event_allowed(u32 type)
{
	struct hsmkey_event_budget *budget, *b;
	unsigned int rate;
	unsigned long now = jiffies;
	bool ok;

	if (type == HSMKEY_EVENT_DENY) {
		budget = hsmkey_deny_budget;
		rate = HSMKEY_EVENT_DENY_RATE;
	} else if (type == HSMKEY_EVENT_BIND) {
		budget = hsmkey_bind_budget;
		rate = HSMKEY_EVENT_BIND_RATE;
	} else {
		return true;
	}
	spin_lock(&hsmkey_event_limit_lock);
	b = hsmkey_event_slot(budget, hsmkey_event_user(), now);
	if (hsmkey_event_expired(b, now)) {
		b->start = now ?: 1;
		b->sent = 0;
	}
	ok = b->sent < rate;
	if (ok)
		b->sent++;
	spin_unlock(&hsmkey_event_limit_lock);
	return ok;
}

/* An event's message: small, so a listener's buffer holds many. */
static size_t hsmkey_event_size(void)
{
	return nla_total_size(sizeof(u32)) * 5 +	/* type ... errno */
	       nla_total_size_64bit(sizeof(u64)) * 2 +	/* seq, suppressed */
	       nla_total_size(HSMKEY_ID_LEN) + nla_total_size(TASK_COMM_LEN);
}

static int hsmkey_event_fill(struct sk_buff *skb, u32 type, u64 seq,
			     const struct hsmkey_kid *kid, int err)
{
	char comm[TASK_COMM_LEN];

	get_task_comm(comm, current);
	if (nla_put_u32(skb, HSMKEY_EVENT_A_TYPE, type) ||
	    nla_put_u64_64bit(skb, HSMKEY_EVENT_A_SEQ, seq,
			      HSMKEY_EVENT_A_PAD) ||
	    nla_put_u64_64bit(skb, HSMKEY_EVENT_A_SUPPRESSED,
			      atomic64_read(&hsmkey_event_suppressed),
			      HSMKEY_EVENT_A_PAD) ||
	    nla_put(skb, HSMKEY_EVENT_A_KEY_ID, HSMKEY_ID_LEN, kid->id) ||
	    nla_put_u32(skb, HSMKEY_EVENT_A_KEY_VERSION, kid->version) ||
	    nla_put_u32(skb, HSMKEY_EVENT_A_UID,
			from_kuid_munged(&init_user_ns, current_uid())) ||
	    nla_put_u32(skb, HSMKEY_EVENT_A_PID, task_tgid_nr(current)) ||
	    nla_put_string(skb, HSMKEY_EVENT_A_COMM, comm) ||
	    (err && nla_put_u32(skb, HSMKEY_EVENT_A_ERRNO, -err)))
		return -EMSGSIZE;
	return 0;
}

/*
 * Multicast an event about @kid caused by the current task.  Process
 * context.  Every event that passes the limit takes the next sequence
 * number, listeners or not.
 */
void hsmkey_event(u32 type, const struct hsmkey_kid *kid, int err)
{
	const struct genl_family *family;
	struct sk_buff *skb;
	void *hdr;
	u64 seq;

	if (!hsmkey_event_allowed(type)) {
		atomic64_inc(&hsmkey_event_suppressed);
		return;
	}
	mutex_lock(&hsmkey_event_send_lock);
	seq = atomic64_inc_return(&hsmkey_event_seq);
	family = hsmkey_event_family;
	if (!family || !genl_has_listeners(family, &init_net, 0))
		goto out;
	skb = genlmsg_new(hsmkey_event_size(), GFP_KERNEL);
	if (!skb)
		goto out;
	hdr = genlmsg_put(skb, 0, 0, family, 0, HSMKEY_CMD_EVENT);
	if (!hdr || hsmkey_event_fill(skb, type, seq, kid, err)) {
		nlmsg_free(skb);
		goto out;
	}
	genlmsg_end(skb, hdr);
	genlmsg_multicast(family, skb, 0, 0, GFP_KERNEL);
out:
	mutex_unlock(&hsmkey_event_send_lock);
}

/* A token named a key version that is not in the table. */
void hsmkey_event_unknown_key(void)
{
	atomic64_inc(&hsmkey_event_unknown);
}

u64 hsmkey_events_sent(void)
{
	return atomic64_read(&hsmkey_event_seq);
}

u64 hsmkey_events_suppressed(void)
{
	return atomic64_read(&hsmkey_event_suppressed);
}

u64 hsmkey_events_unknown(void)
{
	return atomic64_read(&hsmkey_event_unknown);
}

/* Events before this (KUnit runs first on 6.1) are counted, not sent. */
void hsmkey_events_start(const struct genl_family *family)
{
	mutex_lock(&hsmkey_event_send_lock);
	hsmkey_event_family = family;
	mutex_unlock(&hsmkey_event_send_lock);
}

/* When it returns, no event is being sent: the family may go. */
void hsmkey_events_stop(void)
{
	mutex_lock(&hsmkey_event_send_lock);
	hsmkey_event_family = NULL;
	mutex_unlock(&hsmkey_event_send_lock);
}
