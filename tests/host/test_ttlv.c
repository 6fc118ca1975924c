// SPDX-License-Identifier: GPL-2.0
/*
 * KMIP's TTLV encoding (daemon/kmip/ttlv.h): the KMIP 1.2 specification's
 * own examples (§9.1.2) both ways, and every way a message can be
 * malformed refused.  PyKMIP, an independent implementation, checks the
 * same code in tests/host/test_kmip_ttlv.sh.
 */
#include <stdlib.h>
#include <string.h>
#include "kmip/message.h"
#include "kmip/tags.h"
#include "kmip/ttlv.h"
#include "kselftest_harness.h"

#define T 0x420020	/* the specification's example tag */

/* The specification's examples: a value, and its encoding. */
static const uint8_t v_int[] = {
	0x42, 0x00, 0x20, 0x02, 0, 0, 0, 4, 0, 0, 0, 8, 0, 0, 0, 0 };
static const uint8_t v_long[] = {
	0x42, 0x00, 0x20, 0x03, 0, 0, 0, 8, 0x01, 0xB6, 0x9B, 0x4B, 0xA5, 0x74, 0x92, 0x00 };
static const uint8_t v_big[] = {
	0x42, 0x00, 0x20, 0x04, 0, 0, 0, 0x10, 0, 0, 0, 0, 0x03, 0xFD, 0x35, 0xEB,
	0x6B, 0xC2, 0xDF, 0x46, 0x18, 0x08, 0, 0 };
static const uint8_t v_enum[] = {
	0x42, 0x00, 0x20, 0x05, 0, 0, 0, 4, 0, 0, 0, 0xFF, 0, 0, 0, 0 };
static const uint8_t v_bool[] = {
	0x42, 0x00, 0x20, 0x06, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1 };
static const uint8_t v_text[] = {
	0x42, 0x00, 0x20, 0x07, 0, 0, 0, 0x0B, 'H', 'e', 'l', 'l', 'o', ' ', 'W', 'o',
	'r', 'l', 'd', 0, 0, 0, 0, 0 };
static const uint8_t v_bytes[] = {
	0x42, 0x00, 0x20, 0x08, 0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 0, 0 };
static const uint8_t v_date[] = {
	0x42, 0x00, 0x20, 0x09, 0, 0, 0, 8, 0, 0, 0, 0, 0x47, 0xDA, 0x67, 0xF8 };
static const uint8_t v_interval[] = {
	0x42, 0x00, 0x20, 0x0A, 0, 0, 0, 4, 0, 0x0D, 0x2F, 0, 0, 0, 0, 0 };
static const uint8_t v_struct[] = {
	0x42, 0x00, 0x20, 0x01, 0, 0, 0, 0x20,
	0x42, 0x00, 0x04, 0x05, 0, 0, 0, 4, 0, 0, 0, 0xFE, 0, 0, 0, 0,
	0x42, 0x00, 0x05, 0x02, 0, 0, 0, 4, 0, 0, 0, 0xFF, 0, 0, 0, 0 };

/* What an encoder built, compared with @want; frees it. */
static int same(struct ttlv_out *o, const uint8_t *want, size_t n)
{
	const uint8_t *buf;
	size_t len;
	int r = ttlv_out_finish(o, &buf, &len);

	if (!r)
		r = len == n && !memcmp(buf, want, n) ? 0 : -1;
	ttlv_out_free(o);
	return r;
}

