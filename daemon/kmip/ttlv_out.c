// SPDX-License-Identifier: GPL-2.0
/*
 * TTLV encoding (ttlv.h).  The buffer may hold key material, so it never
 * goes through realloc(), which could leave a copy behind: it grows by
 * copying into a new buffer and wiping the old one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "kmip/ttlv.h"
#include "util.h"

#define TTLV_OUT_FIRST	512

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, v >> 32);
	put_be32(p + 4, (uint32_t)v);
}

void ttlv_out_init(struct ttlv_out *o, size_t max)
{
	memset(o, 0, sizeof(*o));
	o->max = max;
}

/* Room for @n more bytes, or the sticky error. */
static bool room(struct ttlv_out *o, size_t n)
{
	size_t cap = o->cap ? o->cap : TTLV_OUT_FIRST;
	uint8_t *p;

	if (o->err)
		return false;
	if (n > o->max - o->len) {
		o->err = -EMSGSIZE;
		return false;
	}
	if (o->len + n <= o->cap)
		return true;
	while (cap < o->len + n)
		cap *= 2;
	if (cap > o->max)
		cap = o->max;
	p = malloc(cap);
	if (!p) {
		o->err = -ENOMEM;
		return false;
	}
	if (o->buf) {
		memcpy(p, o->buf, o->len);
		wipe(o->buf, o->cap);
		free(o->buf);
	}
	o->buf = p;
	o->cap = cap;
	return true;
}

static void header(uint8_t *p, uint32_t tag, uint8_t type, uint32_t len)
{
	put_be32(p, tag << 8 | type);
	put_be32(p + 4, len);
}

void ttlv_put_raw(struct ttlv_out *o, uint32_t tag, uint8_t type, const void *p, size_t n)
{
	size_t pad = (8 - n % 8) % 8;

	if (type < TTLV_INTEGER || type > TTLV_INTERVAL || n > UINT32_MAX - 7) {
		if (!o->err)
			o->err = -EINVAL;
		return;
	}
	if (!room(o, TTLV_HEADER_LEN + n + pad))
		return;
	header(o->buf + o->len, tag, type, (uint32_t)n);
	if (n)
		memcpy(o->buf + o->len + TTLV_HEADER_LEN, p, n);
	memset(o->buf + o->len + TTLV_HEADER_LEN + n, 0, pad);
	o->len += TTLV_HEADER_LEN + n + pad;
}

void ttlv_begin(struct ttlv_out *o, uint32_t tag)
{
	if (!o->err && o->depth == TTLV_DEPTH_MAX)
		o->err = -EINVAL;
	if (!room(o, TTLV_HEADER_LEN))
		return;
	o->open[o->depth++] = o->len;
	header(o->buf + o->len, tag, TTLV_STRUCTURE, 0);
	o->len += TTLV_HEADER_LEN;
}

void ttlv_end(struct ttlv_out *o)
{
	size_t at, len;

	if (o->err)
		return;
	if (!o->depth) {
		o->err = -EINVAL;
		return;
	}
	at = o->open[--o->depth];
	len = o->len - at - TTLV_HEADER_LEN;
	if (len > UINT32_MAX) {
		o->err = -EMSGSIZE;
		return;
	}
	put_be32(o->buf + at + 4, (uint32_t)len);
}

void ttlv_put_int(struct ttlv_out *o, uint32_t tag, int32_t v)
{
	uint8_t b[4];

	put_be32(b, (uint32_t)v);
	ttlv_put_raw(o, tag, TTLV_INTEGER, b, sizeof(b));
}

void ttlv_put_long(struct ttlv_out *o, uint32_t tag, int64_t v)
{
	uint8_t b[8];

	put_be64(b, (uint64_t)v);
	ttlv_put_raw(o, tag, TTLV_LONG, b, sizeof(b));
}

void ttlv_put_enum(struct ttlv_out *o, uint32_t tag, uint32_t v)
{
	uint8_t b[4];

	put_be32(b, v);
	ttlv_put_raw(o, tag, TTLV_ENUM, b, sizeof(b));
}

void ttlv_put_bool(struct ttlv_out *o, uint32_t tag, bool v)
{
	uint8_t b[8];

	put_be64(b, v);
	ttlv_put_raw(o, tag, TTLV_BOOL, b, sizeof(b));
}

void ttlv_put_datetime(struct ttlv_out *o, uint32_t tag, int64_t v)
{
	uint8_t b[8];

	put_be64(b, (uint64_t)v);
	ttlv_put_raw(o, tag, TTLV_DATETIME, b, sizeof(b));
}

void ttlv_put_interval(struct ttlv_out *o, uint32_t tag, uint32_t v)
{
	uint8_t b[4];

	put_be32(b, v);
	ttlv_put_raw(o, tag, TTLV_INTERVAL, b, sizeof(b));
}

void ttlv_put_text(struct ttlv_out *o, uint32_t tag, const char *s)
{
	ttlv_put_raw(o, tag, TTLV_TEXT, s, strlen(s));
}

void ttlv_put_bytes(struct ttlv_out *o, uint32_t tag, const void *p, size_t n)
{
	ttlv_put_raw(o, tag, TTLV_BYTES, p, n);
}

int ttlv_out_finish(struct ttlv_out *o, const uint8_t **buf, size_t *len)
{
	if (!o->err && (o->depth || !o->len))
		o->err = -EINVAL;	/* a structure left open, or nothing */
	if (o->err)
		return o->err;
	*buf = o->buf;
	*len = o->len;
	return 0;
}

void ttlv_out_free(struct ttlv_out *o)
{
	if (o->buf) {
		wipe(o->buf, o->cap);
		free(o->buf);
	}
	memset(o, 0, sizeof(*o));
}
