// SPDX-License-Identifier: GPL-2.0
/*
 * KMIP requests (message.h): the Request Message's envelope and the
 * payload of each operation hsmkey uses, in KMIP 1.2's layout (§4, §7.2).
 */
#include <stdio.h>
#include "kmip/message.h"

static void put_version(struct ttlv_out *o, const struct kmip_version *v)
{
	ttlv_begin(o, KMIP_TAG_PROTOCOL_VERSION);
	ttlv_put_int(o, KMIP_TAG_PROTOCOL_VERSION_MAJOR, v->major);
	ttlv_put_int(o, KMIP_TAG_PROTOCOL_VERSION_MINOR, v->minor);
	ttlv_end(o);
}

void kmip_request_begin(struct ttlv_out *o, const struct kmip_version *v, uint32_t items)
{
	ttlv_begin(o, KMIP_TAG_REQUEST_MESSAGE);
	ttlv_begin(o, KMIP_TAG_REQUEST_HEADER);
	put_version(o, v);
	ttlv_put_int(o, KMIP_TAG_MAXIMUM_RESPONSE_SIZE, KMIP_MSG_MAX);
	ttlv_put_int(o, KMIP_TAG_BATCH_COUNT, (int32_t)items);
	ttlv_end(o);
}

void kmip_request_end(struct ttlv_out *o)
{
	ttlv_end(o);
}

/*
 * A batch item's Unique Batch Item ID (required when there are several)
 * is its index in the message, from 0: the answers are matched by it.
 */
void kmip_item_begin(struct ttlv_out *o, uint32_t op)
{
	uint32_t at = o->items++;
	uint8_t id[4] = { at >> 24, at >> 16, at >> 8, at };

	ttlv_begin(o, KMIP_TAG_BATCH_ITEM);
	ttlv_put_enum(o, KMIP_TAG_OPERATION, op);
	ttlv_put_bytes(o, KMIP_TAG_UNIQUE_BATCH_ITEM_ID, id, sizeof(id));
	ttlv_begin(o, KMIP_TAG_REQUEST_PAYLOAD);
}

void kmip_item_end(struct ttlv_out *o)
{
	ttlv_end(o);	/* the payload */
	ttlv_end(o);	/* the batch item */
}

/* An Attribute: its name, then its value (of the caller's type). */
static void attr_begin(struct ttlv_out *o, const char *name)
{
	ttlv_begin(o, KMIP_TAG_ATTRIBUTE);
	ttlv_put_text(o, KMIP_TAG_ATTRIBUTE_NAME, name);
}

static void attr_enum(struct ttlv_out *o, const char *name, uint32_t v)
{
	attr_begin(o, name);
	ttlv_put_enum(o, KMIP_TAG_ATTRIBUTE_VALUE, v);
	ttlv_end(o);
}

static void attr_int(struct ttlv_out *o, const char *name, int32_t v)
{
	attr_begin(o, name);
	ttlv_put_int(o, KMIP_TAG_ATTRIBUTE_VALUE, v);
	ttlv_end(o);
}

static void attr_text(struct ttlv_out *o, const char *name, const char *v)
{
	attr_begin(o, name);
	ttlv_put_text(o, KMIP_TAG_ATTRIBUTE_VALUE, v);
	ttlv_end(o);
}

static void attr_name(struct ttlv_out *o, const char *name)
{
	attr_begin(o, "Name");
	ttlv_begin(o, KMIP_TAG_ATTRIBUTE_VALUE);
	ttlv_put_text(o, KMIP_TAG_NAME_VALUE, name);
	ttlv_put_enum(o, KMIP_TAG_NAME_TYPE, KMIP_NAME_TEXT);
	ttlv_end(o);
	ttlv_end(o);
}

/* The spent count's Attribute Value (message.h). */
static void spent_value(struct ttlv_out *o, const struct kmip_spent *s)
{
	char data[64];

	snprintf(data, sizeof(data), "requests=%llu bytes=%llu", (unsigned long long)s->requests,
		 (unsigned long long)s->bytes);
	ttlv_begin(o, KMIP_TAG_ATTRIBUTE_VALUE);
	ttlv_put_text(o, KMIP_TAG_APPLICATION_NAMESPACE, KMIP_SPENT_NAMESPACE);
	ttlv_put_text(o, KMIP_TAG_APPLICATION_DATA, data);
	ttlv_end(o);
}