TEST(specification_examples_encode)
{
	struct ttlv_out o;

	ttlv_out_init(&o, 4096);
	ttlv_put_int(&o, T, 8);
	EXPECT_EQ(0, same(&o, v_int, sizeof(v_int)));
	ttlv_out_init(&o, 4096);
	ttlv_put_long(&o, T, 123456789000000000LL);
	EXPECT_EQ(0, same(&o, v_long, sizeof(v_long)));
	ttlv_out_init(&o, 4096);
	ttlv_put_raw(&o, T, TTLV_BIG, v_big + 8, 16);
	EXPECT_EQ(0, same(&o, v_big, sizeof(v_big)));
	ttlv_out_init(&o, 4096);
	ttlv_put_enum(&o, T, 255);
	EXPECT_EQ(0, same(&o, v_enum, sizeof(v_enum)));
	ttlv_out_init(&o, 4096);
	ttlv_put_bool(&o, T, true);
	EXPECT_EQ(0, same(&o, v_bool, sizeof(v_bool)));
	ttlv_out_init(&o, 4096);
	ttlv_put_text(&o, T, "Hello World");
	EXPECT_EQ(0, same(&o, v_text, sizeof(v_text)));
	ttlv_out_init(&o, 4096);
	ttlv_put_bytes(&o, T, "\1\2\3", 3);
	EXPECT_EQ(0, same(&o, v_bytes, sizeof(v_bytes)));
	ttlv_out_init(&o, 4096);
	ttlv_put_datetime(&o, T, 1205495800);	/* 2008-03-14 11:56:40 UTC */
	EXPECT_EQ(0, same(&o, v_date, sizeof(v_date)));
	ttlv_out_init(&o, 4096);
	ttlv_put_interval(&o, T, 10 * 86400);
	EXPECT_EQ(0, same(&o, v_interval, sizeof(v_interval)));
	ttlv_out_init(&o, 4096);
	ttlv_begin(&o, T);
	ttlv_put_enum(&o, 0x420004, 254);
	ttlv_put_int(&o, 0x420005, 255);
	ttlv_end(&o);
	EXPECT_EQ(0, same(&o, v_struct, sizeof(v_struct)));
}

TEST(specification_examples_decode)
{
	struct ttlv it, c;
	int32_t i;
	int64_t l;
	uint32_t e;
	bool b;
	char s[16];
	const uint8_t *p;
	uint32_t n;

	ASSERT_EQ(0, ttlv_decode(v_int, sizeof(v_int), &it));
	EXPECT_EQ(T, it.tag);
	ASSERT_EQ(0, ttlv_int(&it, &i));
	EXPECT_EQ(8, i);
	EXPECT_EQ(-EBADMSG, ttlv_enum(&it, &e));	/* the wrong type */
	ASSERT_EQ(0, ttlv_decode(v_long, sizeof(v_long), &it));
	ASSERT_EQ(0, ttlv_long(&it, &l));
	EXPECT_EQ(123456789000000000LL, l);
	ASSERT_EQ(0, ttlv_decode(v_big, sizeof(v_big), &it));
	EXPECT_EQ(TTLV_BIG, it.type);
	EXPECT_EQ(16, it.len);
	ASSERT_EQ(0, ttlv_decode(v_enum, sizeof(v_enum), &it));
	ASSERT_EQ(0, ttlv_enum(&it, &e));
	EXPECT_EQ(255, e);
	ASSERT_EQ(0, ttlv_decode(v_bool, sizeof(v_bool), &it));
	ASSERT_EQ(0, ttlv_bool(&it, &b));
	EXPECT_TRUE(b);
	ASSERT_EQ(0, ttlv_decode(v_text, sizeof(v_text), &it));
	ASSERT_EQ(0, ttlv_text(&it, s, sizeof(s)));
	EXPECT_STREQ("Hello World", s);
	EXPECT_EQ(-EMSGSIZE, ttlv_text(&it, s, 11));	/* no room for the NUL */
	ASSERT_EQ(0, ttlv_decode(v_bytes, sizeof(v_bytes), &it));
	ASSERT_EQ(0, ttlv_bytes(&it, &p, &n));
	ASSERT_EQ(3, n);
	EXPECT_EQ(0, memcmp(p, "\1\2\3", 3));
	ASSERT_EQ(0, ttlv_decode(v_date, sizeof(v_date), &it));
	ASSERT_EQ(0, ttlv_datetime(&it, &l));
	EXPECT_EQ(1205495800, l);
	ASSERT_EQ(0, ttlv_decode(v_interval, sizeof(v_interval), &it));
	ASSERT_EQ(0, ttlv_interval(&it, &e));
	EXPECT_EQ(864000, e);
	ASSERT_EQ(0, ttlv_decode(v_struct, sizeof(v_struct), &it));
	ASSERT_EQ(0, ttlv_get_enum(&it, 0x420004, &e));
	EXPECT_EQ(254, e);
	ASSERT_EQ(0, ttlv_get_int(&it, 0x420005, &i));
	EXPECT_EQ(255, i);
	EXPECT_EQ(-ENOENT, ttlv_get_int(&it, 0x420006, &i));
	EXPECT_EQ(-EBADMSG, ttlv_get_int(&it, 0x420004, &i));
	EXPECT_EQ(-EBADMSG, ttlv_get_struct(&it, 0x420004, &c));
	EXPECT_EQ(1, ttlv_count(&it, 0x420005));
}

