// SPDX-License-Identifier: GPL-2.0
/*
 * What the helper survives: damaged protocol records, leftovers beyond any
 * fixed count, a login lost behind its back, PIN files others may touch.
 */

/* The wrapped import's records: a blob or a public key beyond its array is refused. */
static void test_proto_import(struct hp_request *req)
{
	static struct hp_reply rep;
	size_t len;

	memset(req, 0, sizeof(*req));
	req->op = HP_UNWRAP;
	req->unwrap.key.type = 1;
	req->unwrap.len = HP_BLOB_MAX;
	len = hp_request_len(req);
	ok(!hp_request_check(req, len), "a valid UNWRAP passes");
	req->unwrap.len = HP_BLOB_MAX + 1;
	ok(hp_request_check(req, len), "an UNWRAP blob longer than its array: refused");
	req->unwrap.len = 384;
	req->unwrap.key.type = 0;
	ok(hp_request_check(req, len), "an UNWRAP without a key type: refused");
	memset(req, 0, sizeof(*req));
	req->op = HP_IMPORT_KEY;
	req->data.n = 2;
	ok(hp_request_check(req, hp_request_len(req)), "IMPORT_KEY with renew = 2: refused");
	memset(&rep, 0, sizeof(rep));
	rep.import_key.nlen = 384;
	rep.import_key.elen = 3;
	rep.import_key.hash = HSM_OAEP_SHA1;
	len = hp_reply_len(HP_IMPORT_KEY, &rep);
	ok(!hp_reply_check(HP_IMPORT_KEY, &rep, len), "a valid IMPORT_KEY reply passes");
	rep.import_key.nlen = HSM_RSA_MAX + 1;
	ok(hp_reply_check(HP_IMPORT_KEY, &rep, len), "a modulus longer than its array: refused");
	rep.import_key.nlen = 384;
	rep.import_key.hash = 3;
	ok(hp_reply_check(HP_IMPORT_KEY, &rep, len), "an unknown OAEP hash: refused");
}

/* USE: the input holds its associated data, a GCM input its tag; a use fits its key type. */
static void test_proto_use(struct hp_request *req)
{
	size_t len;

	memset(req, 0, sizeof(*req));
	req->op = HP_USE;
	req->use.type = KS_TYPE_KMS_AES_256;
	req->use.op = HSM_USE_OPEN;
	req->use.aad_len = 40;
	req->use.len = 40 + HSM_GCM_TAG_LEN;
	len = hp_request_len(req);
	ok(!hp_request_check(req, len), "a valid USE (open) passes");
	req->use.len = 40 + HSM_GCM_TAG_LEN - 1;
	ok(hp_request_check(req, len - 1), "an open shorter than its tag: refused");
	req->use.len = 39;
	ok(hp_request_check(req, len - 17), "associated data longer than the input: refused");
	req->use.len = 40 + HSM_GCM_TAG_LEN;
	req->use.type = HSMKEY_TYPE_AES_256_XTS;
	ok(hp_request_check(req, len), "AES-GCM with a kernel key's version: refused");
	req->use.type = KS_TYPE_HMAC_SHA256;
	ok(hp_request_check(req, len), "AES-GCM with a MAC key's version: refused");
	req->use.op = HSM_USE_MAC;
	req->use.aad_len = 0;
	ok(!hp_request_check(req, len), "a MAC with a MAC key passes");
	req->use.type = KS_TYPE_KMS_AES_128;
	ok(hp_request_check(req, len), "a MAC with a KMS key: refused");
	req->use.op = HSM_USE_PUBLIC + 1;
	ok(hp_request_check(req, len), "an unknown use: refused");
	req->use.op = HSM_USE_SEAL;
	req->use.len = HSM_USE_MAX + 1;
	ok(!hp_request_len(req), "an input longer than its array: refused");
	memset(req, 0, sizeof(*req));
	req->op = HP_WRAP;
	req->wrap.n = 1;
	req->wrap.req[0].type = KS_TYPE_KMS_AES_256;
	ok(hp_request_check(req, hp_request_len(req)), "a KMS key's version wrapped for the kernel: refused");
}

/* RANDOM: a count of 1 to HSM_RANDOM_MAX bytes, and no data. */
static void test_proto_random(struct hp_request *req)
{
	size_t len;

	memset(req, 0, sizeof(*req));
	req->op = HP_RANDOM;
	req->data.n = 48;
	len = hp_request_len(req);
	ok(!hp_request_check(req, len), "a valid RANDOM of 48 bytes passes");
	req->data.n = 0;
	ok(hp_request_check(req, len), "a RANDOM of no bytes: refused");
	req->data.n = HSM_RANDOM_MAX + 1;
	ok(hp_request_check(req, len), "a RANDOM of HSM_RANDOM_MAX + 1 bytes: refused");
	req->data.n = 48;
	req->data.len = 1;
	ok(hp_request_check(req, hp_request_len(req)), "a RANDOM that carries data: refused");
}