/* The version's Application Specific Information (message.h), instance @index. */
static void version_attr(struct ttlv_out *o, const struct kmip_key_attrs *a, int32_t index)
{
	char data[32 + KMIP_UID_MAX];

	snprintf(data, sizeof(data), "version=%u%s%s", a->version, a->replaces ? " replaces=" : "",
		 a->replaces ? a->replaces : "");
	attr_begin(o, KMIP_APP_INFO_ATTRIBUTE);
	ttlv_put_int(o, KMIP_TAG_ATTRIBUTE_INDEX, index);
	ttlv_begin(o, KMIP_TAG_ATTRIBUTE_VALUE);
	ttlv_put_text(o, KMIP_TAG_APPLICATION_NAMESPACE, KMIP_VERSION_NAMESPACE);
	ttlv_put_text(o, KMIP_TAG_APPLICATION_DATA, data);
	ttlv_end(o);
	ttlv_end(o);
}

/*
 * A new key's Template-Attribute.  The spent count, if any, is the first
 * Application Specific Information (index 0), the version the next: the
 * poll's ModifyAttribute names the index GetAttributes gives the count.
 */
static void key_template(struct ttlv_out *o, const struct kmip_key_attrs *a)
{
	ttlv_begin(o, KMIP_TAG_TEMPLATE_ATTRIBUTE);
	if (a->name)
		attr_name(o, a->name);
	attr_enum(o, "Cryptographic Algorithm", a->algorithm);
	attr_int(o, "Cryptographic Length", (int32_t)a->bits);
	attr_int(o, "Cryptographic Usage Mask", (int32_t)a->usage);
	if (a->group)
		attr_text(o, "Object Group", a->group);
	if (a->spent) {
		static const struct kmip_spent none;

		attr_begin(o, KMIP_APP_INFO_ATTRIBUTE);
		spent_value(o, &none);
		ttlv_end(o);
	}
	if (a->version)
		version_attr(o, a, a->spent ? 1 : 0);
	ttlv_end(o);
}

void kmip_req_create(struct ttlv_out *o, const struct kmip_key_attrs *a)
{
	kmip_item_begin(o, KMIP_OP_CREATE);
	ttlv_put_enum(o, KMIP_TAG_OBJECT_TYPE, a->object_type);
	key_template(o, a);
	kmip_item_end(o);
}

void kmip_req_register(struct ttlv_out *o, const struct kmip_key_attrs *a,
		       const uint8_t *key, size_t len)
{
	bool private = a->object_type == KMIP_OBJECT_PRIVATE_KEY;

	kmip_item_begin(o, KMIP_OP_REGISTER);
	ttlv_put_enum(o, KMIP_TAG_OBJECT_TYPE, a->object_type);
	key_template(o, a);
	ttlv_begin(o, private ? KMIP_TAG_PRIVATE_KEY : KMIP_TAG_SYMMETRIC_KEY);
	ttlv_begin(o, KMIP_TAG_KEY_BLOCK);
	ttlv_put_enum(o, KMIP_TAG_KEY_FORMAT_TYPE, private ? KMIP_FORMAT_PKCS8 : KMIP_FORMAT_RAW);
	ttlv_begin(o, KMIP_TAG_KEY_VALUE);
	ttlv_put_bytes(o, KMIP_TAG_KEY_MATERIAL, key, len);
	ttlv_end(o);
	ttlv_put_enum(o, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, a->algorithm);
	ttlv_put_int(o, KMIP_TAG_CRYPTOGRAPHIC_LENGTH, (int32_t)a->bits);
	ttlv_end(o);
	ttlv_end(o);
	kmip_item_end(o);
}

/* Wrapped with AES key wrap (RFC 3394) under @wrap_uid, no TTLV encoding. */
static void wrapping_spec(struct ttlv_out *o, const char *wrap_uid)
{
	ttlv_begin(o, KMIP_TAG_KEY_WRAPPING_SPECIFICATION);
	ttlv_put_enum(o, KMIP_TAG_WRAPPING_METHOD, KMIP_WRAP_ENCRYPT);
	ttlv_begin(o, KMIP_TAG_ENCRYPTION_KEY_INFORMATION);
	ttlv_put_text(o, KMIP_TAG_UNIQUE_IDENTIFIER, wrap_uid);
	ttlv_begin(o, KMIP_TAG_CRYPTOGRAPHIC_PARAMETERS);
	ttlv_put_enum(o, KMIP_TAG_BLOCK_CIPHER_MODE, KMIP_MODE_NIST_KEY_WRAP);
	ttlv_end(o);
	ttlv_end(o);
	ttlv_put_enum(o, KMIP_TAG_ENCODING_OPTION, KMIP_ENCODING_NONE);
	ttlv_end(o);
}

