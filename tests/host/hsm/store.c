// SPDX-License-Identifier: GPL-2.0
/*
 * The token as the daemon's store: key names and labels, derived secrets
 * and MACs, the rollback anchor.
 */

static void test_names(struct hsm *h)
{
	uint8_t id[16], in1[16], in2[16];
	char vid[41];
	int r;

	ok(hsm_state(h, NULL, 0) == HSM_UP && !strcmp(hsm_label(h), "t1"), "t1 is up, label %s",
	   hsm_label(h));
	ok(!hsm_instance(h, in1) && !hsm_instance(h, in2) && !memcmp(in1, in2, 16),
	   "instance id is stable");
	ok(sh("softhsm_count_label t1 hsmkey:instance") == 1 &&
	   sh("softhsm_count_label t1 hsmkey:record") == 1 &&
	   sh("softhsm_count_label t1 hsmkey:root") == 1 &&
	   sh("softhsm_count_label t1 hsmkey:delivery") == 2 &&
	   sh("softhsm_count_label t1 hsmkey:audit") == 2, "hsm_open made the hsmkey:* objects");

	id_of(id, 1);
	vid_hex(id, 7, vid);
	r = hsm_key_generate(h, id, 7, HSMKEY_TYPE_AES_256_XTS, "disk");
	ok(!r, "generate an XTS-256 key version: %d", r);
	ok(!hsm_key_find(h, id, 7), "find it");
	ok(hsm_key_find(h, id, 8) == -ENOENT, "version 8 is not there: -ENOENT");
	ok(hsm_key_generate(h, id, 7, HSMKEY_TYPE_AES_256_XTS, "disk") == -EEXIST,
	   "generate the same version again: -EEXIST");
	ok(sh("softhsm_count_id t1 %s", vid) == 1 && sh("softhsm_count_label t1 hsmkey:disk:v7") == 1,
	   "PyKCS11 sees one object with its CKA_ID and label hsmkey:disk:v7");
	ok(sh("softhsm_py t1 <<< 'o = s.findObjects([(P.CKA_LABEL, \"hsmkey:disk:v7\")])[0]\n"
	      "a = s.getAttributeValue(o, [P.CKA_KEY_TYPE, P.CKA_VALUE_LEN, P.CKA_SENSITIVE, "
	      "P.CKA_EXTRACTABLE, P.CKA_ENCRYPT, P.CKA_WRAP, P.CKA_DERIVE, P.CKA_TOKEN, "
	      "P.CKA_PRIVATE])\n"
	      "print(int(a == [P.CKK_GENERIC_SECRET, 64, True, True, False, False, False, True, "
	      "True]))'") == 1,
	   "its attributes: GENERIC_SECRET 64, sensitive, extractable, no use, token, private");
	r = hsm_key_generate(h, id, 9, HSMKEY_TYPE_AES_128_GCM, "disk");
	ok(!r && sh("softhsm_py t1 <<< 'o = s.findObjects([(P.CKA_LABEL, \"hsmkey:disk:v9\")])[0]\n"
		    "print(int(s.getAttributeValue(o, [P.CKA_KEY_TYPE, P.CKA_VALUE_LEN]) == "
		    "[P.CKK_AES, 16]))'") == 1, "an AES-128 version is CKK_AES of 16 bytes");
	ok(!hsm_key_destroy(h, id, 7), "destroy version 7");
	ok(hsm_key_find(h, id, 7) == -ENOENT && hsm_key_destroy(h, id, 7) == -ENOENT,
	   "then find and destroy: -ENOENT");
	ok(sh("softhsm_count_id t1 %s", vid) == 0, "PyKCS11 finds no object with its CKA_ID");
	ok(!hsm_key_find(h, id, 9), "version 9 is still there");
}

/*
 * 1 if the reference client's HMAC-SHA256 under token t1's object @label
 * over @msg (a Python bytes literal's text) is @want, 0 if not.  hsmkeyd
 * MACs with a session copy of the object: this is the object itself.
 */
static long ref_hmac(const char *label, const char *msg, const uint8_t want[32])
{
	char hex[65];

	hex_encode(want, 32, hex);
	return sh("softhsm_py t1 <<< 'o = s.findObjects([(P.CKA_LABEL, \"%s\"), "
		  "(P.CKA_TOKEN, True)])[0]\n"
		  "m = bytes(s.sign(o, b\"%s\", P.Mechanism(P.CKM_SHA256_HMAC)))\n"
		  "print(int(m.hex() == \"%s\"))'", label, msg, hex);
}