/* The helper's decoder against damaged and random records. */
static void test_proto(void)
{
	static struct hp_request req;
	size_t len;
	int i, bad = 0, rejected = 0;

	memset(&req, 0, sizeof(req));
	req.op = HP_WRAP;
	req.wrap.n = 2;
	req.wrap.req[0].type = req.wrap.req[1].type = 1;
	len = hp_request_len(&req);
	ok(!hp_request_check(&req, len), "a valid WRAP of 2 passes");
	ok(hp_request_check(&req, len - 1) && hp_request_check(&req, len + 1),
	   "one byte short or long: refused");
	req.wrap.n = 257;
	ok(hp_request_check(&req, len) && !hp_request_len(&req), "257 keys: refused");
	req.wrap.n = 2;
	req.wrap.req[1].type = HSMKEY_TYPE_MAX + 1;
	ok(hp_request_check(&req, len), "a bad key type: refused");
	req.wrap.req[1].type = 1;
	req.wrap.flags = HSM_WRAP_IN_TURN;
	ok(!hp_request_check(&req, len), "a WRAP in turn passes");
	req.wrap.flags = HSM_WRAP_IN_TURN << 1;
	ok(hp_request_check(&req, len), "a WRAP with a flag no one knows: refused");
	req.wrap.flags = 0;
	test_proto_import(&req);
	test_proto_use(&req);
	test_proto_random(&req);
	srandom(12);
	for (i = 0; i < 200000; i++) {
		size_t n = random() % 400;
		size_t k;

		for (k = 0; k < n; k++)
			((uint8_t *)&req)[k] = random();
		req.op = random() % (__HP_OP_MAX + 2);
		if (!hp_request_check(&req, n)) {
			bad += hp_request_len(&req) != n;
			if (req.op == HP_GENERATE && !memchr(req.key.name, 0, sizeof(req.key.name)))
				bad++;
		} else {
			rejected++;
		}
	}
	ok(!bad && rejected, "200000 random records: every accepted one is whole (%d rejected)",
	   rejected);
}

/* Leftovers beyond any fixed count (M1): anchors of many crashes, copies of a version. */
static void test_many(struct hsm *h)
{
	uint8_t buf[HSM_ANCHOR_MAX], id[HSMKEY_ID_LEN];
	size_t len = sizeof(buf);
	long before, after;
	char vid[41];
	uint64_t n = 0;
	int r;

	sh("softhsm_py t1 <<< 'for i in range(100, 140): s.createObject([(P.CKA_CLASS, "
	   "P.CKO_DATA), (P.CKA_TOKEN, True), (P.CKA_PRIVATE, True), (P.CKA_APPLICATION, "
	   "\"hsmkey anchor\"), (P.CKA_LABEL, \"hsmkey:anchor:%%d\" %% i), "
	   "(P.CKA_VALUE, b\"n%%d\" %% i)])'");
	r = hsm_anchor_load(h, &n, buf, &len);
	ok(!r && n == 139 && len == 4 && !memcmp(buf, "n139", 4),
	   "40 anchors left over: the newest (139) is loaded (got %llu)", (unsigned long long)n);
	ok(!hsm_anchor_store(h, 140, "n140", 4), "anchor 140 stored over 40 left over");
	after = sh("softhsm_py t1 <<< 'print(len(s.findObjects([(P.CKA_APPLICATION, "
		   "\"hsmkey anchor\")])))'");
	ok(after == 1, "... and every older one removed (%ld anchors left)", after);
	id_of(id, 3000);
	vid_hex(id, 1, vid);
	sh("softhsm_py t1 <<< 'for i in range(20): s.createObject([(P.CKA_CLASS, "
	   "P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES), (P.CKA_TOKEN, True), "
	   "(P.CKA_PRIVATE, True), (P.CKA_VALUE, bytes(32)), "
	   "(P.CKA_ID, bytes.fromhex(\"%s\"))])'", vid);
	before = sh("softhsm_count_id t1 %s", vid);
	r = hsm_key_destroy(h, id, 1);
	after = sh("softhsm_count_id t1 %s", vid);
	ok(before == 20 && !r && !after,
	   "%ld objects holding one version: hsm_key_destroy (%d) removes all (%ld left)", before,
	   r, after);
}

