// SPDX-License-Identifier: GPL-2.0
/*
 * The key file format: the previous release's store upgraded once, one
 * JSON type per field (key files and master.kdf), "algorithms" as names.
 */
#include "common.h"

/* What the previous release wrote (tests/host/data/keystore-format2): opened once, upgraded. */
TEST(format2_store_is_upgraded_once)
{
	char dir[] = "/tmp/hsmkey-ks-XXXXXX", cmd[64], path[96], root[96];
	char *copy, *old_root, *cur;
	struct ks_key got;
	struct keystore *ks;
	size_t len, rootlen;

	ASSERT_EQ(0, copy_fixture("keystore-format2", dir));
	snprintf(path, sizeof(path), "%s/keys/old-revoked.json", dir);
	copy = copy_of(path, &len);
	ASSERT_NE(NULL, copy);
	ASSERT_NE(NULL, strstr(copy, "\"format\": 2"));
	snprintf(root, sizeof(root), "%s/root.json", dir);
	old_root = copy_of(root, &rootlen);
	ASSERT_NE(NULL, old_root);

	ASSERT_EQ(0, ks_open_flags(dir, NULL, KS_OPEN_UPGRADE, &ks));
	ASSERT_EQ(0, ks_get(ks, "old-revoked", true, &got));
	EXPECT_EQ(KS_REVOKED, got.state);
	ASSERT_EQ(0, ks_get_version(ks, "old-active", 1, true, &got));
	EXPECT_EQ(7, got.material[7]);
	EXPECT_EQ(2, got.current);
	EXPECT_EQ(2, got.policy.max_bindings);
	EXPECT_EQ(HSMKEY_ALG_XTS, got.policy.algs);	/* the integer form, read */
	ASSERT_EQ(0, ks_get(ks, "old-pending", false, &got));
	EXPECT_EQ(KS_PENDING_DELETION, got.state);
	EXPECT_EQ(KS_DISABLED, got.prior_state);
	ks_close(ks);
	EXPECT_NE(NULL, strstr(slurp(path, &len), "\"format\": 3"));
	/* Once upgraded, the old unauthenticated file put back is a rollback. */
	cur = copy_of(path, &len);
	ASSERT_NE(NULL, cur);
	spit(path, copy, strlen(copy));
	EXPECT_EQ(-EBADMSG, ks_open(dir, &ks));
	spit(path, cur, strlen(cur));
	ASSERT_EQ(0, ks_open(dir, &ks));
	ks_close(ks);
	/* So is the root record from before the upgrade, beside upgraded files. */
	spit(root, old_root, rootlen);
	EXPECT_EQ(-EBADMSG, ks_open(dir, &ks));
	free(cur);
	free(old_root);
	free(copy);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		TH_LOG("cannot remove %s", dir);
}

/* @path rewritten as the format-2 file an attacker makes of it: no MAC, no generation, @state (NULL: as it is). */
static void as_format2(const char *path, const char *state)
{
	struct json_object *o = json_object_from_file(path);

	if (!o)
		return;
	json_object_object_del(o, "mac");
	json_object_object_del(o, "generation");
	json_object_object_add(o, "format", json_object_new_int(2));
	if (state)
		json_object_object_add(o, "state", json_object_new_string(state));
	json_object_to_file_ext(path, o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
	json_object_put(o);
}

/*
 * The root record from before the upgrade put back, with every key file
 * turned back into format 2 (which only drops fields: the seal of format 2
 * does not cover a key's state) and a revoked key made active again.  Only
 * the operator, who knows whether an upgrade is due, may have such a
 * store taken as found (KS_OPEN_UPGRADE).
 */
TEST(format2_root_put_back_is_not_upgraded_unasked)
{
	char dir[] = "/tmp/hsmkey-ks-XXXXXX", cmd[64], path[128], root[96];
	const char *names[] = { "old-active", "old-pending", "old-revoked" };
	struct ks_key got;
	struct keystore *ks;
	size_t rootlen;
	char *old_root;
	int r;

	ASSERT_EQ(0, copy_fixture("keystore-format2", dir));
	snprintf(root, sizeof(root), "%s/root.json", dir);
	old_root = copy_of(root, &rootlen);
	ASSERT_NE(NULL, old_root);
	r = ks_open(dir, &ks);
	EXPECT_EQ(-EPERM, r) TH_LOG("a format-2 store upgraded unasked");
	if (!r)
		ks_close(ks);
	ASSERT_EQ(0, ks_open_flags(dir, NULL, KS_OPEN_UPGRADE, &ks));
	ASSERT_EQ(0, ks_set_state(ks, "old-active", KS_REVOKED));
	ks_close(ks);

	spit(root, old_root, rootlen);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(path, sizeof(path), "%s/keys/%s.json", dir, names[i]);
		as_format2(path, i ? NULL : "active");
		ASSERT_NE(NULL, strstr(slurp(path, &rootlen), "\"format\": 2"));
	}
	r = ks_open(dir, &ks);
	EXPECT_EQ(-EPERM, r);
	if (!r) {
		EXPECT_EQ(0, ks_get(ks, "old-active", false, &got));
		EXPECT_NE(KS_ACTIVE, got.state) TH_LOG("the revoked key is active again");
		ks_close(ks);
	}
	EXPECT_EQ(-EPERM, ks_open_flags(dir, NULL, KS_OPEN_ACCEPT, &ks))
		TH_LOG("--accept-keystore is not the operator's word for an upgrade");
	free(old_root);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		TH_LOG("cannot remove %s", dir);
}

