// SPDX-License-Identifier: GPL-2.0
/*
 * End-to-end delivery: the design's §2.4 known answer, known material
 * through the token and out by the kernel's KDF, adoption and its refusals.
 */

/* The §2.4 vector: the HSM's delivery key planted before hsm_open. */
/* The design's known-answer vector (section 2.4): the token's key and point. */
static const char vec_dh[] = "76dbc0ad754ade3bb2ee4324e67253aa6d360aed3e3eea36c2af5b4d3a794c04";
static const char vec_qh[] = "04071886295f2ea29858d2060cf3a73d8a3565cfffc493f6adbc08b86b8000b32d"
			     "34ff30360c79a120c34518073985e5ed5cebd0707393d5c70fb0e3dd5361a4f1";

/* A new token @token whose hsmkey:delivery PyKCS11 plants: the vector's, deriving or not. */
static void plant_delivery(const char *token, bool derive)
{
	sh("softhsm_token %s && softhsm_py %s <<< 'p256 = bytes.fromhex(\"06082a8648ce3d030107\")\n"
	   "s.createObject([(P.CKA_CLASS, P.CKO_PRIVATE_KEY), (P.CKA_KEY_TYPE, P.CKK_EC), "
	   "(P.CKA_TOKEN, True), (P.CKA_PRIVATE, True), (P.CKA_SENSITIVE, True), "
	   "(P.CKA_EXTRACTABLE, False), (P.CKA_DERIVE, %s), (P.CKA_LABEL, \"hsmkey:delivery\"), "
	   "(P.CKA_EC_PARAMS, p256), (P.CKA_VALUE, bytes.fromhex(\"%s\"))])\n"
	   "s.createObject([(P.CKA_CLASS, P.CKO_PUBLIC_KEY), (P.CKA_KEY_TYPE, P.CKK_EC), "
	   "(P.CKA_TOKEN, True), (P.CKA_PRIVATE, True), (P.CKA_LABEL, \"hsmkey:delivery\"), "
	   "(P.CKA_EC_PARAMS, p256), (P.CKA_EC_POINT, bytes.fromhex(\"0441%s\"))])'",
	   token, token, derive ? "True" : "False", vec_dh, vec_qh);
}

static void test_kat(void)
{
	static const char qk[] = "041a7feb5200bd3c317db670c186a6c7c43bc55f6c6f583cf5b66382773324a15f"
				 "6aca436ff77eff023708cc405e7afd6a6a026e4187683877faa944432def09df";
	static const char blob[] = "3431ea4b6e57c0cf86bd4e9060bc8326663fbb2800c89e7d26fe039d7049354d"
				   "8e2504d7ec4750d38cb9874a7905023916726f9b1ca93e2328596dcc42b2ae36"
				   "40ec502d555fb940";
	uint8_t kpt[65], hpt[65], want_h[65], want[72], mat[64];
	struct hsm_wrap_req q = { .version = 3, .type = HSMKEY_TYPE_AES_256_XTS };
	struct hsm_wrapped w;
	struct hsm *h;
	int i, r;

	plant_delivery("kat", true);
	unhex(qk, kpt, 65);
	unhex(vec_qh, want_h, 65);
	unhex(blob, want, 72);
	unhex("000102030405060708090a0b0c0d0e0f", q.id, 16);
	for (i = 0; i < 64; i++)
		mat[i] = 0x40 + i;
	h = open_token("kat", pin_path, 0, false);
	ok(h != NULL, "open the KAT token (its delivery key planted by PyKCS11)");
	if (!h)
		return;
	r = h ? hsm_key_import(h, q.id, 3, HSMKEY_TYPE_AES_256_XTS, "kat", mat) : -1;
	ok(!r, "import the vector's material 40..7f as version 3: %d", r);
	r = h ? hsm_wrap_for_kernel(h, kpt, &q, 1, hpt, &w, 0) : -1;
	ok(!r && !memcmp(hpt, want_h, 65), "hpoint is the vector's Qh");
	ok(!r && w.len == 72 && !memcmp(w.blob, want, 72),
	   "hsm_wrap_for_kernel gives the §2.4 blob byte for byte");
	q.version = 4;
	ok(h && hsm_wrap_for_kernel(h, kpt, &q, 1, hpt, &w, 0) == -ENOENT,
	   "a version the token lacks: -ENOENT");
	hsm_close(h);
}

