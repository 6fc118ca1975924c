// SPDX-License-Identifier: GPL-2.0
/*
 * Versions whose material another backend keeps (the KMIP backend: a key
 * server's Unique Identifier in "ref"): only the verifier is sealed, the
 * ref survives reopening and rotation and re-sealing, and a ref edited,
 * removed or swapped between versions in the file is refused.
 */
#include "common.h"

static const uint8_t zero[HSMKEY_MATERIAL_MAX];

TEST_F(ks, ref_kept_and_no_material)
{
	struct ks_key got, v1, v2;
	char path[160], *text;
	size_t len;

	ASSERT_EQ(0, ks_create_ref(self->ks, "k1", HSMKEY_TYPE_AES_256_XTS, "uid-0001", &v1));
	EXPECT_STREQ("uid-0001", v1.ref);
	ASSERT_EQ(0, ks_get(self->ks, "k1", true, &got));
	EXPECT_STREQ("uid-0001", got.ref);
	EXPECT_EQ(0, memcmp(got.material, zero, sizeof(zero)));
	EXPECT_EQ(0, memcmp(got.verifier, v1.verifier, HSMKEY_VERIFIER_LEN));
	/* The file: the ref in clear, 32 bytes sealed (the verifier), no more. */
	snprintf(path, sizeof(path), "%s/keys/k1.json", self->dir);
	text = slurp(path, &len);
	ASSERT_NE(NULL, text);
	EXPECT_NE(NULL, strstr(text, "\"ref\": \"uid-0001\""));
	ASSERT_EQ(0, ks_rotate_ref(self->ks, "k1", "uid-0002", &v2));
	EXPECT_EQ(2, v2.version);
	ASSERT_EQ(0, ks_set_state(self->ks, "k1", KS_DISABLED));	/* re-seals both */
	ks_close(self->ks);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	ASSERT_EQ(0, ks_get_version(self->ks, "k1", 1, true, &got));
	EXPECT_STREQ("uid-0001", got.ref);
	EXPECT_EQ(0, memcmp(got.verifier, v1.verifier, HSMKEY_VERIFIER_LEN));
	ASSERT_EQ(0, ks_get_version(self->ks, "k1", 2, false, &got));
	EXPECT_STREQ("uid-0002", got.ref);
	ASSERT_EQ(0, ks_get(self->ks, "k1", false, &got));
	EXPECT_STREQ("uid-0002", got.ref);
	/* A key of the keystore's own beside it: its material, no ref. */
	ASSERT_EQ(0, ks_create(self->ks, "k2", HSMKEY_TYPE_AES_256_XTS, self->material, NULL));
	ASSERT_EQ(0, ks_get(self->ks, "k2", true, &got));
	EXPECT_STREQ("", got.ref);
	EXPECT_EQ(0, memcmp(got.material, self->material, 64));
}

TEST_F(ks, ref_edited_is_refused)
{
	struct ks_key got;
	char path[160];

	ASSERT_EQ(0, ks_create_ref(self->ks, "k1", HSMKEY_TYPE_AES_256_GCM, "uid-0001", NULL));
	ASSERT_EQ(0, ks_rotate_ref(self->ks, "k1", "uid-0002", NULL));
	snprintf(path, sizeof(path), "%s/keys/k1.json", self->dir);
	/* Pointed at another object of the server's. */
	replace_in(path, "\"ref\": \"uid-0001\"", "\"ref\": \"uid-0666\"");
	EXPECT_EQ(-EBADMSG, ks_get_version(self->ks, "k1", 1, true, &got));
	/* After a restart: set aside, as any file that does not authenticate. */
	ks_close(self->ks);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	EXPECT_EQ(-EBADMSG, ks_get_version(self->ks, "k1", 1, true, &got));
	EXPECT_EQ(-EBADMSG, ks_get(self->ks, "k1", false, &got));
}