static void test_secrets(struct hsm *h, struct hsm *h2)
{
	uint8_t m1[32], m2[32], m3[32], m4[32], d1[64], d2[64], d3[16], sig[64], pub[32];
	static const char msg[] = "record of key disk, generation 4";
	EVP_PKEY *k;
	EVP_MD_CTX *c;
	int v;

	ok(!hsm_mac(h, msg, sizeof(msg), m1) && !hsm_mac(h, msg, sizeof(msg), m2) &&
	   !memcmp(m1, m2, 32), "hsm_mac is deterministic");
	ok(!hsm_mac(h, msg, sizeof(msg) - 1, m3) && memcmp(m1, m3, 32),
	   "another message, another MAC");
	ok(!hsm_mac(h2, msg, sizeof(msg), m4) && memcmp(m1, m4, 32),
	   "another token, another MAC (its own hsmkey:record)");
	ok(!hsm_derive(h, "audit mac", d1, 64) && !hsm_derive(h, "audit mac", d2, 64) &&
	   !memcmp(d1, d2, 64) && !hsm_derive(h, "audit mac", d3, 16) && !memcmp(d1, d3, 16),
	   "hsm_derive is deterministic, shorter output is its prefix");
	ok(!hsm_derive(h, "verifier", d2, 64) && memcmp(d1, d2, 64) && memcmp(d1, m1, 32),
	   "another label, another secret (and not the record MAC)");
	ok(hsm_derive(h, "x", d1, 65) == -EINVAL, "derive 65 bytes: -EINVAL");
	ok(ref_hmac("hsmkey:record", "record of key disk, generation 4\\x00", m1) == 1,
	   "the reference client's HMAC with the token object hsmkey:record is hsm_mac's");
	hsm_derive(h, "audit mac", d1, 32);
	ok(ref_hmac("hsmkey:root", "audit mac\\x00\\x00\\x00\\x01", d1) == 1,
	   "and with hsmkey:root of label || be32(1) is hsm_derive's");
	d1[0] ^= 1;
	ok(ref_hmac("hsmkey:root", "audit mac\\x00\\x00\\x00\\x01", d1) == 0,
	   "(control: a value one bit off is told apart)");
	ok(!hsm_sign(h, msg, sizeof(msg), sig, pub), "hsm_sign");
	k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	c = EVP_MD_CTX_new();
	v = k && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) > 0 &&
	    EVP_DigestVerify(c, sig, 64, (const uint8_t *)msg, sizeof(msg)) == 1;
	ok(v, "OpenSSL verifies the Ed25519 signature with the returned key");
	EVP_MD_CTX_free(c);
	c = EVP_MD_CTX_new();
	sig[5] ^= 1;
	v = k && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) > 0 &&
	    EVP_DigestVerify(c, sig, 64, (const uint8_t *)msg, sizeof(msg)) == 1;
	ok(!v, "a flipped signature does not verify");
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
}

static void test_anchor(struct hsm *h)
{
	uint8_t buf[HSM_ANCHOR_MAX];
	size_t len = sizeof(buf);
	uint64_t n = 0;

	ok(hsm_anchor_load(h, &n, buf, &len) == -ENOENT, "no anchor yet: -ENOENT");
	ok(!hsm_anchor_store(h, 1, "one", 3) && !hsm_anchor_store(h, 2, "two!", 4), "store 1, 2");
	len = sizeof(buf);
	ok(!hsm_anchor_load(h, &n, buf, &len) && n == 2 && len == 4 && !memcmp(buf, "two!", 4),
	   "load gives 2");
	ok(hsm_anchor_store(h, 2, "dup", 3) == -EEXIST, "store 2 again: -EEXIST");
	ok(sh("softhsm_count_label t1 hsmkey:anchor:1") == 0 &&
	   sh("softhsm_count_label t1 hsmkey:anchor:2") == 1, "the older anchor was removed");
	/* A crash between making 5 and removing 2 leaves both. */
	sh("softhsm_py t1 <<< 's.createObject([(P.CKA_CLASS, P.CKO_DATA), (P.CKA_TOKEN, True), "
	   "(P.CKA_PRIVATE, True), (P.CKA_APPLICATION, \"hsmkey anchor\"), "
	   "(P.CKA_LABEL, \"hsmkey:anchor:5\"), (P.CKA_VALUE, b\"five\")])'");
	len = sizeof(buf);
	ok(!hsm_anchor_load(h, &n, buf, &len) && n == 5 && len == 4 && !memcmp(buf, "five", 4),
	   "two anchors left by a crash: the highest wins");
	ok(hsm_anchor_store(h, 4, "x", 1) == -EEXIST && !hsm_anchor_store(h, 6, "six", 3),
	   "store 4 refused, 6 taken");
	ok(sh("softhsm_count_label t1 hsmkey:anchor:2") == 0 &&
	   sh("softhsm_count_label t1 hsmkey:anchor:5") == 0 &&
	   sh("softhsm_count_label t1 hsmkey:anchor:6") == 1, "6 replaced both");
}
