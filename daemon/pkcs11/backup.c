// SPDX-License-Identifier: GPL-2.0
/*
 * The backup token (pkcs11_backup_token): hsmkeyctl backup brings it up
 * to date with the key store as any member is (catchup.c); hsmkeyctl
 * restore fills the store's tokens, all new and empty, from it, on the
 * operator's word for its records.  It is opened for one backup or
 * restore only, in the slot after the members.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "members.h"
#include "util.h"

/*
 * The backup token, opened for one backup or restore in the slot after
 * the members (no loop over the members reaches it), and up: its helper
 * is given pkcs11_timeout to log in.
 */
static int backup_open(struct p11be *p, struct ks_copy_report *rep)
{
	struct p11_store *st = &p->st;
	struct hsm_config hc = p11_token_config(p, p->cfg.pkcs11_backup_token, true);
	unsigned int waited = 0, limit = hc.timeout_ms ?: 10000;
	uint8_t inst[HSMKEY_OWNER_LEN];
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
	snprintf(rep->token, sizeof(rep->token), "%s", p11_member_label(st, st->nm));
	while (hsm_state(st->m[st->nm].hsm, why, sizeof(why)) != HSM_UP && waited < limit) {
		usleep(50 * 1000);
		waited += 50;
	}
	if (hsm_state(st->m[st->nm].hsm, why, sizeof(why)) != HSM_UP) {
		snprintf(rep->why, sizeof(rep->why), "the backup token does not answer: %s", why);
		r = -EHOSTDOWN;
	} else if (p->have_instance && !hsm_instance(st->m[st->nm].hsm, inst) &&
		   CRYPTO_memcmp(inst, p->instance, sizeof(inst))) {
		/* Before anything of ours is made in it. */
		snprintf(rep->why, sizeof(rep->why), "the backup token belongs to another key store");
		r = -EXDEV;
	} else {
		/* The members' ids first: a backup token that is one of them is found. */
		for (size_t i = 0; i < st->nm; i++)
			p11_member_id(st, i);
		if (p11_member_id(st, st->nm) == -EXDEV) {
			if (st->m[st->nm].fenced)
				snprintf(rep->why, sizeof(rep->why), "the backup token was left out of the key store by the operator: re-initialise it to use it again");
			else
				snprintf(rep->why, sizeof(rep->why), "the backup token is token '%s' of the key store, selected by another URI: a backup must be another token",
					 p11_member_label(st, st->m[st->nm].twin_of));
			r = -EXDEV;
		}
	}
	if (r) {
		hsm_close(st->m[st->nm].hsm);
		memset(&st->m[st->nm], 0, sizeof(st->m[st->nm]));
	}
	return r;
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
	r = p11_sync_one(p, st->nm, rep);
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
			 p11_member_label(st, i), r ? hsm_error() : "");
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
			 p11_member_label(st, st->active));
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
	p11_activate(st, bk);
	st->accept = true;
	r = p11_store_load(st);
	st->accept = false;	/* the operator's word covers this load only */
	if (!r) {
		uint8_t now[HSM_ANCHOR_MAX];
		size_t len = sizeof(now);
		uint64_t gen;

		/* Those left out stay out. */
		r = p11_store_anchor(st, &gen, now, &len);
		if (!r)
			p11_fences_from(st, now, len);
	}
	for (size_t i = 0; !r && i < st->nm; i++) {
		struct ks_copy_report one = { 0 };

		r = p11_sync_one(p, i, &one);
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
	p11_activate(st, first < st->nm ? first : 0);
	if (first == st->nm)
		st->m[0].synced = false;
	/*
	 * Each member was given the backup's anchor: the store anchored anew
	 * in them, naming them in step (and not the backup token, which
	 * keeps its own), not failed over during it.
	 */
	if (!r) {
		st->no_failover = true;
		r = p11_store_reanchor(st);
		st->no_failover = false;
		if (r)
			snprintf(rep->why, sizeof(rep->why), "%s", hsm_error());
	}
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
