// SPDX-License-Identifier: GPL-2.0
/*
 * Audit anchors: the latest audit record's sequence number and chain head
 * of each keystore instance, kept outside the log file where a root
 * process that is not the daemon cannot rewrite them, so that hsmkeyd can
 * tell a truncated or rewritten log from its own.
 *
 * An anchor only moves forward: a new sequence number must be larger, and
 * the same number is accepted again only with the same head (a daemon
 * restating what it already set).  Slots are few; when all are taken, the
 * least recently set slot of a keystore that has no key in the table is
 * reused, since no daemon of that keystore is provisioning this kernel.
 * hsmkey_anchor_lock protects the slots.
 */
#include <linux/mutex.h>
#include <linux/string.h>
#include "anchor.h"
#include "keys.h"

static struct hsmkey_anchor_slot {
	bool used;
	u64 stamp;			/* when last set: hsmkey_anchor_clock */
	u8 owner[HSMKEY_OWNER_LEN];
	struct hsmkey_anchor anchor;
} hsmkey_anchor_slots[HSMKEY_AUDIT_ANCHORS];

static DEFINE_MUTEX(hsmkey_anchor_lock);
static u64 hsmkey_anchor_clock;

static struct hsmkey_anchor_slot *hsmkey_anchor_find(const u8 *owner)
{
	int i;

	lockdep_assert_held(&hsmkey_anchor_lock);
	for (i = 0; i < HSMKEY_AUDIT_ANCHORS; i++) {
		struct hsmkey_anchor_slot *s = &hsmkey_anchor_slots[i];

		if (s->used && !memcmp(s->owner, owner, HSMKEY_OWNER_LEN))
			return s;
	}
	return NULL;
}

/* A free slot, else the stalest one whose keystore holds no key here. */
static struct hsmkey_anchor_slot *hsmkey_anchor_new(const u8 *owner)
{
	struct hsmkey_anchor_slot *pick = NULL;
	int i;

	lockdep_assert_held(&hsmkey_anchor_lock);
	for (i = 0; i < HSMKEY_AUDIT_ANCHORS; i++) {
		struct hsmkey_anchor_slot *s = &hsmkey_anchor_slots[i];

		if (!s->used) {
			pick = s;
			break;
		}
		if ((!pick || s->stamp < pick->stamp) &&
		    !hsmkey_keys_of_owner(s->owner))
			pick = s;
	}
	if (!pick)
		return NULL;
	memset(pick, 0, sizeof(*pick));
	pick->used = true;
	memcpy(pick->owner, owner, HSMKEY_OWNER_LEN);
	return pick;
}

void hsmkey_anchor_get(const u8 *owner, struct hsmkey_anchor *out)
{
	struct hsmkey_anchor_slot *s;

	mutex_lock(&hsmkey_anchor_lock);
	s = hsmkey_anchor_find(owner);
	if (s)
		*out = s->anchor;
	else
		memset(out, 0, sizeof(*out));
	mutex_unlock(&hsmkey_anchor_lock);
}

int hsmkey_anchor_set(const u8 *owner, const struct hsmkey_anchor *in,
		      struct netlink_ext_ack *extack)
{
	struct hsmkey_anchor_slot *s;
	int err = 0;

	mutex_lock(&hsmkey_anchor_lock);
	s = hsmkey_anchor_find(owner);
	if (s && in->seq == s->anchor.seq &&
	    !memcmp(in->head, s->anchor.head, HSMKEY_AUDIT_HEAD_LEN))
		goto out;
	if (s && in->seq <= s->anchor.seq) {
		NL_SET_ERR_MSG(extack,
			       "the audit anchor only moves forward: the sequence number must grow");
		err = -ESTALE;
		goto out;
	}
	if (!s)
		s = hsmkey_anchor_new(owner);
	if (!s) {
		NL_SET_ERR_MSG(extack,
			       "every audit anchor slot belongs to a keystore with keys loaded");
		err = -ENOSPC;
		goto out;
	}
	s->anchor = *in;
	s->stamp = ++hsmkey_anchor_clock;
out:
	mutex_unlock(&hsmkey_anchor_lock);
	return err;
}
