/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KMIP messages (KMIP 1.2 §7): the requests hsmkey sends (request.c), and
 * the responses it reads (response.c for the envelope and the result of
 * each batch item, payload.c for what the operations return).
 *
 * A request is one Request Message of one or more batch items, built into
 * a struct ttlv_out:
 *
 *	kmip_request_begin(o, &version, 1);
 *	kmip_req_get(o, uid, wrap_uid);
 *	kmip_request_end(o);
 *
 * Attributes are those of KMIP 1.x (Template-Attribute structures of
 * named attributes); the client speaks 1.2 or the newest 1.x both sides
 * know (DiscoverVersions).  Errors are -errno, as in ttlv.h.
 */
#ifndef HSMKEY_KMIP_MESSAGE_H
#define HSMKEY_KMIP_MESSAGE_H

#include "kmip/tags.h"
#include "kmip/ttlv.h"

#define KMIP_MSG_MAX		(1 << 20)	/* a message either way */
#define KMIP_UID_MAX		128		/* a Unique Identifier, with its NUL */
#define KMIP_NAME_MAX		256		/* a Name's value, with its NUL */
#define KMIP_KEY_MAX		64		/* key material, in bytes */
#define KMIP_PRIVATE_MAX	4096		/* a private key's PKCS #8 */
#define KMIP_VERSIONS_MAX	16		/* DiscoverVersions' list */
#define KMIP_BATCH_MAX		64		/* items in one message */

struct kmip_version {
	int32_t major, minor;
};

/*
 * What has been spent of a key version (its GCM invocations: requests;
 * and bytes), kept on the server so that it outlives the host: an
 * Application Specific Information of namespace KMIP_SPENT_NAMESPACE and
 * data "requests=N bytes=N" (decimal) on the version's object.
 */
#define KMIP_SPENT_NAMESPACE	"hsmkey-spent"
#define KMIP_APP_INFO_ATTRIBUTE	"Application Specific Information"

struct kmip_spent {
	uint64_t requests, bytes;
};

/*
 * Which version of which hsmkey key an object is, on every object hsmkey
 * creates or registers for a key: an Application Specific Information of
 * namespace KMIP_VERSION_NAMESPACE and data "version=N" (decimal, from
 * 1), then for a version after the first " replaces=UID", the object of
 * the version before it.  The versions of one key share its Name.  This
 * stands where KMIP's Link (Replaced Object) would: PyKMIP, the server the
 * tests run, cannot decode a Link in a request, nor store or return one.
 */
#define KMIP_VERSION_NAMESPACE	"hsmkey-version"

/*
 * What a new key is (Create: a symmetric key; Register: a symmetric key's
 * Raw bytes, or a private key's PKCS #8).
 */
struct kmip_key_attrs {
	const char *name;	/* its Name, or NULL */
	uint32_t object_type;	/* KMIP_OBJECT_SYMMETRIC_KEY or _PRIVATE_KEY */
	uint32_t algorithm;	/* Cryptographic Algorithm (enum kmip_algorithm) */
	uint32_t bits;		/* Cryptographic Length */
	uint32_t usage;		/* Cryptographic Usage Mask (enum kmip_usage_mask) */
	const char *group;	/* Object Group, or NULL */
	bool spent;		/* with a spent count of nothing yet (kmip_spent) */
	uint32_t version;	/* hsmkey's version of the key it is, 0: not said */
	const char *replaces;	/* the object of the version before, or NULL */
};

/* Requests (request.c). */
void kmip_request_begin(struct ttlv_out *o, const struct kmip_version *v, uint32_t items);
void kmip_request_end(struct ttlv_out *o);
/* A batch item and its payload: its Unique Batch Item ID is its index. */
void kmip_item_begin(struct ttlv_out *o, uint32_t op);
void kmip_item_end(struct ttlv_out *o);

/* A whole batch item each. */
void kmip_req_create(struct ttlv_out *o, const struct kmip_key_attrs *a);
void kmip_req_register(struct ttlv_out *o, const struct kmip_key_attrs *a,
		       const uint8_t *key, size_t len);
/* @wrap_uid: the key the server wraps it with (AES key wrap), or NULL. */
void kmip_req_get(struct ttlv_out *o, const char *uid, const char *wrap_uid);
/* @op: Activate, Destroy, or GetAttributes of every attribute. */
void kmip_req_uid(struct ttlv_out *o, uint32_t op, const char *uid);
void kmip_req_get_attributes(struct ttlv_out *o, const char *uid, const char *const *names,
			     unsigned int n);