/* A copy of @v with byte @at set to @b: decoding it must fail. */
static int mutated(const uint8_t *v, size_t n, size_t at, uint8_t b)
{
	uint8_t buf[64];
	struct ttlv it;

	memcpy(buf, v, n);
	buf[at] = b;
	return ttlv_decode(buf, n, &it);
}

TEST(malformed_refused)
{
	struct ttlv it;
	uint8_t buf[64];

	/* Padding that is not zero, in a leaf and in a structure's item. */
	EXPECT_EQ(-EBADMSG, mutated(v_int, sizeof(v_int), 15, 1));
	EXPECT_EQ(-EBADMSG, mutated(v_text, sizeof(v_text), 19, ' '));
	EXPECT_EQ(-EBADMSG, mutated(v_struct, sizeof(v_struct), 39, 1));
	/* A boolean other than 0 or 1. */
	EXPECT_EQ(-EBADMSG, mutated(v_bool, sizeof(v_bool), 15, 2));
	EXPECT_EQ(-EBADMSG, mutated(v_bool, sizeof(v_bool), 8, 1));
	/* Fixed-size types with another length (the padding still fits). */
	EXPECT_EQ(-EBADMSG, mutated(v_int, sizeof(v_int), 7, 8));
	EXPECT_EQ(-EBADMSG, mutated(v_enum, sizeof(v_enum), 7, 3));
	EXPECT_EQ(-EBADMSG, mutated(v_long, sizeof(v_long), 7, 4));
	/* No such type; a tag outside 0x42xxxx and 0x54xxxx. */
	EXPECT_EQ(-EBADMSG, mutated(v_int, sizeof(v_int), 3, 0x0B));
	EXPECT_EQ(-EBADMSG, mutated(v_int, sizeof(v_int), 3, 0x00));
	EXPECT_EQ(-EBADMSG, mutated(v_int, sizeof(v_int), 0, 0x43));
	EXPECT_EQ(0, mutated(v_int, sizeof(v_int), 0, 0x54));
	/* Lengths past the end: the item's, a structure's, a child's. */
	EXPECT_EQ(-EBADMSG, mutated(v_bytes, sizeof(v_bytes), 7, 9));
	EXPECT_EQ(-EBADMSG, mutated(v_bytes, sizeof(v_bytes), 4, 0x80));
	EXPECT_EQ(-EBADMSG, mutated(v_struct, sizeof(v_struct), 7, 0x28));
	EXPECT_EQ(-EBADMSG, mutated(v_struct, sizeof(v_struct), 15, 0x18));
	/* A structure's length that ends inside a child. */
	EXPECT_EQ(-EBADMSG, mutated(v_struct, sizeof(v_struct), 7, 0x18));
	/* A big integer's length must be a non-zero multiple of 8. */
	EXPECT_EQ(-EBADMSG, mutated(v_big, sizeof(v_big), 7, 0x0C));
	/* Truncated, and followed by anything. */
	EXPECT_EQ(-EBADMSG, ttlv_decode(v_struct, sizeof(v_struct) - 8, &it));
	EXPECT_EQ(-EBADMSG, ttlv_decode(v_int, 7, &it));
	EXPECT_EQ(-EBADMSG, ttlv_decode(v_int, 0, &it));
	memcpy(buf, v_int, sizeof(v_int));
	memcpy(buf + 16, v_int, sizeof(v_int));
	EXPECT_EQ(-EBADMSG, ttlv_decode(buf, 32, &it));
}

static int decode_text(const char *s)
{
	struct ttlv_out o;
	const uint8_t *buf;
	struct ttlv it;
	size_t len;
	int r;

	ttlv_out_init(&o, 256);
	ttlv_put_text(&o, T, s);
	r = ttlv_out_finish(&o, &buf, &len);
	if (!r)
		r = ttlv_decode(buf, len, &it);
	ttlv_out_free(&o);
	return r;
}