/*
 * Each field of a key file has one JSON type; any other is an error, never
 * read as true or 0.  Format-2 text, which ks_parse() reads without a MAC
 * (as at the upgrade), so the type checks alone decide.
 */
static const char pending_v2[] =
	"{ \"format\": 2, \"name\": \"k\", \"type\": \"aes-128-cbc\", "
	"\"id\": \"e1bb3b1a4761a31c9714553a154009c1\", \"state\": \"pending-deletion\", "
	"\"created\": CREATED, \"delete_at\": DELETE_AT, \"master\": \"2fb9c565f3771d84\", "
	"\"versions\": [ { \"version\": 1, \"created\": VCREATED, "
	"\"nonce\": \"4efc4a5e241dde820c465365\", \"tag\": \"3a4b38ffcc253eecccbcffba97819e98\", "
	"\"sealed\": \"bb4fdad68817011c6ae78fac2ab99e5aeec9d686984fbe26fcb337eec20dcd460a8302ceb396c201ae072277cb579dd8\" "
	"USAGE } ] POLICY }";

struct type_case {
	const char *what, *created, *delete_at, *vcreated, *usage, *policy;
	int err;
};

#define POLICY_OK "\"uids\": [], \"gids\": [], \"algorithms\": 0, \"not_before\": 0, " \
	"\"not_after\": 0, \"max_bytes\": 0, \"max_requests\": 0, \"max_bindings\": 0"

static const struct type_case type_cases[] = {
	{ "well-formed", "17", "40", "17", "", "", 0 },
	{ "created as a string", "\"17\"", "40", "17", "", "", -EINVAL },
	{ "delete_at as a string", "17", "\"40\"", "17", "", "", -EINVAL },
	{ "delete_at as true", "17", "true", "17", "", "", -EINVAL },
	{ "version created as a float", "17", "40", "17.5", "", "", -EINVAL },
	{ "used_bytes as a string", "17", "40", "17", ", \"used_bytes\": \"9\", \"used_requests\": 1", "",
	  -EINVAL },
	{ "load_at_start as \"no\"", "17", "40", "17", "",
	  ", \"policy\": { " POLICY_OK ", \"load_at_start\": \"no\" }", -EINVAL },
	{ "max_bytes as a string", "17", "40", "17", "",
	  ", \"policy\": { \"uids\": [], \"gids\": [], \"algorithms\": 0, \"not_before\": 0, \"not_after\": 0, \"max_bytes\": \"1\", \"max_requests\": 0, \"max_bindings\": 0, \"load_at_start\": true }",
	  -EINVAL },
};

static void fill(char *out, size_t size, const struct type_case *c)
{
	const char *keys[] = { "CREATED", "DELETE_AT", "VCREATED", "USAGE", "POLICY" };
	const char *vals[] = { c->created, c->delete_at, c->vcreated, c->usage, c->policy };
	char tmp[4096];

	snprintf(out, size, "%s", pending_v2);
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		char *at = strstr(out, keys[i]);

		snprintf(tmp, sizeof(tmp), "%.*s%s%s", (int)(at - out), out, vals[i],
			 at + strlen(keys[i]));
		snprintf(out, size, "%s", tmp);
	}
}

