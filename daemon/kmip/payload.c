// SPDX-License-Identifier: GPL-2.0
/*
 * What KMIP operations return (message.h): identifiers, a symmetric key
 * (in clear or wrapped) or a private key, an object's attributes, the
 * server's protocol versions.  Anything required and absent, or of
 * another type, is -EBADMSG; key material larger than struct kmip_key
 * holds (KMIP_PRIVATE_MAX) is -EMSGSIZE.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include "kmip/message.h"
#include "util.h"

int kmip_read_uid(const struct ttlv *payload, char *uid, size_t size)
{
	int r = ttlv_get_text(payload, KMIP_TAG_UNIQUE_IDENTIFIER, uid, size);

	return r == -ENOENT ? -EBADMSG : r;
}

/* Key Value: a structure holding Key Material, or (wrapped) its bytes. */
static int key_value(const struct ttlv *block, struct kmip_key *k)
{
	struct ttlv kv;
	const uint8_t *p;
	uint32_t n;
	int r;

	r = ttlv_child(block, KMIP_TAG_KEY_VALUE, 0, &kv);
	if (r)
		return -EBADMSG;
	if (kv.type == TTLV_STRUCTURE)
		r = ttlv_get_bytes(&kv, KMIP_TAG_KEY_MATERIAL, &p, &n);
	else
		r = ttlv_bytes(&kv, &p, &n);
	if (r)
		return r == -ENOENT ? -EBADMSG : r;	/* a transparent key, too */
	if (n > sizeof(k->material))
		return -EMSGSIZE;
	memcpy(k->material, p, n);
	k->len = n;
	return 0;
}

/* An optional enumeration or integer: 0 when absent. */
static int optional_enum(const struct ttlv *st, uint32_t tag, uint32_t *v)
{
	int r = ttlv_get_enum(st, tag, v);

	return r == -ENOENT ? (*v = 0, 0) : r;
}

static int optional_int(const struct ttlv *st, uint32_t tag, uint32_t *v)
{
	int32_t i = 0;
	int r = ttlv_get_int(st, tag, &i);

	if (r == -ENOENT)
		r = 0;
	if (!r && i < 0)
		r = -EBADMSG;
	*v = (uint32_t)i;
	return r;
}

int kmip_read_key(const struct ttlv *payload, struct kmip_key *k)
{
	struct ttlv sk, block, wd;
	uint32_t type;
	int r;

	memset(k, 0, sizeof(*k));
	r = kmip_read_uid(payload, k->uid, sizeof(k->uid));
	if (r)
		return r;
	if (ttlv_get_enum(payload, KMIP_TAG_OBJECT_TYPE, &type))
		return -EBADMSG;
	if (type != KMIP_OBJECT_SYMMETRIC_KEY && type != KMIP_OBJECT_PRIVATE_KEY)
		return -EMEDIUMTYPE;
	k->object_type = type;
	if (ttlv_get_struct(payload, type == KMIP_OBJECT_SYMMETRIC_KEY ? KMIP_TAG_SYMMETRIC_KEY :
			    KMIP_TAG_PRIVATE_KEY, &sk) ||
	    ttlv_get_struct(&sk, KMIP_TAG_KEY_BLOCK, &block) ||
	    ttlv_get_enum(&block, KMIP_TAG_KEY_FORMAT_TYPE, &k->format))
		return -EBADMSG;
	r = optional_enum(&block, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, &k->algorithm);
	if (!r)
		r = optional_int(&block, KMIP_TAG_CRYPTOGRAPHIC_LENGTH, &k->bits);
	if (r)
		return r;
	r = ttlv_get_struct(&block, KMIP_TAG_KEY_WRAPPING_DATA, &wd);
	if (r && r != -ENOENT)
		return r;
	k->wrapped = !r;
	r = key_value(&block, k);
	if (r)
		wipe(k->material, sizeof(k->material));
	return r;
}

static int name_value(const struct ttlv *v, struct kmip_attrs *a)
{
	if (a->name[0])
		return 0;	/* the first Name is the one */
	if (v->type != TTLV_STRUCTURE)
		return -EBADMSG;
	return ttlv_get_text(v, KMIP_TAG_NAME_VALUE, a->name, sizeof(a->name));
}

