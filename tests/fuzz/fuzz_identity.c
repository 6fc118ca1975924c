// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer: hsmkeyd's reader of identity key files (daemon/identity_file.c),
 * which reads whatever file an admin's import names: PEM armour, base64,
 * DER.  Any input, as each identity key type.  And properties: what it
 * accepts is a private key of that type, read again the same; what it
 * refuses leaves the material wiped; nothing is written past the type's
 * length.
 */
#include <stdlib.h>
#include <string.h>
#include "identity.h"
#include "util.h"

static const uint8_t zero[KS_MATERIAL_MAX];

static void one(int type, const uint8_t *data, size_t size)
{
	uint8_t material[KS_MATERIAL_MAX], again[KS_MATERIAL_MAX];
	size_t len = key_type_len(type);

	memset(material, 0xa5, sizeof(material));
	if (identity_parse(type, data, size, material)) {
		if (memcmp(material, zero, len))
			abort();	/* refused, but not wiped */
		for (size_t i = len; i < sizeof(material); i++)
			if (material[i] != 0xa5)
				abort();	/* written past the type's length */
		return;
	}
	for (size_t i = len; i < sizeof(material); i++)
		if (material[i] != 0xa5)
			abort();
	if (identity_check(type, material, NULL, 0) ||
	    identity_parse(type, data, size, again) || memcmp(material, again, len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(KS_TYPE_ECDSA_P256, data, size);
	one(KS_TYPE_ECDSA_P384, data, size);
	one(KS_TYPE_ED25519, data, size);
	one(KS_TYPE_RSA_2048, data, size);
	one(KS_TYPE_RSA_3072, data, size);
	return 0;
}
