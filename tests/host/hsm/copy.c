// SPDX-License-Identifier: GPL-2.0
/*
 * Copies of key versions between tokens (hsm_member() ... hsm_import_copy()),
 * t1 to t2 through their helpers, t3 a third member; PyKCS11
 * (copy_ref.py) checks each copy is the same key with a version's
 * attributes, without reading it.
 */

#define CP_REF	"/usr/bin/python3 \"$HSMT_REF\""

static const int cp_types[] = {
	HSMKEY_TYPE_AES_128_GCM, HSMKEY_TYPE_AES_256_GCM, HSMKEY_TYPE_AES_128_XTS,
	HSMKEY_TYPE_AES_256_XTS,
};

/* The messages' bounds (proto.c). */
static void test_proto_copy(void)
{
	static struct hp_request req;
	static struct hp_reply rep;
	size_t len;

	memset(&req, 0, sizeof(req));
	req.op = HP_PEER_ADD;
	req.peer.pub.nlen = 384;
	req.peer.pub.elen = 3;
	req.peer.pub.hash = HSM_OAEP_SHA1;
	len = hp_request_len(&req);
	ok(!hp_request_check(&req, len) && hp_request_check(&req, len - 1),
	   "a valid PEER_ADD passes, one byte short does not");
	req.peer.pub.nlen = HSM_RSA_MAX + 1;
	ok(hp_request_check(&req, len), "a peer modulus longer than its array: refused");
	req.peer.pub.nlen = 384;
	req.peer.pub.hash = 3;
	ok(hp_request_check(&req, len), "a peer key with an unknown OAEP hash: refused");
	memset(&req, 0, sizeof(req));
	req.op = HP_IMPORT_COPY;
	req.copy.obj = HSM_OBJ_VERSION;
	req.copy.key.type = HSMKEY_TYPE_AES_256_XTS;
	req.copy.len = HP_BLOB_MAX;
	len = hp_request_len(&req);
	ok(!hp_request_check(&req, len), "a valid IMPORT_COPY passes");
	req.copy.len = HP_BLOB_MAX + 1;
	ok(hp_request_check(&req, len), "an IMPORT_COPY blob longer than its array: refused");
	req.copy.len = 384;
	req.copy.obj = HSM_OBJ_AUDIT + 1;
	ok(hp_request_check(&req, len), "an IMPORT_COPY of an unknown object kind: refused");
	req.copy.obj = HSM_OBJ_VERSION;
	req.copy.key.type = 0;
	ok(hp_request_check(&req, len), "an IMPORT_COPY without a key type: refused");
	req.op = HP_EXPORT;
	ok(hp_request_check(&req, len), "an EXPORT carrying a blob: refused");
	req.copy.len = 0;
	ok(!hp_request_check(&req, len), "an EXPORT without one passes");
	memset(&rep, 0, sizeof(rep));
	rep.copy.len = 384;
	len = hp_reply_len(HP_EXPORT, &rep);
	ok(!hp_reply_check(HP_EXPORT, &rep, len) && hp_reply_check(HP_EXPORT, &rep, len + 1),
	   "a valid EXPORT reply passes, one byte long does not");
	rep.copy.len = HP_BLOB_MAX + 1;
	ok(hp_reply_check(HP_EXPORT, &rep, len), "an EXPORT reply blob beyond its array: refused");
	rep.copy.len = 0;
	ok(hp_reply_check(HP_EXPORT, &rep, len), "an empty EXPORT reply: refused");
	ok(!hp_reply_check(HP_MEMBER, &rep, hp_reply_len(HP_MEMBER, &rep)) &&
	   hp_reply_len(HP_MEMBER, &rep) == offsetof(struct hp_reply, init) + HSM_MEMBER_LEN,
	   "a MEMBER reply is the header and 8 bytes");
}

/* An id none of the other tests uses. */
static void cp_id(uint8_t id[HSMKEY_ID_LEN], unsigned int n)
{
	id_of(id, n);
	id[2] = 0xc0;
}