/* A delivery of key @n's version 1 (AES-128-CBC) from @h to a new kernel key. */
static int deliver_v1(struct hsm *h, unsigned int n)
{
	struct hsm_wrap_req q = { .version = 1, .type = HSMKEY_TYPE_AES_128_CBC };
	struct hsm_wrapped w;
	struct kernel_key kk;
	uint8_t hpt[65];
	int r;

	id_of(q.id, n);
	kernel_key_new(&kk);
	r = hsm_wrap_for_kernel(h, kk.point, &q, 1, hpt, &w, 0);
	EVP_PKEY_free(kk.k);
	return r;
}

/* The derived key of the first ECDH in the spy's log, then a C_DestroyObject of it. */
static const char spy_destroyed[] =
	"awk '/^[0-9]+: C_/ { call = $2; ecdh = 0 }"
	" call == \"C_DeriveKey\" && /pMechanism->type = CKM_ECDH1_DERIVE/ { ecdh = 1 }"
	" ecdh && !z && /\\[out\\] hKey = / { z = $NF }"
	" call == \"C_DestroyObject\" && z && /\\[in\\] hObject = / && $NF == z { print 1; exit }' %s/spy.log";

/*
 * The token's first ECDH is made when it is opened (hp_delivery_warm()),
 * not in the first round: t1 opened through OpenSC's PKCS#11 spy, whose
 * log of the calls it passes to SoftHSM is read.  One ECDH after the
 * opening, the key it derived destroyed; a wrap then makes one more (the
 * count's positive control).
 */
static void test_warm(void)
{
	static const char spy[] = "/usr/lib/x86_64-linux-gnu/pkcs11-spy.so";
	static const char *ecdh = "grep -c 'pMechanism->type = CKM_ECDH1_DERIVE' %s/spy.log";
	char uri[] = "pkcs11:token=t1", module[sizeof(spy)], out[512];
	struct hsm_config cfg = { .module = module, .token = uri, .pin_file = pin_path };
	uint8_t id[HSMKEY_ID_LEN], mat[16];
	struct hsm *h = NULL;
	int r;

	if (access(spy, R_OK)) {
		printf("ok %d - # SKIP no PKCS#11 spy (%s)\n", ++tap_n, spy);
		return;
	}
	memcpy(module, spy, sizeof(spy));
	snprintf(out, sizeof(out), "%s/spy.log", dir);
	unlink(out);
	setenv("PKCS11SPY", "/usr/lib/softhsm/libsofthsm2.so", 1);
	setenv("PKCS11SPY_OUTPUT", out, 1);
	r = hsm_open(&cfg, &h);
	unsetenv("PKCS11SPY");
	unsetenv("PKCS11SPY_OUTPUT");
	ok(!r && hsm_state(h, NULL, 0) == HSM_UP, "t1 opened through the PKCS#11 spy: %d", r);
	if (r)
		return;
	ok(sh(ecdh, dir) == 1, "one ECDH at the opening, before any delivery (%ld)", sh(ecdh, dir));
	ok(sh(spy_destroyed, dir) == 1, "the key it derived destroyed");
	id_of(id, 170);
	memset(mat, 0x17, sizeof(mat));
	r = hsm_key_import(h, id, 1, HSMKEY_TYPE_AES_128_CBC, "warm", mat) ?: deliver_v1(h, 170);
	ok(!r && sh(ecdh, dir) == 2, "a delivery then makes one more (%d, %ld)", r, sh(ecdh, dir));
	hsm_close(h);
}

/*
 * A delivery key that may not derive (planted by PyKCS11 with CKA_DERIVE
 * false): the first ECDH fails at the opening, and the token is up all
 * the same; deliveries fail, anything else works.
 */
static void test_warm_fails(void)
{
	uint8_t id[HSMKEY_ID_LEN];
	struct hsm *h;
	int r;

	plant_delivery("nd", false);
	h = open_token("nd", pin_path, 0, false);
	ok(h && hsm_state(h, NULL, 0) == HSM_UP,
	   "a delivery key that may not derive: the token opens, and is up");
	if (!h)
		return;
	id_of(id, 171);
	r = hsm_key_generate(h, id, 1, HSMKEY_TYPE_AES_128_CBC, "nd");
	ok(!r, "a key version made in it: %d", r);
	r = deliver_v1(h, 171);
	ok(r && r != -EHOSTDOWN && hsm_state(h, NULL, 0) == HSM_UP,
	   "its delivery fails (%d), the token stays up", r);
	hsm_close(h);
}

