// SPDX-License-Identifier: GPL-2.0
/*
 * The audit log's record MAC (daemon/audit.c, audit_mac()): HMAC-SHA256
 * written out by hand over a digest fetched once, checked against the
 * known answers of RFC 4231 and against OpenSSL's own HMAC over bodies of
 * every length around SHA-256's 64-byte block.
 *
 * audit_mac() keys with the log's 32-byte MAC key.  HMAC pads a key
 * shorter than the block with zeros, so an RFC 4231 key of 32 bytes or
 * fewer, zero-padded to 32, is the same key: cases 1 to 4 apply (cases 6
 * and 7 have 131-byte keys, case 5 a truncated output).
 */
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "audit_internal.h"
#include "util.h"
#include "kselftest_harness.h"

struct kat {
	const char *key, *data, *mac;	/* hex */
};

/* RFC 4231 section 4, HMAC-SHA-256 of test cases 1-4. */
static const struct kat rfc4231[] = {
	{ "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
	  "4869205468657265",
	  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
	{ "4a656665",
	  "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
	  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	  "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
	  "dddddddddddddddddddddddddddddddd",
	  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
	{ "0102030405060708090a0b0c0d0e0f10111213141516171819",
	  "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
	  "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
	  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
};

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s) / 2;

	if (n > cap || hex_decode(s, out, n))
		return (size_t)-1;
	return n;
}

FIXTURE(mac) {
	struct audit a;
};

FIXTURE_SETUP(mac)
{
	memset(&self->a, 0, sizeof(self->a));
	self->a.sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	ASSERT_NE(NULL, self->a.sha256);
}

FIXTURE_TEARDOWN(mac)
{
	EVP_MD_free(self->a.sha256);
}

TEST_F(mac, rfc4231_known_answers)
{
	for (size_t i = 0; i < sizeof(rfc4231) / sizeof(rfc4231[0]); i++) {
		uint8_t data[64], want[32], got[32];
		size_t dn = unhex(rfc4231[i].data, data, sizeof(data));

		memset(self->a.mac_key, 0, sizeof(self->a.mac_key));
		ASSERT_NE((size_t)-1, unhex(rfc4231[i].key, self->a.mac_key,
					    sizeof(self->a.mac_key)));
		ASSERT_NE((size_t)-1, dn);
		ASSERT_EQ((size_t)32, unhex(rfc4231[i].mac, want, sizeof(want)));
		ASSERT_EQ(0, audit_mac(&self->a, (const char *)data, dn, got));
		EXPECT_EQ(0, memcmp(want, got, 32)) TH_LOG("RFC 4231 case %zu", i + 1);
	}
}

/* Every body length from 0 to 200 bytes (inside, at and across blocks). */
TEST_F(mac, agrees_with_openssl_hmac)
{
	char body[200];
	uint8_t want[32], got[32];
	unsigned int wl;

	for (size_t i = 0; i < sizeof(self->a.mac_key); i++)
		self->a.mac_key[i] = (uint8_t)(0xa5 ^ i * 7);
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (char)('a' + i % 26);
	for (size_t n = 0; n <= sizeof(body); n++) {
		ASSERT_NE(NULL, HMAC(EVP_sha256(), self->a.mac_key, sizeof(self->a.mac_key),
				     (const uint8_t *)body, n, want, &wl));
		ASSERT_EQ(0, audit_mac(&self->a, body, n, got));
		ASSERT_EQ(0, memcmp(want, got, 32)) TH_LOG("a body of %zu bytes", n);
	}
}

/* A different key or one changed byte: another MAC. */
TEST_F(mac, key_and_body_bind)
{
	uint8_t m1[32], m2[32];

	memset(self->a.mac_key, 0x11, sizeof(self->a.mac_key));
	ASSERT_EQ(0, audit_mac(&self->a, "seq=1 op=create", 15, m1));
	ASSERT_EQ(0, audit_mac(&self->a, "seq=1 op=createX", 15, m2));
	EXPECT_EQ(0, memcmp(m1, m2, 32));
	ASSERT_EQ(0, audit_mac(&self->a, "seq=1 op=crEate", 15, m2));
	EXPECT_NE(0, memcmp(m1, m2, 32));
	self->a.mac_key[31] ^= 1;
	ASSERT_EQ(0, audit_mac(&self->a, "seq=1 op=create", 15, m2));
	EXPECT_NE(0, memcmp(m1, m2, 32));
}

/* No digest to compute with: an error, not a MAC. */
TEST_F(mac, a_missing_digest_is_an_error)
{
	uint8_t out[32];
	EVP_MD *md = self->a.sha256;

	self->a.sha256 = NULL;
	EXPECT_NE(0, audit_mac(&self->a, "x", 1, out));
	self->a.sha256 = md;
}

TEST_HARNESS_MAIN