TEST_F(ks, ref_removed_is_refused)
{
	struct ks_key got;
	char path[160];
	int n = 0;

	ASSERT_EQ(0, ks_create_ref(self->ks, "k1", HSMKEY_TYPE_AES_256_GCM, "uid-0001", NULL));
	snprintf(path, sizeof(path), "%s/keys/k1.json", self->dir);
	replace_in(path, ",\n      \"ref\": \"uid-0001\"", "");
	EXPECT_NE(0, ks_get(self->ks, "k1", true, &got));
	ks_close(self->ks);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	EXPECT_NE(0, ks_get(self->ks, "k1", true, &got));
	EXPECT_EQ(0, ks_list(self->ks, NULL, count_key, &n));
	EXPECT_EQ(0, n);
}

TEST_F(ks, bad_refs_refused)
{
	char long_ref[KS_REF_MAX + 1];

	memset(long_ref, 'a', KS_REF_MAX);
	long_ref[KS_REF_MAX] = '\0';
	EXPECT_EQ(-EINVAL, ks_create_ref(self->ks, "k1", HSMKEY_TYPE_AES_256_GCM, "", NULL));
	EXPECT_EQ(-EINVAL, ks_create_ref(self->ks, "k1", HSMKEY_TYPE_AES_256_GCM, "a b", NULL));
	EXPECT_EQ(-EINVAL, ks_create_ref(self->ks, "k1", HSMKEY_TYPE_AES_256_GCM, "a\nb", NULL));
	EXPECT_EQ(-EINVAL, ks_create_ref(self->ks, "k1", HSMKEY_TYPE_AES_256_GCM, long_ref, NULL));
	long_ref[KS_REF_MAX - 1] = '\0';
	EXPECT_EQ(0, ks_create_ref(self->ks, "k1", HSMKEY_TYPE_AES_256_GCM, long_ref, NULL));
	EXPECT_EQ(-EINVAL, ks_rotate_ref(self->ks, "k1", "", NULL));
}

/*
 * A ref moved into the sealed field: "ref\0" + 27 characters + "\0" is 32
 * bytes, an aes-256-gcm key's length, so without its ref the version reads
 * as one whose material is sealed here; the file's MAC must tell them apart.
 */
TEST_F(ks, ref_folded_into_sealed_is_refused)
{
	static const char ref[] = "0123456789abcdef0123456789a";	/* 27 */
	char path[160], hex[2 * 64 + 1], sealed[2 * 64 + 1], find[256], repl[256];
	struct json_object *o, *v;
	struct ks_key got;
	uint8_t raw[32];
	size_t len;
	char *text;

	ASSERT_EQ(27, strlen(ref));
	ASSERT_EQ(0, ks_create_ref(self->ks, "k1", HSMKEY_TYPE_AES_256_GCM, ref, NULL));
	snprintf(path, sizeof(path), "%s/keys/k1.json", self->dir);
	text = slurp(path, &len);
	ASSERT_NE(NULL, text);
	o = json_tokener_parse(text);
	ASSERT_NE(NULL, o);
	v = json_object_array_get_idx(json_object_object_get(o, "versions"), 0);
	snprintf(sealed, sizeof(sealed), "%s", json_object_get_string(json_object_object_get(v, "sealed")));
	json_object_put(o);
	ASSERT_EQ(64, strlen(sealed));
	memcpy(raw, "ref", 4);
	memcpy(raw + 4, ref, 28);
	hex_encode(raw, 32, hex);
	snprintf(find, sizeof(find), "\"sealed\": \"%s\",\n      \"ref\": \"%s\"", sealed, ref);
	snprintf(repl, sizeof(repl), "\"sealed\": \"%s%s\"", sealed, hex);
	text = slurp(path, &len);
	ASSERT_NE(NULL, strstr(text, find)) TH_LOG("the file's layout changed: %s", text);
	replace_in(path, find, repl);
	ks_close(self->ks);
	ASSERT_EQ(0, ks_open(self->dir, &self->ks));
	EXPECT_EQ(-EBADMSG, ks_get_version(self->ks, "k1", 1, false, &got));
}