/*
 * The token up although its first ECDH failed: a key version made in it
 * (no ECDH), then a delivery, which fails while the ECDH does.  That ECDH
 * is the helper's second (the fault file's "RV 1"): the opening made the
 * first.  Once the ECDH works, deliveries succeed.
 */
static void warm_refused_up(struct hsm *h, const char *fault)
{
	uint8_t id[HSMKEY_ID_LEN];
	int r;

	id_of(id, 172);
	r = hsm_key_generate(h, id, 1, HSMKEY_TYPE_AES_128_CBC, "refused");
	ok(!r, "... a key version made in it: %d", r);
	sh("echo 0x6 1 > %s", fault);
	r = deliver_v1(h, 172);
	ok(r == -EIO, "... its second ECDH failing (the opening made the first), a delivery fails: %d %s",
	   r, hsm_error());
	sh("rm -f %s", fault);
	r = deliver_v1(h, 172);
	ok(!r, "... and once the ECDH works, deliveries succeed: %d", r);
}

/*
 * The first ECDH failing as a token that is down, or that refuses its
 * PIN, fails (tests/lib/p11_slow.c answers it for SoftHSM; no token
 * returns a PIN error from C_DeriveKey, but the opening must not tell the
 * steps apart): the opening fails as at its other steps.  Down, the token
 * comes up by itself once the ECDH works; refused, it waits for
 * hsm_retry().  A failure of another kind leaves it up, its deliveries
 * failing meanwhile.
 */
static void test_warm_refused(void)
{
	static const struct {
		const char *rv, *name;
		enum hsm_state state;
	} c[] = {
		{ "0x32", "CKR_DEVICE_REMOVED", HSM_DOWN },
		{ "0xa3", "CKR_PIN_EXPIRED", HSM_BAD_PIN },
		{ "0x6", "CKR_FUNCTION_FAILED", HSM_UP },
	};
	char module[4200], uri[] = "pkcs11:token=t1", fault[96], why[256] = "";
	struct hsm_config cfg = { .module = module, .token = uri, .pin_file = pin_path };
	ssize_t n = readlink("/proc/self/exe", module, sizeof(module) - 32);
	uint8_t inst[16];
	struct hsm *h;
	int r, i;

	module[n > 0 ? n : 0] = 0;
	strcpy(strrchr(module, '/'), "/../p11_slow.so");
	snprintf(fault, sizeof(fault), "%s/derive_rv", dir);
	setenv("HSMKEY_SLOW_MODULE", "/usr/lib/softhsm/libsofthsm2.so", 1);
	setenv("HSMKEY_SLOW_DERIVE_FILE", fault, 1);
	for (size_t k = 0; k < ARRAY_SIZE(c); k++) {
		sh("echo %s > %s", c[k].rv, fault);
		h = NULL;
		r = hsm_open(&cfg, &h);
		ok(!r && hsm_state(h, why, sizeof(why)) == c[k].state &&
		   (c[k].state == HSM_UP || strstr(why, c[k].name)),
		   "the first ECDH fails %s: the token %s (%s)", c[k].name,
		   c[k].state == HSM_UP ? "opens all the same" : "does not open", why);
		if (c[k].state == HSM_UP && h)
			warm_refused_up(h, fault);
		sh("rm -f %s", fault);
		if (c[k].state == HSM_BAD_PIN && h) {
			sleep(2);	/* beyond the first backoff (1 s) */
			ok(hsm_state(h, NULL, 0) == HSM_BAD_PIN,
			   "... and stays so, the ECDH working, without hsm_retry()");
			hsm_retry(h);
		}
		for (i = 0; h && i < 100 && hsm_instance(h, inst); i++)
			usleep(100000);
		ok(h && hsm_state(h, NULL, 0) == HSM_UP && !hsm_instance(h, inst),
		   "... up once the ECDH works%s", c[k].state == HSM_BAD_PIN ?
		   ", after hsm_retry()" : c[k].state == HSM_DOWN ? ", by itself" : "");
		hsm_close(h);
	}
	unsetenv("HSMKEY_SLOW_DERIVE_FILE");
	unsetenv("HSMKEY_SLOW_MODULE");
}

