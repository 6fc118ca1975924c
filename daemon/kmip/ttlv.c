// SPDX-License-Identifier: GPL-2.0
/*
 * TTLV decoding (ttlv.h): one check of the whole message, then readers
 * that trust it.  Nothing here allocates; a malformed message is refused
 * before any of it is read.
 */
#include <errno.h>
#include <string.h>
#include "kmip/ttlv.h"

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static size_t padded(uint32_t len)
{
	return ((size_t)len + 7) & ~(size_t)7;
}

/* KMIP's own tags (0x42xxxx) and extensions (0x54xxxx). */
static bool valid_tag(uint32_t tag)
{
	return (tag >> 16) == 0x42 || (tag >> 16) == 0x54;
}

/* The length a type must have; 0 for those of any length. */
static uint32_t fixed_len(uint8_t type)
{
	switch (type) {
	case TTLV_INTEGER:
	case TTLV_ENUM:
	case TTLV_INTERVAL:
		return 4;
	case TTLV_LONG:
	case TTLV_BOOL:
	case TTLV_DATETIME:
		return 8;
	default:
		return 0;
	}
}

/* RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool valid_utf8(const uint8_t *s, size_t n)
{
	size_t i = 0, k, more;
	uint32_t c, min;

	while (i < n) {
		c = s[i++];
		if (c < 0x80)
			continue;
		if (c >= 0xC2 && c <= 0xDF)
			more = 1, c &= 0x1F, min = 0x80;
		else if (c >= 0xE0 && c <= 0xEF)
			more = 2, c &= 0x0F, min = 0x800;
		else if (c >= 0xF0 && c <= 0xF4)
			more = 3, c &= 0x07, min = 0x10000;
		else
			return false;
		if (n - i < more)
			return false;
		for (k = 0; k < more; k++, i++) {
			if ((s[i] & 0xC0) != 0x80)
				return false;
			c = c << 6 | (s[i] & 0x3F);
		}
		if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
			return false;
	}
	return true;
}

static bool zeros(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* The value of a leaf item (not a structure), beyond its length. */
static bool valid_value(const struct ttlv *it)
{
	switch (it->type) {
	case TTLV_BOOL:
		return be64(it->val) <= 1;
	case TTLV_BIG:
		return it->len && it->len % 8 == 0;
	case TTLV_TEXT:
		return valid_utf8(it->val, it->len);
	case TTLV_INTEGER:
	case TTLV_LONG:
	case TTLV_ENUM:
	case TTLV_BYTES:
	case TTLV_DATETIME:
	case TTLV_INTERVAL:
		return true;
	default:
		return false;	/* no such type */
	}
}

/*
 * The item at @p, within @n bytes, into @out with its whole length
 * (header, value, padding) into @used: -EBADMSG unless it fits and its
 * header, length and padding are right.  Its value is not checked.
 */
static int item_at(const uint8_t *p, size_t n, struct ttlv *out, size_t *used)
{
	uint32_t want;

	if (n < TTLV_HEADER_LEN)
		return -EBADMSG;
	out->tag = be32(p) >> 8;
	out->type = p[3];
	out->len = be32(p + 4);
	out->val = p + TTLV_HEADER_LEN;
	if (!valid_tag(out->tag) || padded(out->len) > n - TTLV_HEADER_LEN)
		return -EBADMSG;
	want = fixed_len(out->type);
	if (want && out->len != want)
		return -EBADMSG;
	if (!zeros(out->val + out->len, padded(out->len) - out->len))
		return -EBADMSG;
	*used = TTLV_HEADER_LEN + padded(out->len);
	return 0;
}

/* An item and everything in it; @depth structures enclose it. */
static int check_item(const struct ttlv *it, unsigned int depth)
{
	const uint8_t *p = it->val, *end = it->val + it->len;
	struct ttlv child;
	size_t used;
	int r;

	if (it->type != TTLV_STRUCTURE)
		return valid_value(it) ? 0 : -EBADMSG;
	if (depth + 1 > TTLV_DEPTH_MAX)
		return -EBADMSG;
	while (p < end) {
		r = item_at(p, end - p, &child, &used);
		if (r)
			return r;
		r = check_item(&child, depth + 1);
		if (r)
			return r;
		p += used;
	}
	return 0;
}

int ttlv_frame_len(const uint8_t hdr[TTLV_HEADER_LEN], uint32_t tag, size_t max, size_t *total)
{
	uint32_t t = be32(hdr) >> 8, len = be32(hdr + 4);

	if (hdr[3] != TTLV_STRUCTURE || !valid_tag(t) || (tag && t != tag))
		return -EBADMSG;
	if (len % 8)
		return -EBADMSG;	/* a structure's items are padded */
	if (max < TTLV_HEADER_LEN || (size_t)len > max - TTLV_HEADER_LEN)
		return -EMSGSIZE;
	*total = TTLV_HEADER_LEN + (size_t)len;
	return 0;
}

