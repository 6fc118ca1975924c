// SPDX-License-Identifier: GPL-2.0
/*
 * The kept tls-handshake contexts (daemon/tls_cache.c), with real OpenSSL
 * contexts: what is listed, and that a context made while its key was
 * stopped (a forget by id or name, or the whole list cleared when the key
 * storage lost revocations) is used once and never listed.  Before the
 * clear moved the generation on, a context made across it was listed,
 * and its private key kept, after the clear.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include "tls_cache.h"
#include "tls_context.h"
#include "kselftest_harness.h"

/* A real client context (no identity key, the system's CAs). */
static struct tls_context *context(void)
{
	struct tls_request q = { .server = false };
	struct tls_context *t = NULL;
	char why[200] = "";

	if (tls_context_new(&t, &q, NULL, why, sizeof(why)))
		return NULL;
	return t;
}

static struct tls_cache_id id_of(uint8_t key, uint32_t version)
{
	struct tls_cache_id id = { .version = version };

	memset(id.key_id, key, sizeof(id.key_id));
	memset(id.digest, 0xd0 + key, sizeof(id.digest));
	return id;
}

/* Put a fresh context for @id as made under generation @gen; released at once. */
static int put(const struct tls_cache_id *id, const char *name, uint64_t gen)
{
	struct tls_context *t = context();
	struct tls_cached *c;

	if (!t)
		return -ENOMEM;
	c = tls_cache_put(id, name, gen, t);
	if (!c)
		return -ENOMEM;
	tls_cache_release(c);
	return 0;
}

/* Whether an entry for @id is listed (the hold taken to look is given back). */
static bool listed(const struct tls_cache_id *id)
{
	struct tls_cached *c = tls_cache_get(id);
	bool found = c;

	tls_cache_release(c);
	return found;
}

/* Each test runs in a child of its own (the harness forks): an empty list. */
TEST(listed_and_found_by_the_whole_id)
{
	struct tls_cache_id a = id_of(1, 1), v2 = id_of(1, 2), other = a;

	other.digest[0] ^= 1;
	ASSERT_EQ(0, put(&a, "k1", tls_cache_generation()));
	EXPECT_TRUE(listed(&a));
	EXPECT_FALSE(listed(&v2));	/* another version */
	EXPECT_FALSE(listed(&other));	/* another certificate, CA or ALPN */
}

TEST(forget_by_id_and_by_name)
{
	struct tls_cache_id a = id_of(1, 1), b = id_of(2, 1);

	ASSERT_EQ(0, put(&a, "k1", tls_cache_generation()));
	ASSERT_EQ(0, put(&b, "k2", tls_cache_generation()));
	tls_cache_forget(a.key_id);
	EXPECT_FALSE(listed(&a));
	EXPECT_TRUE(listed(&b));
	tls_cache_forget_name("k2");
	EXPECT_FALSE(listed(&b));
}

/* Made under the generation before a stop: used by its handshake, not listed. */
TEST(made_across_a_forget_is_not_listed)
{
	struct tls_cache_id a = id_of(1, 1);
	uint64_t gen = tls_cache_generation();

	tls_cache_forget_name("k1");
	ASSERT_EQ(0, put(&a, "k1", gen));
	EXPECT_FALSE(listed(&a));
	ASSERT_EQ(0, put(&a, "k1", tls_cache_generation()));	/* the control */
	EXPECT_TRUE(listed(&a));
}

TEST(made_across_a_clear_is_not_listed)
{
	struct tls_cache_id a = id_of(1, 1), b = id_of(2, 1);
	uint64_t gen = tls_cache_generation();

	ASSERT_EQ(0, put(&b, "k2", gen));
	tls_cache_clear();	/* revocations the storage could not queue */
	EXPECT_FALSE(listed(&b));
	ASSERT_EQ(0, put(&a, "k1", gen));
	EXPECT_FALSE(listed(&a));
	ASSERT_EQ(0, put(&a, "k1", tls_cache_generation()));	/* the control */
	EXPECT_TRUE(listed(&a));
}

/* A handshake's hold outlives the unlisting: its context stays usable. */
TEST(held_entry_outlives_its_unlisting)
{
	struct tls_cache_id a = id_of(1, 1);
	struct tls_context *t = context();
	struct tls_cached *c;
	SSL *ssl;

	ASSERT_NE(NULL, t);
	c = tls_cache_put(&a, "k1", tls_cache_generation(), t);
	ASSERT_NE(NULL, c);
	tls_cache_clear();
	EXPECT_FALSE(listed(&a));
	ssl = SSL_new(tls_cached_context(c)->ctx);
	EXPECT_NE(NULL, ssl);
	SSL_free(ssl);
	tls_cache_release(c);
}

/* Full: the least recently used entry goes, not the first listed. */
TEST(full_list_drops_the_least_recently_used)
{
	struct tls_cache_id ids[TLS_CACHE_ENTRIES], late = id_of(0xff, 1);
	int gone = 0;

	for (int i = 0; i < TLS_CACHE_ENTRIES; i++) {
		ids[i] = id_of((uint8_t)(i + 1), 1);
		ASSERT_EQ(0, put(&ids[i], "k", tls_cache_generation()));
	}
	sleep(1);		/* the entries' times are in seconds */
	EXPECT_TRUE(listed(&ids[0]));	/* used again: now the most recent */
	ASSERT_EQ(0, put(&late, "k", tls_cache_generation()));
	EXPECT_TRUE(listed(&late));
	EXPECT_TRUE(listed(&ids[0]));
	for (int i = 1; i < TLS_CACHE_ENTRIES; i++)
		gone += !listed(&ids[i]);
	EXPECT_EQ(1, gone);
}

TEST(digest_names_role_certificate_ca_and_alpn)
{
	struct json_object *alpn = json_object_new_array();
	struct tls_request q = { .server = true, .cert = "C", .ca = "A" };
	uint8_t d0[32], d1[32];

	json_object_array_add(alpn, json_object_new_string("h2"));
	ASSERT_EQ(0, tls_cache_digest(&q, d0));
	ASSERT_EQ(0, tls_cache_digest(&q, d1));
	EXPECT_EQ(0, memcmp(d0, d1, 32));
	q.server = false;
	ASSERT_EQ(0, tls_cache_digest(&q, d1));
	EXPECT_NE(0, memcmp(d0, d1, 32));
	q.server = true;
	q.ca = "";
	ASSERT_EQ(0, tls_cache_digest(&q, d0));
	q.ca = NULL;	/* none, unlike an empty one */
	ASSERT_EQ(0, tls_cache_digest(&q, d1));
	EXPECT_NE(0, memcmp(d0, d1, 32));
	q.ca = "A";
	ASSERT_EQ(0, tls_cache_digest(&q, d0));
	q.alpn = alpn;
	ASSERT_EQ(0, tls_cache_digest(&q, d1));
	EXPECT_NE(0, memcmp(d0, d1, 32));
	json_object_put(alpn);
}

TEST_HARNESS_MAIN