/* Known material through the token and back out by the kernel's KDF. */
static void test_roundtrip(struct hsm *h)
{
	static const int types[] = { HSMKEY_TYPE_AES_128_CBC, HSMKEY_TYPE_AES_256_GCM,
				     HSMKEY_TYPE_AES_256_XTS };
	struct hsm_wrap_req q[3];
	struct hsm_wrapped w[3];
	struct kernel_key kk;
	uint8_t mat[3][64], out[72], hpt[65], v[HSMKEY_VERIFIER_LEN];
	char label[HSM_VERIFIER_LABEL_MAX];
	int i, r;

	kernel_key_new(&kk);
	memset(q, 0, sizeof(q));	/* no flags */
	for (i = 0; i < 3; i++) {
		id_of(q[i].id, 100 + i);
		q[i].version = 1;
		q[i].type = types[i];
		memset(mat[i], 0x11 * (i + 1), 64);
		mat[i][0] = i;
		r = hsm_key_import(h, q[i].id, 1, types[i], "rt", mat[i]);
		if (r)
			break;
	}
	ok(!r, "import keys of 16, 32 and 64 bytes");
	r = hsm_wrap_for_kernel(h, kk.point, q, 3, hpt, w, 0);
	ok(!r, "wrap the three in one batch: %d", r);
	for (i = 0; i < 3 && !r; i++) {
		unsigned int len = key_type_len(types[i]);

		ok(w[i].len == len + 8 && !kernel_unwrap(&kk, hpt, q[i].id, 1, types[i], &w[i], out) &&
		   !memcmp(out, mat[i], len), "OpenSSL as the kernel unwraps %u bytes: the material",
		   len);
		ok(kernel_unwrap(&kk, hpt, q[i].id, 2, types[i], &w[i], out),
		   "under the KEK for another version (%u bytes) it does not unwrap", len);
		hsm_verifier_label(q[i].id, 1, label);
		ok(!hsm_derive(h, label, v, sizeof(v)) && !memcmp(v, w[i].verifier, sizeof(v)),
		   "the verifier that came with it is hsm_derive()'s for its id and version");
		ok(!i || memcmp(w[i].verifier, w[i - 1].verifier, sizeof(v)),
		   "and not the previous key's");
	}
	q[0].type = HSMKEY_TYPE_AES_256_CBC;
	ok(hsm_wrap_for_kernel(h, kk.point, q, 1, hpt, w, 0) == -EMEDIUMTYPE,
	   "a 16-byte key asked for as AES-256: -EMEDIUMTYPE");
	kk.point[0] = 0x05;
	q[0].type = HSMKEY_TYPE_AES_128_CBC;
	ok(hsm_wrap_for_kernel(h, kk.point, q, 1, hpt, w, 0) == -EINVAL, "a point with 0x05: -EINVAL");
	EVP_PKEY_free(kk.k);
}

/*
 * A key version's object destroyed and made again by another process
 * between two deliveries (a vendor tool, a restore): the second delivery
 * wraps the new object, not a handle remembered from the first.
 */
static void test_replaced(struct hsm *h)
{
	struct hsm_wrap_req q = { .version = 1, .type = HSMKEY_TYPE_AES_256_CBC };
	uint8_t a[32], b[32], out[40], hpt[65];
	struct hsm_wrapped w;
	struct kernel_key kk;
	char vid[41], hex[65];

	kernel_key_new(&kk);
	id_of(q.id, 150);
	memset(a, 0x3a, sizeof(a));
	memset(b, 0x3b, sizeof(b));
	ok(!hsm_key_import(h, q.id, 1, q.type, "rp", a) &&
	   !hsm_wrap_for_kernel(h, kk.point, &q, 1, hpt, &w, 0) &&
	   !kernel_unwrap(&kk, hpt, q.id, 1, q.type, &w, out) && !memcmp(out, a, 32),
	   "a key version delivered (its handle remembered)");
	vid_hex(q.id, 1, vid);
	hex_encode(b, sizeof(b), hex);
	ok(!sh("softhsm_py t1 <<< 'for o in s.findObjects([(P.CKA_ID, bytes.fromhex(\"%s\"))]): "
	       "s.destroyObject(o)\n"
	       "s.createObject([(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES), "
	       "(P.CKA_TOKEN, True), (P.CKA_PRIVATE, True), (P.CKA_LABEL, \"hsmkey:rp:v1\"), "
	       "(P.CKA_ID, bytes.fromhex(\"%s\")), (P.CKA_VALUE, bytes.fromhex(\"%s\")), "
	       "(P.CKA_EXTRACTABLE, True), (P.CKA_SENSITIVE, True)])'", vid, vid, hex) &&
	   sh("softhsm_count_id t1 %s", vid) == 1,
	   "the reference client destroys it and makes it again with other material");
	ok(!hsm_wrap_for_kernel(h, kk.point, &q, 1, hpt, &w, 0) &&
	   !kernel_unwrap(&kk, hpt, q.id, 1, q.type, &w, out) && !memcmp(out, b, 32),
	   "delivered again at once: the new object's material, not a stale handle's failure");
	EVP_PKEY_free(kk.k);
}