TEST(text_is_utf8)
{
	struct ttlv it;
	char s[8];

	EXPECT_EQ(0, decode_text("k\xc3\xa9y \xe2\x82\xac \xf0\x9f\x94\x91"));
	EXPECT_EQ(-EBADMSG, decode_text("\xc0\xaf"));		/* overlong '/' */
	EXPECT_EQ(-EBADMSG, decode_text("\xed\xa0\x80"));	/* a surrogate */
	EXPECT_EQ(-EBADMSG, decode_text("\xf4\x90\x80\x80"));	/* above U+10FFFF */
	EXPECT_EQ(-EBADMSG, decode_text("ab\xe2\x82"));		/* cut short */
	EXPECT_EQ(-EBADMSG, decode_text("\x80"));
	/* A NUL inside is valid UTF-8, but no C string. */
	{
		static const uint8_t nul[] = {
			0x42, 0x00, 0x20, 0x07, 0, 0, 0, 3, 'a', 0, 'b', 0, 0, 0, 0, 0 };

		ASSERT_EQ(0, ttlv_decode(nul, sizeof(nul), &it));
		EXPECT_EQ(-EBADMSG, ttlv_text(&it, s, sizeof(s)));
	}
}

/* @depth structures, one inside the other, the innermost empty. */
static int nested(unsigned int depth, uint8_t *buf)
{
	unsigned int i;

	for (i = 0; i < depth; i++) {
		uint32_t len = 8 * (depth - 1 - i);

		buf[8 * i] = 0x42, buf[8 * i + 1] = 0, buf[8 * i + 2] = 0x20;
		buf[8 * i + 3] = TTLV_STRUCTURE;
		buf[8 * i + 4] = len >> 24, buf[8 * i + 5] = len >> 16;
		buf[8 * i + 6] = len >> 8, buf[8 * i + 7] = len;
	}
	return 8 * depth;
}

TEST(depth_bounded)
{
	uint8_t buf[8 * (TTLV_DEPTH_MAX + 1)];
	struct ttlv_out o;
	struct ttlv it;
	unsigned int i;

	EXPECT_EQ(0, ttlv_decode(buf, nested(TTLV_DEPTH_MAX, buf), &it));
	EXPECT_EQ(-EBADMSG, ttlv_decode(buf, nested(TTLV_DEPTH_MAX + 1, buf), &it));
	ttlv_out_init(&o, 4096);
	for (i = 0; i <= TTLV_DEPTH_MAX; i++)
		ttlv_begin(&o, T);
	EXPECT_EQ(-EINVAL, o.err);
	ttlv_out_free(&o);
}

TEST(frame_length)
{
	size_t total;
	uint8_t hdr[8] = { 0x42, 0x00, 0x7B, 0x01, 0, 0, 0x01, 0x00 };

	ASSERT_EQ(0, ttlv_frame_len(hdr, KMIP_TAG_RESPONSE_MESSAGE, 1 << 20, &total));
	EXPECT_EQ(8 + 256, total);
	EXPECT_EQ(-EBADMSG, ttlv_frame_len(hdr, KMIP_TAG_REQUEST_MESSAGE, 1 << 20, &total));
	EXPECT_EQ(-EMSGSIZE, ttlv_frame_len(hdr, 0, 8 + 255, &total));
	hdr[7] = 4;	/* not a multiple of 8 */
	EXPECT_EQ(-EBADMSG, ttlv_frame_len(hdr, 0, 1 << 20, &total));
	hdr[7] = 0;
	hdr[3] = TTLV_BYTES;
	EXPECT_EQ(-EBADMSG, ttlv_frame_len(hdr, 0, 1 << 20, &total));
	hdr[3] = TTLV_STRUCTURE;
	hdr[4] = 0xFF;	/* 4 GiB */
	EXPECT_EQ(-EMSGSIZE, ttlv_frame_len(hdr, 0, 1 << 20, &total));
}

