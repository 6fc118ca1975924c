/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside the key store of several tokens: what members.c (the members,
 * their anchors, failover), catchup.c (a member joined or brought up to
 * date) and backup.c (the backup token) share.  Everything here runs under
 * the backend's lock (members.c says which fields are also read without).
 */
#ifndef HSMKEY_PKCS11_MEMBERS_H
#define HSMKEY_PKCS11_MEMBERS_H

#include "adapter.h"

/* Member @i's token label, for messages. */
const char *p11_member_label(const struct p11_store *st, size_t i);
/* Member @i is the one in use (published for lock-free readers). */
void p11_activate(struct p11_store *st, size_t i);
/* The settings every token of the key store (and the backup token) is opened with. */
struct hsm_config p11_token_config(struct p11be *p, const char *uri, bool join);
/* @h's anchor into @buf (*@len: its size in, length out); none (a store never changed): 0, 0. */
int p11_load_anchor(struct hsm *h, uint64_t *gen, uint8_t *buf, size_t *len);
/* The anchor of the member in use. */
int p11_store_anchor(struct p11_store *st, uint64_t *gen, uint8_t *buf, size_t *len);
/* A member's anchor against the store's: 1 the same, 0 older, -EXDEV diverged. */
int p11_anchor_relation(struct p11_store *st, size_t i, uint64_t mgen, const uint8_t *mbuf,
			size_t mlen, uint64_t gen, const uint8_t *now, size_t len);
/* Member @i is another key store's: never used (-EXDEV, logged). */
int p11_not_ours(struct p11_store *st, size_t i);
/* Member @i's hsmkey:member identity; -EXDEV: it is another member (a twin). */
int p11_member_id(struct p11_store *st, size_t i);
/* Members @a and @b know each other's hsmkey:pair. */
int p11_introduce(struct p11_store *st, size_t a, size_t b);
/* One object copied from the member in use to @to; *@src_failed: the error was the source's. */
int p11_copy_obj(struct p11_store *st, size_t to, enum hsm_obj o, const uint8_t *id,
		 uint32_t version, int type, const char *name, bool *src_failed);
/* The members left out, as the anchor @buf (@len) names them. */
void p11_fences_from(struct p11_store *st, const uint8_t *buf, size_t len);
/* Member @i (or the backup token, at st->nm) joined if new and brought up to date. */
int p11_sync_one(struct p11be *p, size_t i, struct ks_copy_report *rep);

#endif