void kmip_req_get(struct ttlv_out *o, const char *uid, const char *wrap_uid)
{
	kmip_item_begin(o, KMIP_OP_GET);
	ttlv_put_text(o, KMIP_TAG_UNIQUE_IDENTIFIER, uid);
	if (wrap_uid)
		wrapping_spec(o, wrap_uid);
	kmip_item_end(o);
}

void kmip_req_uid(struct ttlv_out *o, uint32_t op, const char *uid)
{
	kmip_item_begin(o, op);
	ttlv_put_text(o, KMIP_TAG_UNIQUE_IDENTIFIER, uid);
	kmip_item_end(o);
}

void kmip_req_get_attributes(struct ttlv_out *o, const char *uid, const char *const *names,
			     unsigned int n)
{
	unsigned int i;

	kmip_item_begin(o, KMIP_OP_GET_ATTRIBUTES);
	ttlv_put_text(o, KMIP_TAG_UNIQUE_IDENTIFIER, uid);
	for (i = 0; i < n; i++)
		ttlv_put_text(o, KMIP_TAG_ATTRIBUTE_NAME, names[i]);
	kmip_item_end(o);
}

void kmip_req_spent(struct ttlv_out *o, const char *uid, int32_t index,
		    const struct kmip_spent *s)
{
	kmip_item_begin(o, index < 0 ? KMIP_OP_ADD_ATTRIBUTE : KMIP_OP_MODIFY_ATTRIBUTE);
	ttlv_put_text(o, KMIP_TAG_UNIQUE_IDENTIFIER, uid);
	attr_begin(o, KMIP_APP_INFO_ATTRIBUTE);
	if (index >= 0)
		ttlv_put_int(o, KMIP_TAG_ATTRIBUTE_INDEX, index);
	spent_value(o, s);
	ttlv_end(o);
	kmip_item_end(o);
}

void kmip_req_revoke(struct ttlv_out *o, const char *uid, uint32_t reason, const char *why,
		     int64_t compromised)
{
	kmip_item_begin(o, KMIP_OP_REVOKE);
	ttlv_put_text(o, KMIP_TAG_UNIQUE_IDENTIFIER, uid);
	ttlv_begin(o, KMIP_TAG_REVOCATION_REASON);
	ttlv_put_enum(o, KMIP_TAG_REVOCATION_REASON_CODE, reason);
	if (why)
		ttlv_put_text(o, KMIP_TAG_REVOCATION_MESSAGE, why);
	ttlv_end(o);
	if (reason == KMIP_REVOKE_KEY_COMPROMISE)
		ttlv_put_datetime(o, KMIP_TAG_COMPROMISE_OCCURRENCE_DATE, compromised);
	kmip_item_end(o);
}

void kmip_req_locate(struct ttlv_out *o, const char *name, const char *group, uint32_t max)
{
	kmip_item_begin(o, KMIP_OP_LOCATE);
	ttlv_put_int(o, KMIP_TAG_MAXIMUM_ITEMS, (int32_t)max);
	if (name)
		attr_name(o, name);
	if (group)
		attr_text(o, "Object Group", group);
	kmip_item_end(o);
}

void kmip_req_query(struct ttlv_out *o, const uint32_t *functions, unsigned int n)
{
	unsigned int i;

	kmip_item_begin(o, KMIP_OP_QUERY);
	for (i = 0; i < n; i++)
		ttlv_put_enum(o, KMIP_TAG_QUERY_FUNCTION, functions[i]);
	kmip_item_end(o);
}

void kmip_req_discover(struct ttlv_out *o, const struct kmip_version *v, unsigned int n)
{
	unsigned int i;

	kmip_item_begin(o, KMIP_OP_DISCOVER_VERSIONS);
	for (i = 0; i < n; i++)
		put_version(o, &v[i]);
	kmip_item_end(o);
}