/* What adoption must refuse: the keys test_adopt puts in the token, by label. */
static const struct adopt_refusal {
	const char *label;
	int type, err;
	const char *said;	/* in hsm_error(), if not NULL */
	const char *name;
} refusals[] = {
	{ "short", HSMKEY_TYPE_AES_256_XTS, -EMEDIUMTYPE, NULL,
	  "a 16-byte AES key as XTS-256: -EMEDIUMTYPE" },
	{ "short", HSMKEY_TYPE_AES_256_CBC, -EMEDIUMTYPE, NULL,
	  "a 16-byte AES key as AES-256: -EMEDIUMTYPE" },
	{ "locked", HSMKEY_TYPE_AES_256_XTS, -EMEDIUMTYPE, "not extractable",
	  "a key that is not extractable: -EMEDIUMTYPE, said so" },
	{ "nothing", HSMKEY_TYPE_AES_256_XTS, -ENOENT, NULL, "no such label: -ENOENT" },
};

static void test_adopt(struct hsm *h)
{
	static const char value[] = "00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210"
				    "f0e1d2c3b4a5968778695a4b3c2d1e0f0f1e2d3c4b5a69788796a5b4c3d2e1f0";
	struct hsm_wrap_req q = { .version = 1, .type = HSMKEY_TYPE_AES_256_XTS };
	struct hsm_wrapped w;
	struct kernel_key kk;
	uint8_t want[64], out[72], hpt[65];
	bool readable = false;
	int r;

	unhex(value, want, 64);
	id_of(q.id, 200);
	sh("softhsm_secret t1 ceremony generic %s 1 0", value);
	sh("softhsm_secret t1 short aes 00112233445566778899aabbccddeeff 1 1");
	sh("softhsm_secret t1 locked generic %s 0 1", value);
	r = hsm_key_adopt(h, "ceremony", q.id, 1, HSMKEY_TYPE_AES_256_XTS, "adopted", &readable);
	ok(!r && readable, "adopt a readable 64-byte key made by PyKCS11: %d, was readable", r);
	ok(sh("softhsm_count_label t1 hsmkey:adopted:v1") == 1 &&
	   sh("softhsm_count_label t1 ceremony") == 0, "it is renamed hsmkey:adopted:v1");
	ok(sh("softhsm_py t1 <<< 'o = s.findObjects([(P.CKA_LABEL, \"hsmkey:adopted:v1\")])[0]\n"
	      "print(int(s.getAttributeValue(o, [P.CKA_SENSITIVE])[0] == True))'") == 1,
	   "and now sensitive");
	kernel_key_new(&kk);
	r = hsm_wrap_for_kernel(h, kk.point, &q, 1, hpt, &w, 0);
	ok(!r && !kernel_unwrap(&kk, hpt, q.id, 1, q.type, &w, out) && !memcmp(out, want, 64),
	   "its delivery blob unwraps to the value PyKCS11 gave it");
	EVP_PKEY_free(kk.k);
	id_of(q.id, 201);
	for (size_t i = 0; i < ARRAY_SIZE(refusals); i++) {
		const struct adopt_refusal *c = &refusals[i];

		r = hsm_key_adopt(h, c->label, q.id, 1, c->type, "x", &readable);
		ok(r == c->err && (!c->said || strstr(hsm_error(), c->said)), "%s", c->name);
	}
	ok(!hsm_key_adopt(h, "short", q.id, 1, HSMKEY_TYPE_AES_128_CBC, "small", &readable) &&
	   !readable, "a sensitive AES-128 key as AES-128: adopted, was not readable");
}