TEST(encoder_errors_stick)
{
	struct ttlv_out o;
	const uint8_t *buf;
	uint8_t big[100] = { 0 };
	size_t len;

	/* Over the limit: the error stays, whatever comes after. */
	ttlv_out_init(&o, 64);
	ttlv_begin(&o, T);
	ttlv_put_bytes(&o, T, big, sizeof(big));
	ttlv_put_int(&o, T, 1);
	ttlv_end(&o);
	EXPECT_EQ(-EMSGSIZE, ttlv_out_finish(&o, &buf, &len));
	ttlv_out_free(&o);
	/* A structure left open, one closed too often, nothing at all. */
	ttlv_out_init(&o, 64);
	ttlv_begin(&o, T);
	EXPECT_EQ(-EINVAL, ttlv_out_finish(&o, &buf, &len));
	ttlv_out_free(&o);
	ttlv_out_init(&o, 64);
	ttlv_end(&o);
	EXPECT_EQ(-EINVAL, ttlv_out_finish(&o, &buf, &len));
	ttlv_out_free(&o);
	ttlv_out_init(&o, 64);
	EXPECT_EQ(-EINVAL, ttlv_out_finish(&o, &buf, &len));
	ttlv_out_free(&o);
	/* Structures only through ttlv_begin(); no such type. */
	ttlv_out_init(&o, 64);
	ttlv_put_raw(&o, T, TTLV_STRUCTURE, big, 8);
	EXPECT_EQ(-EINVAL, o.err);
	ttlv_out_free(&o);
	ttlv_out_init(&o, 64);
	ttlv_put_raw(&o, T, 0x0B, big, 8);
	EXPECT_EQ(-EINVAL, o.err);
	ttlv_out_free(&o);
}

/* A buffer that grows many times keeps every item, in order. */
TEST(encoder_grows)
{
	struct ttlv_out o;
	const uint8_t *buf;
	struct ttlv it, c;
	struct ttlv_iter iter;
	size_t len;
	int32_t v, want = 0;

	ttlv_out_init(&o, 1 << 20);
	ttlv_begin(&o, KMIP_TAG_REQUEST_MESSAGE);
	for (v = 0; v < 5000; v++)
		ttlv_put_int(&o, KMIP_TAG_BATCH_COUNT, v);
	ttlv_end(&o);
	ASSERT_EQ(0, ttlv_out_finish(&o, &buf, &len));
	ASSERT_EQ(8 + 5000 * 16, len);
	ASSERT_EQ(0, ttlv_decode(buf, len, &it));
	ttlv_iter_init(&it, &iter);
	while (ttlv_next(&iter, &c)) {
		ASSERT_EQ(0, ttlv_int(&c, &v));
		ASSERT_EQ(want, v);
		want++;
	}
	EXPECT_EQ(5000, want);
	ttlv_out_free(&o);
}

/*
 * A GetAttributes payload of an object in State @state with these
 * Application Specific Information instances (@ns NULL: a value that is
 * not a structure), read by kmip_read_attributes() into @a.
 */
struct app_info {
	const char *ns, *data;
	int32_t index;		/* NO_INDEX: none given */
};

#define NO_INDEX	INT32_MIN

static int read_apps(const struct app_info *apps, size_t n, struct kmip_attrs *a)
{
	struct ttlv_out o;
	struct ttlv top;
	const uint8_t *buf;
	size_t len;
	int r;

	ttlv_out_init(&o, 4096);
	ttlv_begin(&o, KMIP_TAG_RESPONSE_PAYLOAD);
	ttlv_put_text(&o, KMIP_TAG_UNIQUE_IDENTIFIER, "7");
	for (size_t i = 0; i < n; i++) {
		ttlv_begin(&o, KMIP_TAG_ATTRIBUTE);
		ttlv_put_text(&o, KMIP_TAG_ATTRIBUTE_NAME, KMIP_APP_INFO_ATTRIBUTE);
		if (apps[i].index != NO_INDEX)
			ttlv_put_int(&o, KMIP_TAG_ATTRIBUTE_INDEX, apps[i].index);
		if (!apps[i].ns) {
			ttlv_put_int(&o, KMIP_TAG_ATTRIBUTE_VALUE, 1);
		} else {
			ttlv_begin(&o, KMIP_TAG_ATTRIBUTE_VALUE);
			ttlv_put_text(&o, KMIP_TAG_APPLICATION_NAMESPACE, apps[i].ns);
			ttlv_put_text(&o, KMIP_TAG_APPLICATION_DATA, apps[i].data);
			ttlv_end(&o);
		}
		ttlv_end(&o);
	}
	/* Last: read after whatever the instances did. */
	ttlv_begin(&o, KMIP_TAG_ATTRIBUTE);
	ttlv_put_text(&o, KMIP_TAG_ATTRIBUTE_NAME, "State");
	ttlv_put_enum(&o, KMIP_TAG_ATTRIBUTE_VALUE, KMIP_STATE_DEACTIVATED);
	ttlv_end(&o);
	ttlv_end(&o);
	r = ttlv_out_finish(&o, &buf, &len);
	if (!r)
		r = ttlv_decode(buf, len, &top);
	if (!r)
		r = kmip_read_attributes(&top, a);
	ttlv_out_free(&o);
	return r;
}

