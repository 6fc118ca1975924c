/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KMIP's wire encoding, TTLV (KMIP 1.2 §9.1): every item is a 3-byte tag,
 * a 1-byte type, a 4-byte big-endian length of the value and the value,
 * padded with zero bytes to a multiple of 8.  A structure's value is its
 * items, one after the other.
 *
 * Decoding (ttlv.c) checks a whole message once, before anything reads
 * it: every length within its parent and the buffer, each fixed-size
 * type's length, zero padding, booleans 0 or 1, structures at most
 * TTLV_DEPTH_MAX deep.  A message that passes is then read without
 * copying, through items that point into the caller's buffer; the readers
 * check only the type of what they are asked for.  Errors are -errno:
 * -EBADMSG malformed (or the wrong type), -ENOENT absent, -EMSGSIZE too
 * large for the caller's buffer or limit.
 *
 * Encoding (ttlv_out.c) appends items to a buffer that grows as needed
 * up to a limit; structures are opened and closed around their items.
 * The first error sticks and is returned by ttlv_out_finish(), so a
 * caller builds a whole message and checks once.  The buffer may hold
 * key material (Register): growing it and freeing it wipe what it held.
 */
#ifndef HSMKEY_KMIP_TTLV_H
#define HSMKEY_KMIP_TTLV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ttlv_type {
	TTLV_STRUCTURE	= 0x01,
	TTLV_INTEGER	= 0x02,	/* int32 */
	TTLV_LONG	= 0x03,	/* int64 */
	TTLV_BIG	= 0x04,	/* two's complement, a multiple of 8 bytes */
	TTLV_ENUM	= 0x05,	/* uint32 */
	TTLV_BOOL	= 0x06,	/* 8 bytes, 0 or 1 */
	TTLV_TEXT	= 0x07,	/* UTF-8, no terminator */
	TTLV_BYTES	= 0x08,
	TTLV_DATETIME	= 0x09,	/* int64, seconds since the epoch */
	TTLV_INTERVAL	= 0x0A,	/* uint32, seconds */
};

#define TTLV_HEADER_LEN	8
#define TTLV_DEPTH_MAX	16	/* structures within structures, the top one included */

/* One item of a checked message: its value points into that message. */
struct ttlv {
	uint32_t tag;
	uint8_t type;
	uint32_t len;		/* the value's, without padding */
	const uint8_t *val;
};

/*
 * A message's first item, from its 8-byte header: its whole length
 * (header, value, padding) into @total.  -EBADMSG unless it is a
 * structure with tag @tag (0: any tag), -EMSGSIZE if over @max.  For
 * reading a message off a stream before it is all there.
 */
int ttlv_frame_len(const uint8_t hdr[TTLV_HEADER_LEN], uint32_t tag, size_t max, size_t *total);

/* @len bytes that are exactly one well-formed item (of any depth) into @top. */
int ttlv_decode(const uint8_t *buf, size_t len, struct ttlv *top);

/* A structure's items, in order. */
struct ttlv_iter {
	const uint8_t *p, *end;
};

void ttlv_iter_init(const struct ttlv *st, struct ttlv_iter *it);
bool ttlv_next(struct ttlv_iter *it, struct ttlv *out);

/* The first item of @st with @tag (and, unless 0, @type). */
int ttlv_child(const struct ttlv *st, uint32_t tag, uint8_t type, struct ttlv *out);
/* How many items of @st have @tag. */
unsigned int ttlv_count(const struct ttlv *st, uint32_t tag);

/* An item's value, if it is of that type. */
int ttlv_int(const struct ttlv *it, int32_t *v);
int ttlv_long(const struct ttlv *it, int64_t *v);
int ttlv_enum(const struct ttlv *it, uint32_t *v);
int ttlv_bool(const struct ttlv *it, bool *v);
int ttlv_datetime(const struct ttlv *it, int64_t *v);
int ttlv_interval(const struct ttlv *it, uint32_t *v);
/* Text as a C string: -EBADMSG if it holds a NUL or is not UTF-8. */
int ttlv_text(const struct ttlv *it, char *out, size_t size);
int ttlv_bytes(const struct ttlv *it, const uint8_t **p, uint32_t *len);

/* The first item of @st with @tag, read as that type. */
int ttlv_get_int(const struct ttlv *st, uint32_t tag, int32_t *v);
int ttlv_get_long(const struct ttlv *st, uint32_t tag, int64_t *v);
int ttlv_get_enum(const struct ttlv *st, uint32_t tag, uint32_t *v);
int ttlv_get_bool(const struct ttlv *st, uint32_t tag, bool *v);
int ttlv_get_datetime(const struct ttlv *st, uint32_t tag, int64_t *v);
int ttlv_get_text(const struct ttlv *st, uint32_t tag, char *out, size_t size);
int ttlv_get_bytes(const struct ttlv *st, uint32_t tag, const uint8_t **p, uint32_t *len);
int ttlv_get_struct(const struct ttlv *st, uint32_t tag, struct ttlv *out);

/* Encoding. */
struct ttlv_out {
	uint8_t *buf;
	size_t len, cap, max;
	size_t open[TTLV_DEPTH_MAX];	/* each open structure's header offset */
	unsigned int depth;
	int err;
	uint32_t items;		/* KMIP batch items begun (message.h's item IDs) */
};

void ttlv_out_init(struct ttlv_out *o, size_t max);
void ttlv_begin(struct ttlv_out *o, uint32_t tag);
void ttlv_end(struct ttlv_out *o);
void ttlv_put_int(struct ttlv_out *o, uint32_t tag, int32_t v);
void ttlv_put_long(struct ttlv_out *o, uint32_t tag, int64_t v);
void ttlv_put_enum(struct ttlv_out *o, uint32_t tag, uint32_t v);
void ttlv_put_bool(struct ttlv_out *o, uint32_t tag, bool v);
void ttlv_put_datetime(struct ttlv_out *o, uint32_t tag, int64_t v);
void ttlv_put_interval(struct ttlv_out *o, uint32_t tag, uint32_t v);
void ttlv_put_text(struct ttlv_out *o, uint32_t tag, const char *s);
void ttlv_put_bytes(struct ttlv_out *o, uint32_t tag, const void *p, size_t n);
/* Any item as it was decoded (a copy of a value of any type). */
void ttlv_put_raw(struct ttlv_out *o, uint32_t tag, uint8_t type, const void *p, size_t n);
/* The message, if every item fitted and every structure was closed. */
int ttlv_out_finish(struct ttlv_out *o, const uint8_t **buf, size_t *len);
void ttlv_out_free(struct ttlv_out *o);

#endif