/* @id/@version from @from to @to (member @m): 0 or the first error. */
static int cp_copy(struct hsm *from, struct hsm *to, const uint8_t *m, const uint8_t *id,
		   uint32_t version, int type, const char *name)
{
	uint8_t blob[HSM_RSA_MAX];
	size_t len = 0;

	return hsm_export(from, m, HSM_OBJ_VERSION, id, version, blob, &len) ?:
	       hsm_import_copy(to, HSM_OBJ_VERSION, id, version, type, name, blob, len);
}

/* Token @b's version is a copy of @a's (copy_ref.py same, opening both directly). */
static long cp_same_in(const char *a, const char *b, const char *name, uint32_t version,
		       const uint8_t *id, int type, const char *hex)
{
	char vid[41];

	vid_hex(id, version, vid);
	return sh(CP_REF " same %s %s hsmkey:%s:v%u %s %s %u %s", a, b, name, version, vid,
		  type == HSMKEY_TYPE_AES_128_XTS || type == HSMKEY_TYPE_AES_256_XTS ?
		  "generic" : "aes", key_type_len(type), hex ?: "");
}

static long cp_same(const char *name, uint32_t version, const uint8_t *id, int type,
		    const char *hex)
{
	return cp_same_in("t1", "t2", name, version, id, type, hex);
}

/* Objects in t2 with @id/@version's CKA_ID, or with its staging one ("copy" || it). */
static long cp_count(const uint8_t *id, uint32_t version, bool staged)
{
	char vid[41];

	vid_hex(id, version, vid);
	return sh("softhsm_count_id t2 %s%s", staged ? "636f7079" : "", vid);
}

static void test_copy_members(struct hsm *h1, struct hsm *h2, struct hsm *h3,
			      uint8_t m[3][HSM_MEMBER_LEN])
{
	struct hsm_import_key p1, p2, p3, again;
	uint8_t m1[HSM_MEMBER_LEN];

	ok(!hsm_member(h1, m[0]) && !hsm_member(h1, m1) && !memcmp(m[0], m1, 8) &&
	   !hsm_member(h2, m[1]) && !hsm_member(h3, m[2]) && memcmp(m[0], m[1], 8) &&
	   memcmp(m[1], m[2], 8), "hsm_member: stable in a token, another in each");
	ok(sh("softhsm_count_label t1 hsmkey:member") == 1, "t1 holds one hsmkey:member");
	ok(!hsm_pair_pub(h1, &p1) && !hsm_pair_pub(h2, &p2) && !hsm_pair_pub(h3, &p3) &&
	   p2.nlen == 384 && p2.elen == 3 && memcmp(p1.n, p2.n, 384),
	   "hsm_pair_pub: RSA-3072, e of 3 bytes, a pair per token");
	ok(p2.hash == HSM_OAEP_SHA1, "SoftHSM's pair unwraps with OAEP SHA-1 (SHA-256 refused)");
	ok(!hsm_pair_pub(h2, &again) && !memcmp(&again, &p2, sizeof(p2)),
	   "hsm_pair_pub again: the same key (not made twice)");
	ok(sh("softhsm_count_label t2 hsmkey:pair") == 2, "t2 holds the pair's two halves");
	ok(sh(CP_REF " check t1 t2") == 1, "PyKCS11 plants the same check key in t1 and t2");
	ok(sh(CP_REF " pair t2") == 1,
	   "PyKCS11: hsmkey:pair's private key unwraps only, sensitive, never extractable, and "
	   "wrapping it fails CKR_KEY_UNEXTRACTABLE");
	ok(!hsm_peer_add(h1, m[1], &p2) && !hsm_peer_add(h1, m[1], &p2),
	   "hsm_peer_add t2's key to t1, twice: 0 (idempotent)");
	ok(hsm_peer_add(h1, m[1], &p3) == -EEXIST, "t3's key as t2's: -EEXIST");
	ok(hsm_peer_add(h1, m[0], &p1) == -EINVAL, "t1's own key as a peer: -EINVAL");
	ok(!hsm_peer_add(h1, m[2], &p3) && !hsm_peer_add(h2, m[0], &p1),
	   "t3's key to t1, t1's to t2");
	{
		char hex[17];

		hex_encode(m[1], 8, hex);
		ok(sh("softhsm_count_label t1 hsmkey:peer:%s", hex) == 1 &&
		   sh("softhsm_py t1 <<< 'o = s.findObjects([(P.CKA_LABEL, "
		      "\"hsmkey:peer:%s\")])[0]\n"
		      "print(int(s.getAttributeValue(o, [P.CKA_CLASS, P.CKA_WRAP, P.CKA_ENCRYPT, "
		      "P.CKA_VERIFY, P.CKA_TOKEN]) == [P.CKO_PUBLIC_KEY, True, False, False, "
		      "True]))'", hex) == 1,
		   "t1 holds one hsmkey:peer:%s, a public key that only wraps", hex);
	}
}