/* The spent count found among other applications' instances, malformed ones too. */
TEST(spent_count_read)
{
	static const struct app_info apps[] = {
		{ NULL, NULL, 0 },			/* not a structure */
		{ "someone-else", "requests=1 bytes=1", 1 },
		{ KMIP_SPENT_NAMESPACE, "requests=7 bytes=18446744073709551615", 2 },
		/* A second (two hosts adding at once): the larger of each field. */
		{ KMIP_SPENT_NAMESPACE, "requests=8 bytes=8", 3 },
	};
	static const struct app_info alone = { KMIP_SPENT_NAMESPACE, "requests=3 bytes=4", NO_INDEX };
	static const struct app_info after[] = {
		{ "someone-else", "x", 0 },
		{ KMIP_SPENT_NAMESPACE, "requests=3 bytes=4", NO_INDEX },
	};
	struct kmip_attrs a;

	ASSERT_EQ(0, read_apps(apps, 4, &a));
	EXPECT_EQ((uint32_t)KMIP_STATE_DEACTIVATED, a.state);	/* still read */
	EXPECT_EQ(2, a.spent_index);
	EXPECT_EQ(8u, a.spent.requests);
	EXPECT_EQ(18446744073709551615ULL, a.spent.bytes);
	EXPECT_FALSE(a.spent_unreadable);
	ASSERT_EQ(0, read_apps(apps, 2, &a));
	EXPECT_EQ(-1, a.spent_index);
	EXPECT_FALSE(a.spent_unreadable);
	/* No index given: 0 if it is the only instance, unknown after another. */
	ASSERT_EQ(0, read_apps(&alone, 1, &a));
	EXPECT_EQ(0, a.spent_index);
	EXPECT_EQ(3u, a.spent.requests);
	ASSERT_EQ(0, read_apps(after, 2, &a));
	EXPECT_TRUE(a.spent_unreadable);
	EXPECT_EQ((uint32_t)KMIP_STATE_DEACTIVATED, a.state);
}

/* Ours, not in its form: unreadable (neither a count nor an index), the object still read. */
TEST(spent_count_unreadable)
{
	static const char *const bad[] = {
		"requests=18446744073709551616 bytes=0", "requests=1 bytes=-1", "requests=1",
		"requests=1 bytes=2 ", " requests=1 bytes=2", "requests= bytes=2", "requests=1  bytes=2",
		"REQUESTS=1 bytes=2", "requests=1 bytes=2x", "",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct app_info app = { KMIP_SPENT_NAMESPACE, bad[i], 0 };
		struct kmip_attrs a;

		ASSERT_EQ(0, read_apps(&app, 1, &a)) TH_LOG("'%s'", bad[i]);
		EXPECT_EQ((uint32_t)KMIP_STATE_DEACTIVATED, a.state);
		EXPECT_TRUE(a.spent_unreadable) TH_LOG("'%s'", bad[i]);
		EXPECT_EQ(-1, a.spent_index);
		EXPECT_EQ(0u, a.spent.requests);
	}
	{
		struct app_info app = { KMIP_SPENT_NAMESPACE, "requests=1 bytes=2", -3 };
		struct app_info then[] = {
			{ KMIP_SPENT_NAMESPACE, "requests=x bytes=2", 0 },
			{ KMIP_SPENT_NAMESPACE, "requests=1 bytes=2", 1 },
		};
		struct kmip_attrs a;

		ASSERT_EQ(0, read_apps(&app, 1, &a));
		EXPECT_TRUE(a.spent_unreadable);	/* a negative index */
		ASSERT_EQ(0, read_apps(then, 2, &a));	/* one bad, one good: unreadable */
		EXPECT_TRUE(a.spent_unreadable);
		EXPECT_EQ(-1, a.spent_index);
	}
}

