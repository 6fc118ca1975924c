// SPDX-License-Identifier: GPL-2.0
/*
 * KMIP responses (message.h): the Response Message's header, each batch
 * item's result, and what a failed result means to the daemon.  The
 * server's own words (Result Message) reach the journal, so they are
 * kept to printable ASCII here: a server must not write into the log.
 */
#include <errno.h>
#include <string.h>
#include "kmip/message.h"

static int read_version(const struct ttlv *st, struct kmip_version *v)
{
	struct ttlv pv;
	int r;

	r = ttlv_get_struct(st, KMIP_TAG_PROTOCOL_VERSION, &pv);
	if (!r)
		r = ttlv_get_int(&pv, KMIP_TAG_PROTOCOL_VERSION_MAJOR, &v->major);
	if (!r)
		r = ttlv_get_int(&pv, KMIP_TAG_PROTOCOL_VERSION_MINOR, &v->minor);
	return r == -ENOENT ? -EBADMSG : r;
}

int kmip_response_parse(const uint8_t *buf, size_t len, struct kmip_response *r)
{
	struct ttlv hdr;
	int32_t count;
	int e;

	memset(r, 0, sizeof(*r));
	e = ttlv_decode(buf, len, &r->top);
	if (e)
		return e;
	if (r->top.tag != KMIP_TAG_RESPONSE_MESSAGE || r->top.type != TTLV_STRUCTURE)
		return -EBADMSG;
	if (ttlv_get_struct(&r->top, KMIP_TAG_RESPONSE_HEADER, &hdr) ||
	    read_version(&hdr, &r->version) ||
	    ttlv_get_datetime(&hdr, KMIP_TAG_TIME_STAMP, &r->time) ||
	    ttlv_get_int(&hdr, KMIP_TAG_BATCH_COUNT, &count))
		return -EBADMSG;
	if (count < 1 || count > KMIP_BATCH_MAX ||
	    ttlv_count(&r->top, KMIP_TAG_BATCH_ITEM) != (unsigned int)count)
		return -EBADMSG;
	r->count = (uint32_t)count;
	ttlv_iter_init(&r->top, &r->items);
	return 0;
}

void kmip_printable(const struct ttlv *it, char *out, size_t size)
{
	size_t i, n = it->len < size - 1 ? it->len : size - 1;

	for (i = 0; i < n; i++)
		out[i] = it->val[i] >= 0x20 && it->val[i] < 0x7F ? (char)it->val[i] : '?';
	out[n] = '\0';
}

/* Ours are 4 bytes (kmip_item_begin()): any other is not an answer to us. */
static int read_item_id(const struct ttlv *item, struct kmip_result *res)
{
	const uint8_t *p;
	uint32_t n;
	int r;

	r = ttlv_get_bytes(item, KMIP_TAG_UNIQUE_BATCH_ITEM_ID, &p, &n);
	if (r == -ENOENT)
		return 0;
	if (r || n != 4)
		return -EBADMSG;
	res->item_id = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	res->has_item_id = true;
	return 0;
}

static int read_result(const struct ttlv *item, struct kmip_result *res)
{
	struct ttlv msg;
	int r;

	memset(res, 0, sizeof(*res));
	r = ttlv_get_enum(item, KMIP_TAG_OPERATION, &res->op);
	if (r && r != -ENOENT)
		return r;
	r = read_item_id(item, res);
	if (r)
		return r;
	if (ttlv_get_enum(item, KMIP_TAG_RESULT_STATUS, &res->status))
		return -EBADMSG;
	r = ttlv_get_enum(item, KMIP_TAG_RESULT_REASON, &res->reason);
	if (r == -ENOENT && res->status == KMIP_STATUS_OPERATION_FAILED)
		res->reason = KMIP_REASON_GENERAL_FAILURE;	/* required, but absent */
	else if (r && r != -ENOENT)
		return r;
	r = ttlv_child(item, KMIP_TAG_RESULT_MESSAGE, TTLV_TEXT, &msg);
	if (!r)
		kmip_printable(&msg, res->message, sizeof(res->message));
	else if (r != -ENOENT)
		return r;
	r = ttlv_get_struct(item, KMIP_TAG_RESPONSE_PAYLOAD, &res->payload);
	if (r && r != -ENOENT)
		return r;
	res->has_payload = !r;
	if (res->status == KMIP_STATUS_SUCCESS && res->reason)
		return -EBADMSG;
	return 0;
}