static void test_copy_types(struct hsm *h1, struct hsm *h2, const uint8_t *m2)
{
	uint8_t id[HSMKEY_ID_LEN], blob[HSM_RSA_MAX], key[32];
	char name[16], hex[65];
	size_t i, len = 0;
	int r;

	for (i = 0; i < ARRAY_SIZE(cp_types); i++) {
		cp_id(id, 100 + i);
		snprintf(name, sizeof(name), "cp%zu", i);
		r = hsm_key_generate(h1, id, 3, cp_types[i], name) ?:
		    cp_copy(h1, h2, m2, id, 3, cp_types[i], name);
		ok(!r && !hsm_key_find(h2, id, 3) && cp_same(name, 3, id, cp_types[i], NULL) == 1,
		   "a version of %s generated in t1, copied to t2: PyKCS11 sees its label, CKA_ID, "
		   "type, sensitive, and the same key", key_type_name(cp_types[i]));
	}
	/* A key of known bytes: the blob does not hold them, and the copy is them. */
	cp_id(id, 110);
	for (i = 0; i < sizeof(key); i++)
		key[i] = 0x40 + i;
	hex_encode(key, sizeof(key), hex);
	r = hsm_key_import(h1, id, 1, HSMKEY_TYPE_AES_256_GCM, "known", key) ?:
	    hsm_export(h1, m2, HSM_OBJ_VERSION, id, 1, blob, &len);
	ok(!r && len == 384, "export a known AES-256 key: an OAEP blob of %zu bytes", len);
	ok(!memmem(blob, len, key, 32) && !memmem(blob, len, key, 8) &&
	   !memmem(blob, len, key + 24, 8),
	   "the blob the daemon holds has none of the key's bytes");
	r = hsm_import_copy(h2, HSM_OBJ_VERSION, id, 1, HSMKEY_TYPE_AES_256_GCM, "known", blob,
			    len);
	ok(!r && cp_same("known", 1, id, HSMKEY_TYPE_AES_256_GCM, hex) == 1,
	   "its copy in t2 wraps (KW) as OpenSSL's RFC 3394 of the known key");
	ok(hsm_export(h1, m2, HSM_OBJ_VERSION, id, 9, blob, &len) == -ENOENT,
	   "export of a version t1 lacks: -ENOENT");
	memset(key, 0x77, 8);
	ok(hsm_export(h1, key, HSM_OBJ_VERSION, id, 1, blob, &len) == -ENOENT,
	   "export to a member t1 has no key of: -ENOENT");
}

