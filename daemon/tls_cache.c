// SPDX-License-Identifier: GPL-2.0
/*
 * The tls-handshake contexts kept for reuse (tls_cache.h): a short list
 * under one mutex.  An entry is held by each handshake using it (refs)
 * and by the list while listed; whoever drops the last hold frees it,
 * the SSL_CTX with the private key it holds, if any (OpenSSL wipes it).  Entries
 * made TLS_CACHE_SECONDS ago are dropped by the event loop's timer
 * (tls_cache_expire()); when the list is full the one least recently used
 * goes.
 *
 * A key stopped (tls_cache_forget(), or every key: tls_cache_clear())
 * while a handshake was making a context for it must not have that context
 * listed after the stop: each forget and clear moves a generation on, and
 * a context made under an older one is used once and never listed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "fetched.h"
#include "tls_cache.h"
#include "util.h"

struct tls_cached {
	struct tls_cache_id id;
	char name[HSMKEY_NAME_MAX];
	struct tls_context *t;
	int64_t made, used;
	int refs;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct tls_cached *list[TLS_CACHE_ENTRIES];
static uint64_t generation;

static void hash_str(EVP_MD_CTX *md, const char *s)
{
	EVP_DigestUpdate(md, s ?: "", s ? strlen(s) + 1 : 1);	/* with its NUL: unambiguous */
	EVP_DigestUpdate(md, s ? "+" : "-", 1);
}

int tls_cache_digest(const struct tls_request *q, uint8_t *digest)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t n = q->alpn ? json_object_array_length(q->alpn) : 0;
	int ok;

	ok = md && fetched_sha256() && EVP_DigestInit_ex(md, fetched_sha256(), NULL) == 1;
	if (ok) {
		EVP_DigestUpdate(md, q->server ? "s" : "c", 1);
		hash_str(md, q->cert);
		hash_str(md, q->ca);
		for (size_t i = 0; i < n; i++)
			hash_str(md, json_object_get_string(json_object_array_get_idx(q->alpn, i)));
		ok = EVP_DigestFinal_ex(md, digest, NULL) == 1;
	}
	EVP_MD_CTX_free(md);
	return ok ? 0 : -ENOMEM;
}

/* Under the lock: one hold less; the last frees it. */
static void drop(struct tls_cached *c)
{
	if (--c->refs)
		return;
	tls_context_free(c->t);
	free(c);
}

/* Under the lock: unlist entry @i. */
static void unlist(int i)
{
	struct tls_cached *c = list[i];

	list[i] = NULL;
	drop(c);
}

/* Under the lock: drop what is too old; the seconds until the next is, or -1. */
static int expire(int64_t now)
{
	int next = -1;

	for (int i = 0; i < TLS_CACHE_ENTRIES; i++) {
		int left;

		if (!list[i])
			continue;
		left = (int)(list[i]->made + TLS_CACHE_SECONDS - now);
		if (left <= 0)
			unlist(i);
		else if (next < 0 || left < next)
			next = left;
	}
	return next;
}

int tls_cache_expire(void)
{
	int next;

	pthread_mutex_lock(&lock);
	next = expire(monotonic_ms() / 1000);
	pthread_mutex_unlock(&lock);
	return next;
}

uint64_t tls_cache_generation(void)
{
	uint64_t g;

	pthread_mutex_lock(&lock);
	g = generation;
	pthread_mutex_unlock(&lock);
	return g;
}

struct tls_cached *tls_cache_get(const struct tls_cache_id *id)
{
	struct tls_cached *c = NULL;
	int64_t now = monotonic_ms() / 1000;

	pthread_mutex_lock(&lock);
	expire(now);
	for (int i = 0; i < TLS_CACHE_ENTRIES && !c; i++)
		if (list[i] && !memcmp(&list[i]->id, id, sizeof(*id)))
			c = list[i];
	if (c) {
		c->refs++;
		c->used = now;
	}
	pthread_mutex_unlock(&lock);
	return c;
}

/* Under the lock: a free slot, or the least recently used entry's, emptied. */
static int slot_for(void)
{
	int slot = 0;

	for (int i = 0; i < TLS_CACHE_ENTRIES; i++) {
		if (!list[i])
			return i;
		if (list[i]->used < list[slot]->used)
			slot = i;
	}
	unlist(slot);
	return slot;
}

struct tls_cached *tls_cache_put(const struct tls_cache_id *id, const char *name, uint64_t gen,
				 struct tls_context *t)
{
	struct tls_cached *c = calloc(1, sizeof(*c));
	int64_t now = monotonic_ms() / 1000;

	if (!c) {
		tls_context_free(t);
		return NULL;
	}
	c->id = *id;
	snprintf(c->name, sizeof(c->name), "%s", name ?: "");
	c->t = t;
	c->made = c->used = now;
	c->refs = 1;	/* the caller's */
	pthread_mutex_lock(&lock);
	expire(now);
	if (gen == generation) {
		c->refs++;	/* and the list's */
		list[slot_for()] = c;
	}
	pthread_mutex_unlock(&lock);
	return c;
}

struct tls_context *tls_cached_context(struct tls_cached *c)
{
	return c->t;
}

void tls_cache_release(struct tls_cached *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&lock);
	drop(c);
	pthread_mutex_unlock(&lock);
}

static void forget(const uint8_t *key_id, const char *name)
{
	pthread_mutex_lock(&lock);
	generation++;
	for (int i = 0; i < TLS_CACHE_ENTRIES; i++)
		if (list[i] && ((key_id && !memcmp(list[i]->id.key_id, key_id, HSMKEY_ID_LEN)) ||
				(name && !strcmp(list[i]->name, name))))
			unlist(i);
	pthread_mutex_unlock(&lock);
}

void tls_cache_forget(const uint8_t *key_id)
{
	forget(key_id, NULL);
}

void tls_cache_forget_name(const char *name)
{
	forget(NULL, name);
}

void tls_cache_clear(void)
{
	pthread_mutex_lock(&lock);
	generation++;	/* a context being made now is of a key it stops too */
	for (int i = 0; i < TLS_CACHE_ENTRIES; i++)
		if (list[i])
			unlist(i);
	pthread_mutex_unlock(&lock);
}