int kmip_response_next(struct kmip_response *r, struct kmip_result *res)
{
	struct ttlv item;

	while (ttlv_next(&r->items, &item))
		if (item.tag == KMIP_TAG_BATCH_ITEM)
			return item.type == TTLV_STRUCTURE && !read_result(&item, res) ? 1 : -EBADMSG;
	return 0;
}

int kmip_result_errno(const struct kmip_result *res)
{
	if (res->status == KMIP_STATUS_SUCCESS)
		return 0;
	if (res->status == KMIP_STATUS_OPERATION_UNDONE)
		return -ECANCELED;
	if (res->status != KMIP_STATUS_OPERATION_FAILED)
		return -EPROTO;		/* pending: hsmkey never asks for that */
	switch (res->reason) {
	case KMIP_REASON_ITEM_NOT_FOUND:
		return -ENOENT;
	case KMIP_REASON_AUTHENTICATION_FAILED:
	case KMIP_REASON_PERMISSION_DENIED:
	case KMIP_REASON_SENSITIVE:
	case KMIP_REASON_NOT_EXTRACTABLE:
		return -EACCES;
	case KMIP_REASON_OPERATION_NOT_SUPPORTED:
	case KMIP_REASON_FEATURE_NOT_SUPPORTED:
	case KMIP_REASON_KEY_FORMAT_NOT_SUPPORTED:
	case KMIP_REASON_ENCODING_OPTION_ERROR:
		return -EOPNOTSUPP;
	case KMIP_REASON_RESPONSE_TOO_LARGE:
		return -EMSGSIZE;
	case KMIP_REASON_INVALID_MESSAGE:
	case KMIP_REASON_MISSING_DATA:
	case KMIP_REASON_INVALID_FIELD:
		return -EINVAL;
	case KMIP_REASON_ILLEGAL_OPERATION:
	case KMIP_REASON_OBJECT_ARCHIVED:
		return -EPERM;
	case KMIP_REASON_OBJECT_ALREADY_EXISTS:
		return -EEXIST;
	default:
		return -EIO;
	}
}

const char *kmip_reason_name(uint32_t reason)
{
	static const struct {
		uint32_t reason;
		const char *name;
	} names[] = {
		{ KMIP_REASON_ITEM_NOT_FOUND, "Item Not Found" },
		{ KMIP_REASON_RESPONSE_TOO_LARGE, "Response Too Large" },
		{ KMIP_REASON_AUTHENTICATION_FAILED, "Authentication Not Successful" },
		{ KMIP_REASON_INVALID_MESSAGE, "Invalid Message" },
		{ KMIP_REASON_OPERATION_NOT_SUPPORTED, "Operation Not Supported" },
		{ KMIP_REASON_MISSING_DATA, "Missing Data" },
		{ KMIP_REASON_INVALID_FIELD, "Invalid Field" },
		{ KMIP_REASON_FEATURE_NOT_SUPPORTED, "Feature Not Supported" },
		{ KMIP_REASON_CRYPTOGRAPHIC_FAILURE, "Cryptographic Failure" },
		{ KMIP_REASON_ILLEGAL_OPERATION, "Illegal Operation" },
		{ KMIP_REASON_PERMISSION_DENIED, "Permission Denied" },
		{ KMIP_REASON_OBJECT_ARCHIVED, "Object Archived" },
		{ KMIP_REASON_INDEX_OUT_OF_BOUNDS, "Index Out of Bounds" },
		{ KMIP_REASON_NAMESPACE_NOT_SUPPORTED, "Application Namespace Not Supported" },
		{ KMIP_REASON_KEY_FORMAT_NOT_SUPPORTED, "Key Format Type Not Supported" },
		{ KMIP_REASON_ENCODING_OPTION_ERROR, "Encoding Option Error" },
		{ KMIP_REASON_KEY_VALUE_NOT_PRESENT, "Key Value Not Present" },
		{ KMIP_REASON_SENSITIVE, "Sensitive" },
		{ KMIP_REASON_NOT_EXTRACTABLE, "Not Extractable" },
		{ KMIP_REASON_OBJECT_ALREADY_EXISTS, "Object Already Exists" },
		{ KMIP_REASON_GENERAL_FAILURE, "General Failure" },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].reason == reason)
			return names[i].name;
	return "an unknown reason";
}