static void test_copy_refused(struct hsm *h1, struct hsm *h2, struct hsm *h3,
			      uint8_t m[3][HSM_MEMBER_LEN])
{
	uint8_t id[HSMKEY_ID_LEN], blob[HSM_RSA_MAX];
	size_t len = 0;
	int r;

	/*
	 * Never replaced: t2 holds another key under the version's CKA_ID
	 * (data may be encrypted under it; an OAEP blob proves no origin).
	 */
	cp_id(id, 120);
	r = hsm_key_generate(h1, id, 1, HSMKEY_TYPE_AES_256_XTS, "rep") ?:
	    hsm_key_generate(h2, id, 1, HSMKEY_TYPE_AES_256_XTS, "rep");
	ok(!r && cp_same("rep", 1, id, HSMKEY_TYPE_AES_256_XTS, NULL) != 1,
	   "t1 and t2 each generate version 1 of one id: two keys");
	r = cp_copy(h1, h2, m[1], id, 1, HSMKEY_TYPE_AES_256_XTS, "rep");
	ok(r == -EEXIST && cp_count(id, 1, false) == 1 && cp_count(id, 1, true) == 0 &&
	   cp_same("rep", 1, id, HSMKEY_TYPE_AES_256_XTS, NULL) != 1,
	   "a copy of another key is refused (-EEXIST: %d): t2 keeps its own, no staged object", r);
	/* The same key again: taken as done, nothing added. */
	cp_id(id, 121);
	r = hsm_key_generate(h1, id, 1, HSMKEY_TYPE_AES_128_GCM, "again") ?:
	    cp_copy(h1, h2, m[1], id, 1, HSMKEY_TYPE_AES_128_GCM, "again");
	ok(!r && !cp_copy(h1, h2, m[1], id, 1, HSMKEY_TYPE_AES_128_GCM, "again") &&
	   cp_count(id, 1, false) == 1 && cp_count(id, 1, true) == 0 &&
	   cp_same("again", 1, id, HSMKEY_TYPE_AES_128_GCM, NULL) == 1,
	   "copying a version t2 holds already, the same key: 0, one object, no staged object");

	/* Wrong length: refused, leaving nothing new, the old version unharmed. */
	cp_id(id, 130);
	r = hsm_key_generate(h1, id, 1, HSMKEY_TYPE_AES_128_GCM, "short") ?:
	    hsm_export(h1, m[1], HSM_OBJ_VERSION, id, 1, blob, &len);
	ok(!r && hsm_import_copy(h2, HSM_OBJ_VERSION, id, 1, HSMKEY_TYPE_AES_256_GCM, "short",
				 blob, len) == -ENODATA,
	   "an AES-128 copy imported as AES-256: -ENODATA");
	ok(cp_count(id, 1, false) == 0 && cp_count(id, 1, true) == 0,
	   "no object left in t2 (neither the version's CKA_ID nor the staging one)");
	cp_id(id, 120);
	ok(!hsm_export(h1, m[1], HSM_OBJ_VERSION, id, 1, blob, &len) &&
	   hsm_import_copy(h2, HSM_OBJ_VERSION, id, 1, HSMKEY_TYPE_AES_128_XTS, "rep", blob,
			   len) == -EMSGSIZE,
	   "a copy of a 64-byte key over t2's version 1, imported as a 32-byte type: "
	   "-EMSGSIZE");
	ok(cp_count(id, 1, false) == 1 && cp_count(id, 1, true) == 0 &&
	   cp_same("rep", 1, id, HSMKEY_TYPE_AES_256_XTS, NULL) != 1,
	   "the version already in t2 is left as it was (its own key, not t1's)");

	/* Made for another member: t2 cannot unwrap it, t3 can. */
	cp_id(id, 140);
	r = hsm_key_generate(h1, id, 1, HSMKEY_TYPE_AES_256_GCM, "other") ?:
	    hsm_export(h1, m[2], HSM_OBJ_VERSION, id, 1, blob, &len);
	ok(!r && hsm_import_copy(h2, HSM_OBJ_VERSION, id, 1, HSMKEY_TYPE_AES_256_GCM, "other",
				 blob, len) == -EKEYREJECTED &&
	   cp_count(id, 1, false) == 0 && cp_count(id, 1, true) == 0,
	   "a copy made for t3's key, imported into t2: -EKEYREJECTED, nothing left");
	ok(!hsm_import_copy(h3, HSM_OBJ_VERSION, id, 1, HSMKEY_TYPE_AES_256_GCM, "other", blob,
			    len), "the same blob imports into t3");

	/* Tampered: refused; the untouched blob then imports. */
	r = hsm_export(h1, m[1], HSM_OBJ_VERSION, id, 1, blob, &len);
	blob[len / 2] ^= 0x10;
	ok(!r && hsm_import_copy(h2, HSM_OBJ_VERSION, id, 1, HSMKEY_TYPE_AES_256_GCM, "other",
				 blob, len) == -EKEYREJECTED &&
	   cp_count(id, 1, false) == 0 && cp_count(id, 1, true) == 0,
	   "a tampered copy: -EKEYREJECTED, nothing left");
	blob[len / 2] ^= 0x10;
	ok(!hsm_import_copy(h2, HSM_OBJ_VERSION, id, 1, HSMKEY_TYPE_AES_256_GCM, "other", blob,
			    len) && cp_same("other", 1, id, HSMKEY_TYPE_AES_256_GCM, NULL) == 1,
	   "the blob as exported imports");
	ok(hsm_import_copy(h2, HSM_OBJ_VERSION, id, 1, HSMKEY_TYPE_AES_256_GCM, "other", blob,
			   len - 1) == -EKEYREJECTED && cp_count(id, 1, false) == 1,
	   "a truncated copy: -EKEYREJECTED, the version stays");
}