/* The version an object says it is (message.h), beside a spent count whatever the order. */
TEST(version_read)
{
	static const struct app_info made[] = {
		{ KMIP_SPENT_NAMESPACE, "requests=5 bytes=0", NO_INDEX },
		{ KMIP_VERSION_NAMESPACE, "version=2 replaces=17", 1 },
	};
	/* Another order, the count's index 0 left out: still the count's alone. */
	static const struct app_info swapped[] = {
		{ KMIP_VERSION_NAMESPACE, "version=4294967295", 1 },
		{ KMIP_SPENT_NAMESPACE, "requests=5 bytes=0", NO_INDEX },
	};
	/* Both at index 0: which one a write of the count hits is unknown. */
	static const struct app_info both_zero[] = {
		{ KMIP_VERSION_NAMESPACE, "version=1", NO_INDEX },
		{ KMIP_SPENT_NAMESPACE, "requests=5 bytes=0", 0 },
	};
	/* An identity key's: the version alone, at index 0; the first in form is kept. */
	static const struct app_info alone[] = {
		{ KMIP_VERSION_NAMESPACE, "version=01", 0 },
		{ KMIP_VERSION_NAMESPACE, "version=3", 1 },
		{ KMIP_VERSION_NAMESPACE, "version=4", 2 },
	};
	struct kmip_attrs a;

	ASSERT_EQ(0, read_apps(made, 2, &a));
	EXPECT_EQ(0, a.spent_index);
	EXPECT_EQ(5u, a.spent.requests);
	EXPECT_EQ(2u, a.version);
	EXPECT_STREQ("17", a.replaces);
	ASSERT_EQ(0, read_apps(swapped, 2, &a));
	EXPECT_FALSE(a.spent_unreadable);
	EXPECT_EQ(0, a.spent_index);
	EXPECT_EQ(4294967295u, a.version);
	EXPECT_STREQ("", a.replaces);
	ASSERT_EQ(0, read_apps(both_zero, 2, &a));
	EXPECT_TRUE(a.spent_unreadable);
	EXPECT_EQ(-1, a.spent_index);
	EXPECT_EQ(1u, a.version);
	ASSERT_EQ(0, read_apps(alone, 3, &a));
	EXPECT_EQ(-1, a.spent_index);
	EXPECT_FALSE(a.spent_unreadable);
	EXPECT_EQ(3u, a.version);
	EXPECT_EQ((uint32_t)KMIP_STATE_DEACTIVATED, a.state);
}

/* A version not in its form: not read, nothing else changed. */
TEST(version_unreadable)
{
	static char long_uid[40 + KMIP_UID_MAX], longest[40 + KMIP_UID_MAX];
	const char *bad[] = {
		"version=0", "version=01", "version=4294967296", "version=", "version=1 ",
		"version=1 replaces=", "version=1 replaces=a b", "version=1 replaces=7 ",
		"Version=1", "version=1x", " version=1", "version=-1", long_uid,
	};
	struct app_info good = { KMIP_VERSION_NAMESPACE, longest, 0 };
	struct kmip_attrs a;

	/* A Unique Identifier one byte over KMIP_UID_MAX's room, and one that fits. */
	snprintf(long_uid, sizeof(long_uid), "version=1 replaces=%0*d", KMIP_UID_MAX, 0);
	snprintf(longest, sizeof(longest), "version=1 replaces=%0*d", KMIP_UID_MAX - 1, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct app_info app[] = {
			{ KMIP_SPENT_NAMESPACE, "requests=1 bytes=2", 0 },
			{ KMIP_VERSION_NAMESPACE, bad[i], 1 },
		};

		ASSERT_EQ(0, read_apps(app, 2, &a)) TH_LOG("'%s'", bad[i]);
		EXPECT_EQ(0u, a.version) TH_LOG("'%s'", bad[i]);
		EXPECT_STREQ("", a.replaces);
		EXPECT_EQ(0, a.spent_index);
		EXPECT_EQ(1u, a.spent.requests);
		EXPECT_EQ((uint32_t)KMIP_STATE_DEACTIVATED, a.state);
	}
	ASSERT_EQ(0, read_apps(&good, 1, &a));
	EXPECT_EQ(1u, a.version);
	EXPECT_EQ((size_t)KMIP_UID_MAX - 1, strlen(a.replaces));
}

TEST_HARNESS_MAIN