static int reason_value(const struct ttlv *v, struct kmip_attrs *a)
{
	struct ttlv msg;
	int r;

	if (v->type != TTLV_STRUCTURE ||
	    ttlv_get_enum(v, KMIP_TAG_REVOCATION_REASON_CODE, &a->revocation_reason))
		return -EBADMSG;
	r = ttlv_child(v, KMIP_TAG_REVOCATION_MESSAGE, TTLV_TEXT, &msg);
	if (!r)
		kmip_printable(&msg, a->revocation_message, sizeof(a->revocation_message));
	return r == -ENOENT ? 0 : r;
}

static int int_value(const struct ttlv *v, uint32_t *out)
{
	int32_t i;
	int r = ttlv_int(v, &i);

	if (!r && i < 0)
		r = -EBADMSG;
	*out = (uint32_t)i;
	return r;
}

/* One decimal number that fits in 64 bits, at *@p. */
static int decimal(const char **p, uint64_t *v)
{
	const char *s = *p;

	*v = 0;
	if (*s < '0' || *s > '9')
		return -EBADMSG;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (*v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -EBADMSG;
		*v = *v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	return 0;
}

/* "requests=N bytes=N" exactly (message.h). */
static int spent_parse(const char *s, struct kmip_spent *out)
{
	if (strncmp(s, "requests=", 9))
		return -EBADMSG;
	s += 9;
	if (decimal(&s, &out->requests) || strncmp(s, " bytes=", 7))
		return -EBADMSG;
	s += 7;
	if (decimal(&s, &out->bytes) || *s)
		return -EBADMSG;
	return 0;
}

/*
 * "version=N" or "version=N replaces=UID" (message.h) into @a; nothing if
 * it is not in that form, and of several the first in form: which
 * version an object is serves the journal and the operator, never a
 * decision.  N is decimal without a leading zero, as hsmkeyd writes it.
 */
static void version_value(const struct ttlv *v, struct kmip_attrs *a)
{
	char data[32 + KMIP_UID_MAX];
	const char *p = data + 8;
	uint64_t n;

	if (a->version || ttlv_get_text(v, KMIP_TAG_APPLICATION_DATA, data, sizeof(data)) ||
	    strncmp(data, "version=", 8) || *p == '0' || decimal(&p, &n) || n > UINT32_MAX)
		return;
	if (*p && (strncmp(p, " replaces=", 10) || !p[10] ||
		   strlen(p + 10) >= sizeof(a->replaces) || strchr(p + 10, ' ')))
		return;
	a->version = (uint32_t)n;
	if (*p)
		strcpy(a->replaces, p + 10);
}

static void spent_spoiled(struct kmip_attrs *a)
{
	memset(&a->spent, 0, sizeof(a->spent));
	a->spent_index = -1;
	a->spent_unreadable = true;
}

/*
 * An Application Specific Information (@v of Attribute @attr): a spent
 * count or a version (message.h) if it is of one of hsmkey's namespaces.
 * Never fails the object: another application's instance, however
 * malformed, is none of hsmkey's business (the object's state must still
 * be read).  An index left out is 0 (KMIP 1.x); the instances that claim
 * 0 are counted, for kmip_read_attributes() to find a spent count whose
 * index is not its own alone.  A spent count whose index or data is not
 * in its form is "unreadable", which nobody takes nor writes over.
 * Several spent counts (two hosts adding at once): the larger of each
 * field, and the first one's index for the next write.
 */
static void app_value(const struct ttlv *attr, const struct ttlv *v, struct kmip_attrs *a)
{
	char ns[sizeof(KMIP_VERSION_NAMESPACE) + 1], data[64];
	struct kmip_spent s;
	int32_t index = 0;
	int r;

	r = ttlv_get_int(attr, KMIP_TAG_ATTRIBUTE_INDEX, &index);
	if (r == -ENOENT)
		index = 0;
	a->app_zero += (!r || r == -ENOENT) && index == 0;
	if (v->type != TTLV_STRUCTURE ||
	    ttlv_get_text(v, KMIP_TAG_APPLICATION_NAMESPACE, ns, sizeof(ns)))
		return;
	if (!strcmp(ns, KMIP_VERSION_NAMESPACE)) {
		version_value(v, a);
		return;
	}
	if (strcmp(ns, KMIP_SPENT_NAMESPACE) || a->spent_unreadable)
		return;
	if ((r && r != -ENOENT) || index < 0 ||
	    ttlv_get_text(v, KMIP_TAG_APPLICATION_DATA, data, sizeof(data)) ||
	    spent_parse(data, &s)) {
		spent_spoiled(a);
		return;
	}
	if (a->spent_index < 0)
		a->spent_index = index;
	if (s.requests > a->spent.requests)
		a->spent.requests = s.requests;
	if (s.bytes > a->spent.bytes)
		a->spent.bytes = s.bytes;
}

/* One Attribute of GetAttributes' answer; those hsmkey does not read are skipped. */
static int one_attribute(const struct ttlv *attr, struct kmip_attrs *a)
{
	char name[64];
	struct ttlv v;
	int r;

	r = ttlv_get_text(attr, KMIP_TAG_ATTRIBUTE_NAME, name, sizeof(name));
	if (r == -EMSGSIZE)
		return 0;	/* longer than any we read */
	if (r || ttlv_child(attr, KMIP_TAG_ATTRIBUTE_VALUE, 0, &v))
		return -EBADMSG;
	if (!strcmp(name, "Name"))
		return name_value(&v, a);
	if (!strcmp(name, "Object Type"))
		return ttlv_enum(&v, &a->object_type);
	if (!strcmp(name, "State"))
		return ttlv_enum(&v, &a->state);
	if (!strcmp(name, "Cryptographic Algorithm"))
		return ttlv_enum(&v, &a->algorithm);
	if (!strcmp(name, "Cryptographic Length"))
		return int_value(&v, &a->bits);
	if (!strcmp(name, "Cryptographic Usage Mask"))
		return int_value(&v, &a->usage);
	if (!strcmp(name, "Activation Date"))
		return ttlv_datetime(&v, &a->activated);
	if (!strcmp(name, "Deactivation Date"))
		return ttlv_datetime(&v, &a->deactivated);
	if (!strcmp(name, "Destroy Date"))
		return ttlv_datetime(&v, &a->destroyed);
	if (!strcmp(name, "Revocation Reason"))
		return reason_value(&v, a);
	if (!strcmp(name, "Unique Identifier"))
		return ttlv_text(&v, a->uid, sizeof(a->uid));
	if (!strcmp(name, KMIP_APP_INFO_ATTRIBUTE))
		app_value(attr, &v, a);
	return 0;
}

int kmip_read_attributes(const struct ttlv *payload, struct kmip_attrs *a)
{
	struct ttlv_iter it;
	struct ttlv c;
	int r;

	memset(a, 0, sizeof(*a));
	a->spent_index = -1;
	r = kmip_read_uid(payload, a->uid, sizeof(a->uid));
	ttlv_iter_init(payload, &it);
	while (!r && ttlv_next(&it, &c))
		if (c.tag == KMIP_TAG_ATTRIBUTE)
			r = c.type == TTLV_STRUCTURE ? one_attribute(&c, a) : -EBADMSG;
	/* Index 0 claimed by another instance too: which one a write hits is unknown. */
	if (!r && a->spent_index == 0 && a->app_zero > 1)
		spent_spoiled(a);
	return r;
}

int kmip_read_versions(const struct ttlv *payload, struct kmip_version *v, unsigned int max,
		       unsigned int *n)
{
	struct ttlv_iter it;
	struct ttlv c;

	*n = 0;
	ttlv_iter_init(payload, &it);
	while (ttlv_next(&it, &c)) {
		if (c.tag != KMIP_TAG_PROTOCOL_VERSION)
			continue;
		if (*n == max)
			return -E2BIG;
		if (c.type != TTLV_STRUCTURE ||
		    ttlv_get_int(&c, KMIP_TAG_PROTOCOL_VERSION_MAJOR, &v[*n].major) ||
		    ttlv_get_int(&c, KMIP_TAG_PROTOCOL_VERSION_MINOR, &v[*n].minor))
			return -EBADMSG;
		(*n)++;
	}
	return 0;
}

int kmip_read_locate(const struct ttlv *payload, char (*uids)[KMIP_UID_MAX], unsigned int max,
		     unsigned int *n)
{
	struct ttlv_iter it;
	struct ttlv c;
	int r;

	*n = 0;
	ttlv_iter_init(payload, &it);
	while (ttlv_next(&it, &c)) {
		if (c.tag != KMIP_TAG_UNIQUE_IDENTIFIER)
			continue;
		if (*n == max)
			return -E2BIG;
		r = ttlv_text(&c, uids[*n], KMIP_UID_MAX);
		if (r)
			return r;
		(*n)++;
	}
	return 0;
}