/* Another user of the module in this process logs the token out (C_Logout). */
static int logout_behind(const char *token)
{
	void *dl = dlopen("/usr/lib/softhsm/libsofthsm2.so", RTLD_NOW | RTLD_NOLOAD);
	CK_RV (*get)(CK_FUNCTION_LIST **);
	CK_FUNCTION_LIST *p = NULL;
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16, i;
	CK_TOKEN_INFO info;
	CK_SESSION_HANDLE s;
	CK_RV rv = CKR_GENERAL_ERROR;

	get = dl ? (CK_RV (*)(CK_FUNCTION_LIST **))dlsym(dl, "C_GetFunctionList") : NULL;
	if (!get || get(&p) != CKR_OK || p->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		n = 0;
	for (i = 0; i < n; i++) {
		if (p->C_GetTokenInfo(slots[i], &info) != CKR_OK ||
		    memcmp(info.label, token, strlen(token)) || info.label[strlen(token)] != ' ' ||
		    p->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK)
			continue;
		rv = p->C_Logout(s);
		p->C_CloseSession(s);
		break;
	}
	if (dl)
		dlclose(dl);
	return rv == CKR_OK ? 0 : -1;
}

/* M2: a lost login shows as an empty search: redone, never a false -ENOENT. */
static void test_relogin(void)
{
	struct hsm *h = open_token("t1", pin_path, 0, true);
	uint8_t id[HSMKEY_ID_LEN], buf[HSM_ANCHOR_MAX], mac[2][HSM_MAC_LEN], d[2][32];
	size_t len = sizeof(buf);
	uint64_t n = 0;
	int r;

	if (!h)
		return;
	ok(!hsm_mac(h, "m", 1, mac[0]) && !hsm_derive(h, "d", d[0], 32),
	   "in_process: a MAC and a derivation (by the session copies)");
	id_of(id, 3100);
	ok(!hsm_key_generate(h, id, 1, HSMKEY_TYPE_AES_256_XTS, "relogin"),
	   "in_process: a key version made");
	ok(!logout_behind("t1"), "the token logged out behind our sessions");
	r = hsm_key_find(h, id, 1);
	ok(!r, "the version is still found (logged in again), not -ENOENT: %d", r);
	ok(!logout_behind("t1"), "logged out again");
	r = hsm_anchor_load(h, &n, buf, &len);
	ok(!r && n == 140, "the rollback anchor is still found (%llu), not -ENOENT: %d",
	   (unsigned long long)n, r);
	ok(!logout_behind("t1"), "logged out again");
	ok(!hsm_mac(h, "m", 1, mac[1]) && !memcmp(mac[0], mac[1], HSM_MAC_LEN),
	   "the same MAC after the logout took the session copies");
	ok(!hsm_derive(h, "d", d[1], 32) && !memcmp(d[0], d[1], 32),
	   "and the same derivation");
	ok(!hsm_random(h, d[0], 32) && !hsm_random(h, d[1], 32) && memcmp(d[0], d[1], 32),
	   "the token's random bytes, twice, not the same");
	ok(hsm_random(h, d[0], 0) == -EINVAL && hsm_random(h, d[0], HSM_RANDOM_MAX + 1) == -EINVAL,
	   "no bytes, or more than HSM_RANDOM_MAX: -EINVAL");
	hsm_key_destroy(h, id, 1);
	hsm_close(h);
}

/* A PIN file others can read or change, or another user's, is refused. */
static void test_pin_mode(void)
{
	static const struct {
		unsigned int mode, uid;
		bool up;
		const char *says;
	} cases[] = {
		{ 0400, 0, true, "" },
		{ 0600, 0, true, "" },
		{ 0440, 0, false, "mode 0440" },
		{ 0404, 0, false, "mode 0404" },
		{ 0602, 0, false, "mode 0602" },
		{ 0400, 65534, false, "owned by uid 65534" },
	};
	char path[128], why[320];
	struct hsm *h;
	size_t i;
	bool up;

	snprintf(path, sizeof(path), "%s/modepin", dir);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		if (cases[i].uid && geteuid()) {
			printf("ok %d - # SKIP PIN file of uid %u: not root\n", ++tap_n, cases[i].uid);
			continue;
		}
		sh("softhsm_pin_file %s 1234 && chmod %o %s && chown %u %s", path, cases[i].mode,
		   path, cases[i].uid, path);
		h = open_token("pinned", path, 0, false);
		up = h && hsm_state(h, why, sizeof(why)) == HSM_UP;
		ok(h && up == cases[i].up && (up || strstr(why, cases[i].says)),
		   "PIN file mode %04o uid %u: %s (%s)", cases[i].mode, cases[i].uid,
		   cases[i].up ? "taken" : "refused", up ? "up" : why);
		hsm_close(h);
	}
}