TEST_F(ks, key_file_field_types)
{
	for (size_t i = 0; i < ARRAY_SIZE(type_cases); i++) {
		const struct type_case *c = &type_cases[i];
		struct ks_key key;
		char text[4096];

		fill(text, sizeof(text), c);
		EXPECT_EQ(c->err, ks_parse(self->ks, "k.json", text, strlen(text), false, &key)) {
			TH_LOG("%s: expected %d", c->what, c->err);
		}
	}
}

/* master.kdf's numbers are numbers: "n": "131072" is damage, not 131072. */
TEST(kdf_field_types)
{
	char dir[] = "/tmp/hsmkey-ks-XXXXXX", pass[96], kdf[96], cmd[64], out[512], *text, *at;
	struct keystore *ks;
	size_t len;

	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(pass, sizeof(pass), "%s/pass", dir);
	spit(pass, "correct horse\n", 14);
	ASSERT_EQ(0, ks_open_ex(dir, pass, &ks));
	ks_close(ks);
	snprintf(kdf, sizeof(kdf), "%s/master.kdf", dir);
	text = slurp(kdf, &len);
	ASSERT_NE(NULL, text);
	at = strstr(text, "\"n\": 131072");
	ASSERT_NE(NULL, at);
	snprintf(out, sizeof(out), "%.*s\"n\": \"131072\"%s", (int)(at - text), text, at + 11);
	spit(kdf, out, strlen(out));
	EXPECT_EQ(-EINVAL, ks_open_ex(dir, pass, &ks));
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		TH_LOG("cannot remove %s", dir);
}

/* "algorithms" is an array of names everywhere; the old integer is still read. */
struct algs_case {
	const char *json;
	int err;
	uint32_t algs;
};

static const struct algs_case algs_cases[] = {
	{ "[]", 0, 0 },
	{ "[\"xts\"]", 0, HSMKEY_ALG_XTS },
	{ "[\"gcm\", \"xts\"]", 0, HSMKEY_ALG_XTS | HSMKEY_ALG_GCM },
	{ "[\"xts\", \"cbc\", \"gcm\"]", 0, 7 },
	{ "3", 0, HSMKEY_ALG_XTS | HSMKEY_ALG_CBC },	/* the old form */
	{ "8", -EINVAL, 0 },
	{ "-1", -EINVAL, 0 },
	{ "[\"ecb\"]", -EINVAL, 0 },
	{ "[\"xts\", \"xts\"]", -EINVAL, 0 },
	{ "[1]", -EINVAL, 0 },
	{ "\"xts\"", -EINVAL, 0 },
	{ "true", -EINVAL, 0 },
	{ "1.0", -EINVAL, 0 },
};

TEST(policy_algorithms_are_names)
{
	struct ks_policy p = { .algs = HSMKEY_ALG_CBC | HSMKEY_ALG_GCM }, back;
	struct json_object *o = ks_policy_to_json(&p);

	EXPECT_STREQ("[\"cbc\",\"gcm\"]",
		     json_object_to_json_string_ext(json_object_object_get(o, "algorithms"),
						    JSON_C_TO_STRING_PLAIN));
	ASSERT_EQ(0, ks_policy_from_json(o, &back));
	EXPECT_EQ(p.algs, back.algs);
	json_object_put(o);
	for (size_t i = 0; i < ARRAY_SIZE(algs_cases); i++) {
		const struct algs_case *c = &algs_cases[i];
		char text[512];

		snprintf(text, sizeof(text),
			 "{\"uids\":[],\"gids\":[],\"algorithms\":%s,\"not_before\":0,\"not_after\":0,"
			 "\"max_bytes\":0,\"max_requests\":0,\"max_bindings\":0,\"load_at_start\":true}",
			 c->json);
		o = json_tokener_parse(text);
		ASSERT_NE(NULL, o) TH_LOG("case %s", c->json);
		EXPECT_EQ(c->err, ks_policy_from_json(o, &back)) TH_LOG("case %s", c->json);
		if (!c->err)
			EXPECT_EQ(c->algs, back.algs) TH_LOG("case %s", c->json);
		json_object_put(o);
	}
}

/*
 * What the build before grants were authenticated wrote
 * (tests/host/data/keystore-grants: a KMS key with two grants, an XTS key
 * with none).  Grants in such a file cannot be told from forged ones: the
 * key is taken without them, whatever else is restored with it, and the
 * first open writes each file again under the MAC that covers grants.
 */