/* @compromised: the Compromise Occurrence Date, for a key compromise. */
void kmip_req_revoke(struct ttlv_out *o, const char *uid, uint32_t reason, const char *why,
		     int64_t compromised);
/*
 * The spent count on object @uid: ModifyAttribute of its instance
 * @index (the Attribute Index GetAttributes gave), or AddAttribute when
 * @index is negative (an object hsmkey did not make).
 */
void kmip_req_spent(struct ttlv_out *o, const char *uid, int32_t index,
		    const struct kmip_spent *s);
/* Objects with Name @name (NULL: any) in @group (NULL: any). */
void kmip_req_locate(struct ttlv_out *o, const char *name, const char *group, uint32_t max);
void kmip_req_query(struct ttlv_out *o, const uint32_t *functions, unsigned int n);
void kmip_req_discover(struct ttlv_out *o, const struct kmip_version *v, unsigned int n);

/* Responses (response.c). */
struct kmip_response {
	struct ttlv top;
	struct kmip_version version;
	int64_t time;
	uint32_t count;		/* batch items, each checked to be there */
	struct ttlv_iter items;
};

struct kmip_result {
	uint32_t op;		/* 0 if the server did not say */
	uint32_t item_id;	/* the request item's index (kmip_item_begin()), if given */
	bool has_item_id;
	uint32_t status;	/* enum kmip_result_status */
	uint32_t reason;	/* enum kmip_result_reason, 0 on success */
	char message[256];	/* the server's Result Message, or "" */
	bool has_payload;
	struct ttlv payload;
};

/*
 * A Response Message (@buf stays the caller's, and must outlive @r): its
 * header read, its batch items counted against the header's count.
 */
int kmip_response_parse(const uint8_t *buf, size_t len, struct kmip_response *r);
/* The next batch item's result: 1, or 0 after the last, or -EBADMSG. */
int kmip_response_next(struct kmip_response *r, struct kmip_result *res);
/* A failed result as -errno (-ENOENT for an object not found, ...). */
int kmip_result_errno(const struct kmip_result *res);
const char *kmip_reason_name(uint32_t reason);
/*
 * A text item of the server's that may be logged, as printable ASCII
 * (anything else becomes '?'), cut to fit @size: a server must not write
 * into the journal.
 */
void kmip_printable(const struct ttlv *it, char *out, size_t size);

/* Payloads (payload.c). */
int kmip_read_uid(const struct ttlv *payload, char *uid, size_t size);

/*
 * A key from Get: a symmetric key's material in clear, or wrapped; or a
 * private key's, in the format the server gives.
 */
struct kmip_key {
	char uid[KMIP_UID_MAX];
	uint32_t object_type, algorithm, bits, format;
	bool wrapped;
	uint32_t len;
	uint8_t material[KMIP_PRIVATE_MAX];
};

int kmip_read_key(const struct ttlv *payload, struct kmip_key *k);

/* What GetAttributes says of an object (those hsmkey reads). */
struct kmip_attrs {
	char uid[KMIP_UID_MAX];
	char name[KMIP_NAME_MAX];	/* the first Name, or "" */
	uint32_t object_type, state, algorithm, bits, usage;
	int64_t activated, deactivated, destroyed;	/* dates, 0 if none */
	uint32_t revocation_reason;	/* enum kmip_revocation_reason, 0 if none */
	char revocation_message[256];	/* the server's words, or "" */
	int32_t spent_index;		/* the spent count's Attribute Index, -1: none */
	struct kmip_spent spent;	/* 0 if none, or unreadable */
	bool spent_unreadable;		/* one of hsmkey's namespace, not in its form */
	unsigned int app_zero;		/* Application Specific Information instances at index 0 */
	uint32_t version;		/* of its hsmkey-version instance, 0 if none or unreadable */
	char replaces[KMIP_UID_MAX];	/* ditto, "" if none */
};

int kmip_read_attributes(const struct ttlv *payload, struct kmip_attrs *a);
int kmip_read_versions(const struct ttlv *payload, struct kmip_version *v, unsigned int max,
		       unsigned int *n);
/* Locate's identifiers, in the server's order; -E2BIG if over @max. */
int kmip_read_locate(const struct ttlv *payload, char (*uids)[KMIP_UID_MAX], unsigned int max,
		     unsigned int *n);

#endif
