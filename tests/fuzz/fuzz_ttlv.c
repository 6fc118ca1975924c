// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer: the KMIP client's parsers (daemon/kmip), which read whatever
 * a key server, or whoever stands in for it, sends.  Any input: TTLV
 * decoding, then, for a message that decodes, the response envelope and
 * every payload reader on every batch item.  And a property: what
 * decodes, encoded again item by item, is the same bytes.
 */
#include <stdlib.h>
#include <string.h>
#include "kmip/message.h"

/* @it again, item by item, into @o. */
static void encode(struct ttlv_out *o, const struct ttlv *it)
{
	struct ttlv_iter iter;
	struct ttlv c;

	if (it->type != TTLV_STRUCTURE) {
		ttlv_put_raw(o, it->tag, it->type, it->val, it->len);
		return;
	}
	ttlv_begin(o, it->tag);
	ttlv_iter_init(it, &iter);
	while (ttlv_next(&iter, &c))
		encode(o, &c);
	ttlv_end(o);
}

static void round_trip(const uint8_t *data, size_t size, const struct ttlv *top)
{
	struct ttlv_out o;
	const uint8_t *buf;
	size_t len;

	ttlv_out_init(&o, size);
	encode(&o, top);
	if (ttlv_out_finish(&o, &buf, &len) || len != size || memcmp(buf, data, size))
		abort();
	ttlv_out_free(&o);
}

static void payloads(const struct ttlv *p)
{
	struct kmip_version v[KMIP_VERSIONS_MAX];
	char uids[4][KMIP_UID_MAX];
	struct kmip_attrs a;
	struct kmip_key k;
	unsigned int n;

	kmip_read_uid(p, uids[0], sizeof(uids[0]));
	kmip_read_key(p, &k);
	kmip_read_attributes(p, &a);
	kmip_read_versions(p, v, KMIP_VERSIONS_MAX, &n);
	kmip_read_locate(p, uids, 4, &n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kmip_response resp;
	struct kmip_result res;
	struct ttlv top;
	size_t total;

	if (size >= TTLV_HEADER_LEN)
		ttlv_frame_len(data, KMIP_TAG_RESPONSE_MESSAGE, KMIP_MSG_MAX, &total);
	if (ttlv_decode(data, size, &top))
		return 0;
	round_trip(data, size, &top);
	if (kmip_response_parse(data, size, &resp))
		return 0;
	while (kmip_response_next(&resp, &res) == 1) {
		kmip_result_errno(&res);
		if (res.has_payload)
			payloads(&res.payload);
	}
	return 0;
}
