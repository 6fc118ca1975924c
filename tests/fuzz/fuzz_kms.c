// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer: the KMS API's readers of what a client sends (daemon/
 * kms_blob.c): a ciphertext blob, and an encryption context (JSON).  Any
 * input as a blob opened under a fixed key, and as a context.  Properties:
 * a blob refused leaves the plaintext buffer wiped; one accepted is
 * written back byte for byte by sealing its plaintext under the same
 * header (nonce aside); a context's canonical form is the same twice,
 * within its limit, and counts the object's pairs.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "kms_blob.h"
#include "key.h"

/* The seed blobs in tests/host/test_fuzz.sh are made under this key (AES-128: its first half). */
static const uint8_t key[32] = "hsmkey fuzz_kms key 0123456789ab";

static void blob(const uint8_t *data, size_t size)
{
	static uint8_t pt[KMS_PLAINTEXT_MAX], again[KMS_PLAINTEXT_MAX + KMS_OVERHEAD];
	static const uint8_t empty[4];
	struct kms_head head;

	if (kms_parse(data, size, &head))
		return;
	memset(pt, 0xa5, sizeof(pt));
	if (kms_open(key, empty, sizeof(empty),
		     data, size, pt)) {
		for (size_t i = 0; i < size - KMS_OVERHEAD; i++)
			if (pt[i])
				abort();	/* refused, but not wiped */
		return;
	}
	if (kms_seal(&head, key, empty,
		     sizeof(empty), pt, size - KMS_OVERHEAD, again) ||
	    memcmp(again, data, 28))
		abort();	/* the header sealed again differs */
}

static void context(const uint8_t *data, size_t size)
{
	static uint8_t a[KMS_CONTEXT_MAX], b[KMS_CONTEXT_MAX];
	struct json_tokener *tok = json_tokener_new_ex(4);
	struct json_object *o = tok ? json_tokener_parse_ex(tok, (const char *)data, (int)size) : NULL;
	int n, m;
	uint32_t count;

	if (tok)
		json_tokener_free(tok);
	if (!o)
		return;
	n = kms_context_encode(o, NULL, a);
	m = kms_context_encode(o, NULL, b);
	if (n != m || (n > 0 && memcmp(a, b, (size_t)n)) || n > KMS_CONTEXT_MAX)
		abort();
	if (n > 0) {
		memcpy(&count, a, 4);
		if (ntohl(count) != (uint32_t)json_object_object_length(o))
			abort();
	}
	json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	blob(data, size);
	context(data, size);
	return 0;
}
