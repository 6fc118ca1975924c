// SPDX-License-Identifier: GPL-2.0
/*
 * Tokens: what setkey() receives instead of key bytes.  The layout is
 * struct hsmkey_token in uapi/linux/hsmkey.h.
 */
#include <crypto/algapi.h>
#include <linux/build_bug.h>
#include <linux/string.h>
#include "compat.h"
#include "events.h"
#include "token.h"

static bool hsmkey_is_token(const struct hsmkey_token *tok)
{
	return !memcmp(tok->magic, HSMKEY_TOKEN_MAGIC, sizeof(tok->magic)) &&
	       tok->format == HSMKEY_TOKEN_FORMAT &&
	       !memchr_inv(tok->reserved, 0, sizeof(tok->reserved)) &&
	       !memchr_inv(tok->reserved2, 0, sizeof(tok->reserved2));
}

/*
 * Resolve @buf and bind its key for @mode.  Bytes that are not a token
 * give 0 with *keyp == NULL: the caller's tfm stays unbound.  On success
 * *keyp holds a binding reference, released by hsmkey_key_unbind().
 */
int hsmkey_token_bind(const u8 *buf, unsigned int len, enum hsmkey_mode mode,
		      int (*prepare)(struct hsmkey_key *key, void *arg),
		      void *arg, struct hsmkey_key **keyp)
{
	const struct hsmkey_token *tok = (const void *)buf;
	struct hsmkey_key *key;
	struct hsmkey_kid kid;
	int err;

	BUILD_BUG_ON(sizeof(struct hsmkey_token) != HSMKEY_TOKEN_LEN);
	BUILD_BUG_ON(sizeof(struct hsmkey_kid) != HSMKEY_ID_LEN + 4);

	*keyp = NULL;
	if (len != HSMKEY_TOKEN_LEN)
		return -EINVAL;
	if (!hsmkey_is_token(tok))
		return 0;

	memcpy(kid.id, tok->key_id, sizeof(kid.id));
	kid.version = get_unaligned_be32(&tok->key_version);
	key = hsmkey_key_lookup(&kid);
	if (!key) {
		/* Counted, not announced: see events.c. */
		hsmkey_event_unknown_key();
		return -ENOKEY;
	}

	/* A wrong verifier must look exactly like an absent key. */
	if (!hsmkey_key_verifier_ok(key, tok->verifier) ||
	    key->type != tok->key_type) {
		err = -ENOKEY;
		goto err_put;
	}
	err = hsmkey_key_bind(key, mode, prepare, arg);
	if (err)
		goto err_put;
	atomic64_inc(&hsmkey_stats.binds);
	hsmkey_event(HSMKEY_EVENT_BIND, &kid, 0);
	*keyp = key;
	return 0;

err_put:
	hsmkey_key_put(key);
	atomic64_inc(&hsmkey_stats.denies);
	hsmkey_event(HSMKEY_EVENT_DENY, &kid, err);
	return err;
}