/* Copies per second of 64-byte keys, t1 to t2 (a diagnostic, not a test). */
static void test_copy_rate(struct hsm *h1, struct hsm *h2, const uint8_t *m2)
{
	enum { N = 40 };
	uint8_t id[HSMKEY_ID_LEN];
	int i, r = 0;
	double t;

	for (i = 0; i < N && !r; i++) {
		cp_id(id, 1000 + i);
		r = hsm_key_generate(h1, id, 1, HSMKEY_TYPE_AES_256_XTS, "rate");
	}
	t = now_s();
	for (i = 0; i < N && !r; i++) {
		cp_id(id, 1000 + i);
		r = cp_copy(h1, h2, m2, id, 1, HSMKEY_TYPE_AES_256_XTS, "rate");
	}
	t = now_s() - t;
	ok(!r, "%d copies of 64-byte (AES-256-XTS) keys, t1 to t2", N);
	printf("# copy rate: %.0f copies/s (64-byte keys, export + import, both tokens direct)\n",
	       N / t);
}

/*
 * Copies of versions into t1 through the RPC: taken without the length
 * check (no AES key wrap there, M11), yet the same key, as PyKCS11 opening
 * t1 directly (libsofthsm2.so) sees.
 */
static void test_copy_into_rpc(struct hsm *h1, struct hsm *h2, struct hsm *hr,
			       const uint8_t *m1)
{
	uint8_t id[HSMKEY_ID_LEN], blob[HSM_COPY_MAX];
	char name[16];
	size_t i, len = 0;
	int r;

	for (i = 0; i < ARRAY_SIZE(cp_types); i++) {
		cp_id(id, 151 + i);
		snprintf(name, sizeof(name), "back%zu", i);
		r = hsm_key_generate(h2, id, 1, cp_types[i], name) ?:
		    cp_copy(h2, hr, m1, id, 1, cp_types[i], name);
		ok(!r && cp_same_in("t2", "t1", name, 1, id, cp_types[i], NULL) == 1 &&
		   sh("softhsm_count_label t1 hsmkey:copy-in") == 0 && !hsm_key_find(h1, id, 1),
		   "a version of %s from t2 into t1 through the RPC: taken (length unchecked), "
		   "PyKCS11 (directly, AES-KW under a check key) sees the same key",
		   key_type_name(cp_types[i]));
	}
	cp_id(id, 151);
	r = hsm_export(h2, m1, HSM_OBJ_VERSION, id, 1, blob, &len);
	ok(!r && hsm_import_copy(hr, HSM_OBJ_VERSION, id, 1, cp_types[0], "back0", blob, len) ==
	   -EOPNOTSUPP && sh("softhsm_count_label t1 hsmkey:copy-in") == 0 &&
	   sh("softhsm_count_id t1 636f7079") == 0,
	   "the same copy again through the RPC: -EOPNOTSUPP (the one there cannot be compared "
	   "without AES key wrap), nothing staged left");
	blob[len / 2] ^= 0x10;
	cp_id(id, 160);
	ok(hsm_import_copy(hr, HSM_OBJ_VERSION, id, 1, cp_types[0], "bad", blob, len) ==
	   -EKEYREJECTED && hsm_key_find(h1, id, 1) == -ENOENT &&
	   sh("softhsm_count_label t1 hsmkey:copy-in") == 0,
	   "a tampered version copy through the RPC: -EKEYREJECTED, nothing left");
}

/*
 * t1 behind `p11-kit server` (its process group, M12), reached through
 * p11-kit-client.so: OAEP crosses the RPC (M11), so t1 exports there, and
 * imports versions without their length check (AES key wrap does not cross).
 */