TEST(grants_outside_the_mac_are_never_taken)
{
	char dir[] = "/tmp/hsmkey-ks-XXXXXX", cmd[128], path[96], plain[96], root[96], tmp[128];
	char *old, *old_plain, *old_root, *cur, *cur_plain;
	struct ks_key got;
	struct keystore *ks;
	size_t len, plen, rootlen;

	ASSERT_EQ(0, copy_fixture("keystore-grants", dir));
	snprintf(path, sizeof(path), "%s/keys/granted.json", dir);
	snprintf(plain, sizeof(plain), "%s/keys/plain.json", dir);
	snprintf(root, sizeof(root), "%s/root.json", dir);
	old_plain = copy_of(plain, &plen);
	old_root = copy_of(root, &rootlen);
	/* The attacker's edit before the first start: a grant of their own. */
	replace_in(path, "\"uid\": 4242", "\"uid\": 1000");
	old = copy_of(path, &len);
	ASSERT_TRUE(old && old_plain && old_root && strstr(old, "\"uid\": 1000"));

	/* A file that cannot be written again: taken all the same, without grants. */
	snprintf(tmp, sizeof(tmp), "%s/keys/.granted.json.tmp", dir);
	ASSERT_EQ(0, mkdir(tmp, 0700));
	ASSERT_EQ(0, ks_open(dir, &ks));
	ASSERT_EQ(0, ks_get(ks, "granted", true, &got));
	EXPECT_EQ(0, got.policy.ngrants);
	EXPECT_EQ(5, got.material[5]);
	ks_close(ks);
	EXPECT_EQ(0, strcmp(old, slurp(path, &len)));
	ASSERT_EQ(0, rmdir(tmp));

	/* Then written again, both files, each under a new generation. */
	ASSERT_EQ(0, ks_open(dir, &ks));
	ASSERT_EQ(0, ks_get(ks, "granted", true, &got));
	EXPECT_EQ(0, got.policy.ngrants);
	ASSERT_EQ(0, ks_get(ks, "plain", true, &got));
	ks_close(ks);
	cur = copy_of(path, &len);
	cur_plain = copy_of(plain, &plen);
	ASSERT_TRUE(cur && cur_plain);
	EXPECT_NE(0, strcmp(old, cur)) TH_LOG("the granted key's file was not written again");
	EXPECT_NE(0, strcmp(old_plain, cur_plain)) TH_LOG("the file without grants was not");
	EXPECT_EQ(NULL, strstr(cur, "\"grants\""));

	/* The old file put back: refused (an older generation). */
	spit(path, old, strlen(old));
	EXPECT_EQ(-EBADMSG, ks_open(dir, &ks));
	spit(path, cur, strlen(cur));
	/* A grant added to a file written now: the key refused. */
	replace_in(plain, "\"state\": \"active\",",
		   "\"state\": \"active\", \"policy\": { \"uids\": [ ], \"gids\": [ ], \"algorithms\": [ ], "
		   "\"not_before\": 0, \"not_after\": 0, \"max_bytes\": 0, \"max_requests\": 0, "
		   "\"max_bindings\": 0, \"load_at_start\": true, "
		   "\"grants\": [ { \"uid\": 7, \"ops\": [ \"encrypt\" ] } ] },");
	ASSERT_NE(NULL, strstr(slurp(plain, &plen), "\"uid\": 7"));
	ASSERT_EQ(0, ks_open(dir, &ks));
	EXPECT_EQ(-EBADMSG, ks_get(ks, "plain", true, &got));
	ks_close(ks);

	/*
	 * The whole directory from before put back (a rollback nothing on the
	 * disk can tell), the edited grant in it: the key, without grants.
	 */
	spit(root, old_root, rootlen);
	spit(plain, old_plain, strlen(old_plain));
	spit(path, old, strlen(old));
	ASSERT_EQ(0, ks_open(dir, &ks));
	ASSERT_EQ(0, ks_get(ks, "granted", true, &got));
	EXPECT_EQ(0, got.policy.ngrants) TH_LOG("a grant from a file of the earlier build was taken");
	ks_close(ks);
	free(old);
	free(old_plain);
	free(old_root);
	free(cur);
	free(cur_plain);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		TH_LOG("cannot remove %s", dir);
}