int ttlv_decode(const uint8_t *buf, size_t len, struct ttlv *top)
{
	size_t used;
	int r;

	r = item_at(buf, len, top, &used);
	if (r)
		return r;
	if (used != len)
		return -EBADMSG;	/* something after it */
	return check_item(top, 0);
}

void ttlv_iter_init(const struct ttlv *st, struct ttlv_iter *it)
{
	it->p = st->val;
	it->end = st->type == TTLV_STRUCTURE ? st->val + st->len : st->val;
}

bool ttlv_next(struct ttlv_iter *it, struct ttlv *out)
{
	size_t used;

	if (it->p >= it->end || item_at(it->p, it->end - it->p, out, &used))
		return false;
	it->p += used;
	return true;
}

int ttlv_child(const struct ttlv *st, uint32_t tag, uint8_t type, struct ttlv *out)
{
	struct ttlv_iter it;

	ttlv_iter_init(st, &it);
	while (ttlv_next(&it, out))
		if (out->tag == tag)
			return type && out->type != type ? -EBADMSG : 0;
	return -ENOENT;
}

unsigned int ttlv_count(const struct ttlv *st, uint32_t tag)
{
	struct ttlv_iter it;
	struct ttlv c;
	unsigned int n = 0;

	ttlv_iter_init(st, &it);
	while (ttlv_next(&it, &c))
		n += c.tag == tag;
	return n;
}

int ttlv_int(const struct ttlv *it, int32_t *v)
{
	if (it->type != TTLV_INTEGER)
		return -EBADMSG;
	*v = (int32_t)be32(it->val);
	return 0;
}

int ttlv_long(const struct ttlv *it, int64_t *v)
{
	if (it->type != TTLV_LONG)
		return -EBADMSG;
	*v = (int64_t)be64(it->val);
	return 0;
}

int ttlv_enum(const struct ttlv *it, uint32_t *v)
{
	if (it->type != TTLV_ENUM)
		return -EBADMSG;
	*v = be32(it->val);
	return 0;
}

int ttlv_bool(const struct ttlv *it, bool *v)
{
	if (it->type != TTLV_BOOL)
		return -EBADMSG;
	*v = be64(it->val) != 0;
	return 0;
}

int ttlv_datetime(const struct ttlv *it, int64_t *v)
{
	if (it->type != TTLV_DATETIME)
		return -EBADMSG;
	*v = (int64_t)be64(it->val);
	return 0;
}

int ttlv_interval(const struct ttlv *it, uint32_t *v)
{
	if (it->type != TTLV_INTERVAL)
		return -EBADMSG;
	*v = be32(it->val);
	return 0;
}

int ttlv_text(const struct ttlv *it, char *out, size_t size)
{
	if (it->type != TTLV_TEXT || memchr(it->val, 0, it->len))
		return -EBADMSG;
	if (it->len >= size)
		return -EMSGSIZE;
	memcpy(out, it->val, it->len);
	out[it->len] = '\0';
	return 0;
}

int ttlv_bytes(const struct ttlv *it, const uint8_t **p, uint32_t *len)
{
	if (it->type != TTLV_BYTES)
		return -EBADMSG;
	*p = it->val;
	*len = it->len;
	return 0;
}

/* ttlv_get_TYPE(): the first child with the tag, read by ttlv_TYPE(). */
#define TTLV_GETTER(name, type_t)						\
int ttlv_get_##name(const struct ttlv *st, uint32_t tag, type_t *v)		\
{										\
	struct ttlv c;								\
	int r = ttlv_child(st, tag, 0, &c);					\
										\
	return r ? r : ttlv_##name(&c, v);					\
}

TTLV_GETTER(int, int32_t)
TTLV_GETTER(long, int64_t)
TTLV_GETTER(enum, uint32_t)
TTLV_GETTER(bool, bool)
TTLV_GETTER(datetime, int64_t)

int ttlv_get_text(const struct ttlv *st, uint32_t tag, char *out, size_t size)
{
	struct ttlv c;
	int r = ttlv_child(st, tag, 0, &c);

	return r ? r : ttlv_text(&c, out, size);
}

int ttlv_get_bytes(const struct ttlv *st, uint32_t tag, const uint8_t **p, uint32_t *len)
{
	struct ttlv c;
	int r = ttlv_child(st, tag, 0, &c);

	return r ? r : ttlv_bytes(&c, p, len);
}

int ttlv_get_struct(const struct ttlv *st, uint32_t tag, struct ttlv *out)
{
	return ttlv_child(st, tag, TTLV_STRUCTURE, out);
}