static void test_copy_p11kit(struct hsm *h1, struct hsm *h2, uint8_t m[3][HSM_MEMBER_LEN])
{
	char uri[] = "pkcs11:token=t1",
	     module[] = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so";
	struct hsm_config cfg = { .module = module, .token = uri, .pin_file = pin_path };
	uint8_t id[HSMKEY_ID_LEN], mr[HSM_MEMBER_LEN];
	char addr[128];
	struct hsm *hr = NULL;
	int r;

	r = (int)sh("setsid p11-kit server -f -p \"$SOFTHSM_MODULE\" -n %s/p11.sock "
		    "pkcs11:token=t1 "
		    ">%s/p11.log 2>&1 </dev/null & echo $! >%s/p11.pid; "
		    "for i in $(seq 50); do [[ -S %s/p11.sock ]] && break; sleep 0.1; done; "
		    "[[ -S %s/p11.sock ]]", dir, dir, dir, dir, dir);
	snprintf(addr, sizeof(addr), "unix:path=%s/p11.sock", dir);
	setenv("P11_KIT_SERVER_ADDRESS", addr, 1);
	r = r ?: hsm_open(&cfg, &hr);
	ok(!r && hsm_state(hr, NULL, 0) == HSM_UP, "t1 through p11-kit server: up");
	if (r || hsm_state(hr, NULL, 0) != HSM_UP)
		goto out;
	ok(!hsm_member(hr, mr) && !memcmp(mr, m[0], HSM_MEMBER_LEN),
	   "through the RPC, t1's member id is the one seen directly");
	cp_id(id, 150);
	r = hsm_key_generate(h1, id, 1, HSMKEY_TYPE_AES_256_XTS, "rpc") ?:
	    cp_copy(hr, h2, m[1], id, 1, HSMKEY_TYPE_AES_256_XTS, "rpc");
	ok(!r && cp_same("rpc", 1, id, HSMKEY_TYPE_AES_256_XTS, NULL) == 1,
	   "a version exported by t1 through p11-kit's RPC (OAEP), imported by t2: the same key");
	test_copy_into_rpc(h1, h2, hr, m[0]);
out:
	hsm_close(hr);
	unsetenv("P11_KIT_SERVER_ADDRESS");
	sh("kill -- -$(cat %s/p11.pid)", dir);
}

/* A copy staged by a helper that died before it was checked: the next helper destroys it. */
static void test_copy_leftover(void)
{
	struct hsm *h;

	sh("softhsm_py t2 <<< 's.createObject([(P.CKA_CLASS, P.CKO_SECRET_KEY), "
	   "(P.CKA_KEY_TYPE, P.CKK_AES), (P.CKA_TOKEN, True), (P.CKA_PRIVATE, True), "
	   "(P.CKA_LABEL, \"hsmkey:copy-in\"), (P.CKA_ID, b\"copy\" + bytes(20)), "
	   "(P.CKA_VALUE, bytes(32))])'");
	ok(sh("softhsm_count_label t2 hsmkey:copy-in") == 1, "a staged copy planted in t2");
	h = open_token("t2", pin_path, 0, false);
	ok(h && sh("softhsm_count_label t2 hsmkey:copy-in") == 0,
	   "a new helper for t2 destroys it");
	hsm_close(h);
}

static void test_copy(struct hsm *h1, struct hsm *h2)
{
	uint8_t m[3][HSM_MEMBER_LEN];
	struct hsm *h3;
	char ref[4300];

	snprintf(ref, sizeof(ref), "%.*s/host/hsm/copy_ref.py",
		 (int)(strstr(lib, "/lib/softhsm.sh") - lib), lib);
	setenv("HSMT_REF", ref, 1);
	test_proto_copy();
	sh("softhsm_token t3");
	h3 = open_token("t3", pin_path, 0, false);
	ok(h3 != NULL, "open t3, a third member");
	if (!h3)
		return;
	test_copy_members(h1, h2, h3, m);
	test_copy_types(h1, h2, m[1]);
	test_copy_refused(h1, h2, h3, m);
	test_copy_p11kit(h1, h2, m);
	test_copy_leftover();
	test_copy_rate(h1, h2, m[1]);
	hsm_close(h3);
}
