// SPDX-License-Identifier: GPL-2.0
/*
 * Several tokens as one key store: a token opened with hsm_config.join
 * (tb) makes none of the shared objects, gets hsmkey:record and
 * hsmkey:root copied from t1 (hsm_export()/hsm_import_copy() of
 * HSM_OBJ_RECORD, HSM_OBJ_ROOT) and t1's instance (hsm_instance_set()),
 * and then MACs and derives as t1 does.  tc is another key store's token,
 * td one whose root is not extractable (made the old way).  PyKCS11
 * (copy_ref.py) checks the objects' attributes and that nothing is left.
 * Runs after copy.c (HSMT_REF set).
 */

static struct hsm *sh_open_join(const char *token)
{
	char uri[128], module[] = "/usr/lib/softhsm/libsofthsm2.so";
	struct hsm_config cfg = {
		.module = module, .token = uri, .pin_file = pin_path, .join = true,
	};
	struct hsm *h = NULL;

	snprintf(uri, sizeof(uri), "pkcs11:token=%s", token);
	if (hsm_open(&cfg, &h))
		printf("# hsm_open %s (join): %s\n", token, hsm_error());
	return h;
}

/* @to's pair as a peer of @from, and @to's member id in @m. */
static int sh_pair(struct hsm *from, struct hsm *to, uint8_t m[HSM_MEMBER_LEN])
{
	struct hsm_import_key pub;

	return hsm_member(to, m) ?: hsm_pair_pub(to, &pub) ?: hsm_peer_add(from, m, &pub);
}

static int sh_copy(struct hsm *from, struct hsm *to, const uint8_t *m, enum hsm_obj o)
{
	uint8_t blob[HSM_COPY_MAX];
	size_t len = 0;

	return hsm_export(from, m, o, NULL, 0, blob, &len) ?:
	       hsm_import_copy(to, o, NULL, 0, 0, NULL, blob, len);
}

static bool sh_said(const char *what)
{
	return strstr(hsm_error(), what) != NULL;
}

/* Whether @sig is an Ed25519 signature of @msg by @pub (OpenSSL). */
static bool sh_verifies(const uint8_t *pub, const char *msg, const uint8_t *sig)
{
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, HSM_PUB_LEN);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	bool good = k && c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) > 0 &&
		    EVP_DigestVerify(c, sig, HSM_SIG_LEN, (const uint8_t *)msg, strlen(msg)) == 1;

	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
	return good;
}

static void test_share_proto(void)
{
	static struct hp_request req;
	size_t len;

	memset(&req, 0, sizeof(req));
	req.op = HP_IMPORT_COPY;
	req.copy.obj = HSM_OBJ_ROOT;
	req.copy.len = 384;
	len = hp_request_len(&req);
	ok(!hp_request_check(&req, len), "an IMPORT_COPY of HSM_OBJ_ROOT without a key type passes");
	req.copy.obj = HSM_OBJ_AUDIT + 1;
	ok(hp_request_check(&req, len), "an IMPORT_COPY of object kind %d: refused",
	   HSM_OBJ_AUDIT + 1);
	memset(&req, 0, sizeof(req));
	req.op = HP_INSTANCE_SET;
	req.data.len = HSMKEY_OWNER_LEN;
	len = hp_request_len(&req);
	ok(!hp_request_check(&req, len), "an INSTANCE_SET of %d bytes passes", HSMKEY_OWNER_LEN);
	req.data.len = HSMKEY_OWNER_LEN - 1;
	ok(hp_request_check(&req, hp_request_len(&req)), "one of %d bytes: refused",
	   HSMKEY_OWNER_LEN - 1);
	memset(&req, 0, sizeof(req));
	req.op = HP_INIT;
	req.init.join = 2;
	ok(hp_request_check(&req, hp_request_len(&req)), "an INIT with join 2: refused");
}

/* tb before it joined: nothing shared is there, and nothing needing it is tried. */
static void test_share_unjoined(struct hsm *hb)
{
	uint8_t inst[HSMKEY_OWNER_LEN], mac[HSM_MAC_LEN], out[32], sig[HSM_SIG_LEN],
		pub[HSM_PUB_LEN];

	ok(hsm_state(hb, NULL, 0) == HSM_UP, "tb opened with join: up");
	ok(hsm_instance(hb, inst) == -ENOENT && sh_said("has not joined a key store yet"),
	   "hsm_instance: -ENOENT, saying why (%s)", hsm_error());
	ok(hsm_mac(hb, "x", 1, mac) == -ENOENT && sh_said("has not joined a key store yet") &&
	   hsm_derive(hb, "x", out, 32) == -ENOENT && sh_said("has not joined") &&
	   hsm_sign(hb, "x", 1, sig, pub) == -ENOENT && sh_said("has not joined"),
	   "hsm_mac, hsm_derive, hsm_sign: -ENOENT, not joined");
	ok(sh("softhsm_count_label tb hsmkey:record") == 0 &&
	   sh("softhsm_count_label tb hsmkey:root") == 0 &&
	   sh("softhsm_count_label tb hsmkey:instance") == 0 &&
	   sh("softhsm_count_label tb hsmkey:audit") == 0 &&
	   sh("softhsm_count_label tb hsmkey:delivery") == 2,
	   "tb holds no record, root, instance, audit; its own delivery pair");
}

/* t1 to tb: record and root, not audit; then the instance. */
static void test_share_join(struct hsm *ha, struct hsm *hb, const uint8_t *mb)
{
	uint8_t ia[HSMKEY_OWNER_LEN], ib[HSMKEY_OWNER_LEN];
	int r;

	ok(!hsm_instance(ha, ia) && hsm_instance_set(hb, ia) == -ENOENT &&
	   sh("softhsm_count_label tb hsmkey:instance") == 0,
	   "hsm_instance_set before record and root are in: -ENOENT, no instance made");
	r = sh_copy(ha, hb, mb, HSM_OBJ_AUDIT);
	ok(r == -EOPNOTSUPP && sh_said("hsmkey:audit cannot be copied"),
	   "HSM_OBJ_AUDIT: -EOPNOTSUPP (%s)", hsm_error());
	ok(sh(CP_REF " edwrap tb") == 1,
	   "PyKCS11: SoftHSM refuses C_WrapKey(AES-KWP) of an extractable Ed25519 key "
	   "(CKR_KEY_NOT_WRAPPABLE), the reason");
	r = sh_copy(ha, hb, mb, HSM_OBJ_RECORD);
	ok(!r, "hsmkey:record t1 to tb");
	r = sh_copy(ha, hb, mb, HSM_OBJ_ROOT);
	ok(!r, "hsmkey:root t1 to tb");
	ok(sh("softhsm_count_label tb hsmkey:record") == 1 &&
	   sh("softhsm_count_label tb hsmkey:root") == 1 &&
	   sh("softhsm_count_label tb hsmkey:copy-in") == 0, "tb holds one of each, nothing staged");
	ok(!hsm_instance_set(hb, ia) && !hsm_instance(hb, ib) && !memcmp(ia, ib, sizeof(ia)),
	   "hsm_instance_set: tb's instance is t1's");
	ok(!hsm_instance_set(hb, ia) && sh("softhsm_count_label tb hsmkey:instance") == 1,
	   "again with the same value: 0, one object");
	ib[0] ^= 1;
	ok(hsm_instance_set(hb, ib) == -EEXIST && !hsm_instance(hb, ib) &&
	   !memcmp(ia, ib, sizeof(ia)), "another value: -EEXIST, the instance unchanged");
}

/* The same MACs and derivations on both; an audit key of tb's own. */
static void test_share_same(struct hsm *ha, struct hsm *hb, uint8_t pub_b[HSM_PUB_LEN])
{
	char msg[] = "record of key disk, generation 9";
	uint8_t ma[HSM_MAC_LEN], mb[HSM_MAC_LEN], da[40], db[40], sig[HSM_SIG_LEN],
		pub_a[HSM_PUB_LEN];
	int r;

	r = hsm_mac(ha, msg, sizeof(msg), ma) ?: hsm_mac(hb, msg, sizeof(msg), mb);
	ok(!r && !memcmp(ma, mb, sizeof(ma)), "hsm_mac on t1 and tb: the same MAC");
	msg[3] ^= 0x01;
	r = hsm_mac(hb, msg, sizeof(msg), mb);
	ok(!r && memcmp(ma, mb, sizeof(ma)), "a message one bit apart: another MAC");
	r = hsm_derive(ha, "audit mac", da, sizeof(da)) ?: hsm_derive(hb, "audit mac", db, sizeof(db));
	ok(!r && !memcmp(da, db, sizeof(da)), "hsm_derive on t1 and tb: the same 40 bytes");
	r = hsm_derive(hb, "audit mad", db, sizeof(db));
	ok(!r && memcmp(da, db, sizeof(da)), "a label one bit apart: other bytes");
	r = hsm_sign(hb, "checkpoint", 10, sig, pub_b) ?: hsm_sign(ha, "x", 1, sig + 0, pub_a);
	ok(!r && sh("softhsm_count_label tb hsmkey:audit") == 2 &&
	   memcmp(pub_a, pub_b, HSM_PUB_LEN),
	   "the join made tb's own hsmkey:audit (not t1's: it cannot be copied)");
	r = hsm_sign(hb, "checkpoint", 10, sig, pub_b);
	ok(!r && sh_verifies(pub_b, "checkpoint", sig) && !sh_verifies(pub_a, "checkpoint", sig),
	   "tb's signature verifies (OpenSSL) with its public key, not with t1's");
}

/* A key of another length wrapped to tb's pair is no record or root, even where one is. */
static void test_share_len(struct hsm *ha, struct hsm *hb, const uint8_t *mb)
{
	static const int types[] = { HSMKEY_TYPE_AES_256_XTS, HSMKEY_TYPE_AES_128_GCM };
	uint8_t id[HSMKEY_ID_LEN], blob[HSM_COPY_MAX];
	size_t i, len = 0;
	int r;

	/* A version's blob and any tag: the length is checked first, where the token can. */
	for (i = 0; i < ARRAY_SIZE(types); i++) {
		cp_id(id, 300 + i);
		r = hsm_key_generate(ha, id, 1, types[i], "len") ?:
		    hsm_export(ha, mb, HSM_OBJ_VERSION, id, 1, blob, &len);
		memset(blob + len, 0x5a, HSM_MAC_LEN);
		r = r ?: hsm_import_copy(hb, HSM_OBJ_ROOT, NULL, 0, 0, NULL, blob,
					 len + HSM_MAC_LEN);
		ok(r == (i ? -ENODATA : -EMSGSIZE) &&
		   sh("softhsm_count_label tb hsmkey:copy-in") == 0 &&
		   sh("softhsm_count_label tb hsmkey:root") == 1,
		   "a %u-byte key as HSM_OBJ_ROOT: %s, nothing left", key_type_len(types[i]),
		   i ? "-ENODATA" : "-EMSGSIZE");
	}
}

/* hsm_import_copy() of @blob into @to: -EKEYREJECTED, and @tok holds no root copy more. */
static bool sh_rejected(struct hsm *to, const char *tok, const uint8_t *blob, size_t len,
			long roots)
{
	int r = hsm_import_copy(to, HSM_OBJ_ROOT, NULL, 0, 0, NULL, blob, len);

	return r == -EKEYREJECTED && sh("softhsm_count_label %s hsmkey:copy-in", tok) == 0 &&
	       sh("softhsm_count_label %s hsmkey:root", tok) == roots;
}

/* The copy check tag: the blob's last 32 bytes, which must be the copy's MAC. */
static void test_share_tag(struct hsm *ha, struct hsm *hb, const uint8_t *mb)
{
	uint8_t blob[HSM_COPY_MAX];
	size_t len = 0;
	int r = hsm_export(ha, mb, HSM_OBJ_ROOT, NULL, 0, blob, &len);

	ok(!r && len == 384 + HSM_MAC_LEN, "a root's copy is OAEP and a 32-byte tag (%zu bytes)",
	   len);
	blob[len - 1] ^= 0x01;
	ok(!r && sh_rejected(hb, "tb", blob, len, 1) && sh_said("check tag differs"),
	   "its tag's last bit flipped: -EKEYREJECTED, nothing left (%s)", hsm_error());
	blob[len - 1] ^= 0x01;
	ok(!r && sh_rejected(hb, "tb", blob, len - HSM_MAC_LEN, 1),
	   "the OAEP blob without its tag: -EKEYREJECTED");
	ok(!r && hsm_import_copy(hb, HSM_OBJ_ROOT, NULL, 0, 0, NULL, blob, HSM_MAC_LEN) ==
	   -EKEYREJECTED, "a tag alone: -EKEYREJECTED");
	ok(!r && !hsm_import_copy(hb, HSM_OBJ_ROOT, NULL, 0, 0, NULL, blob, len),
	   "the blob as exported: 0 (the same root there already)");
}

static void test_share_refused(struct hsm *ha, struct hsm *hb, const uint8_t *mb)
{
	uint8_t m[HSM_MEMBER_LEN], ma[HSM_MAC_LEN], mac[HSM_MAC_LEN], blob[HSM_COPY_MAX];
	struct hsm *hc, *hd;
	size_t len = 0;
	int r;

	ok(!sh_copy(ha, hb, mb, HSM_OBJ_RECORD) && !sh_copy(ha, hb, mb, HSM_OBJ_ROOT) &&
	   sh("softhsm_count_label tb hsmkey:record") == 1 &&
	   sh("softhsm_count_label tb hsmkey:copy-in") == 0,
	   "the same record and root again: 0, still one of each");
	sh("softhsm_token tc && softhsm_token td");
	hc = open_token("tc", pin_path, 0, false);
	r = hc ? sh_pair(hc, hb, m) ?: sh_copy(hc, hb, m, HSM_OBJ_RECORD) : -1;
	ok(r == -EEXIST && sh_said("holds another hsmkey:record"),
	   "tc's record (another key store) into tb: -EEXIST (%s)", hsm_error());
	r = hsm_mac(ha, "m", 1, ma) ?: hsm_mac(hb, "m", 1, mac);
	ok(!r && !memcmp(ma, mac, sizeof(ma)) && sh("softhsm_count_label tb hsmkey:record") == 1 &&
	   sh("softhsm_count_label tb hsmkey:copy-in") == 0,
	   "tb unchanged: its MAC is still t1's, one record, nothing staged");
	r = hsm_export(ha, mb, HSM_OBJ_ROOT, NULL, 0, blob, &len);
	ok(!r && hc && hsm_import_copy(hc, HSM_OBJ_ROOT, NULL, 0, 0, NULL, blob, len) ==
	   -EKEYREJECTED && sh("softhsm_count_label tc hsmkey:root") == 1 &&
	   sh("softhsm_count_label tc hsmkey:copy-in") == 0,
	   "t1's root made for tb, imported into tc: -EKEYREJECTED, tc keeps its own");
	hsm_close(hc);
	test_share_len(ha, hb, mb);
	test_share_tag(ha, hb, mb);

	hd = open_token("td", pin_path, 0, false);
	sh("softhsm_py td <<< 'o = s.findObjects([(P.CKA_LABEL, \"hsmkey:root\")])[0]\n"
	   "s.setAttributeValue(o, [(P.CKA_EXTRACTABLE, False)])'");
	r = hd ? sh_pair(hd, hb, m) ?: sh_copy(hd, hb, m, HSM_OBJ_ROOT) : -1;
	ok(r == -EMEDIUMTYPE &&
	   sh_said("hsmkey:root of token 'td' is not extractable (made before tokens could be "
		   "paired): this key store cannot gain another token"),
	   "an old token's non-extractable root: -EMEDIUMTYPE (%s)", hsm_error());
	hsm_close(hd);
}

static void test_share_objects(void)
{
	ok(sh(CP_REF " shared t1 hsmkey:record") == 1 && sh(CP_REF " shared t1 hsmkey:root") == 1,
	   "PyKCS11: t1's record and root are sensitive, extractable, HMAC only");
	ok(sh(CP_REF " shared tb hsmkey:record") == 1 && sh(CP_REF " shared tb hsmkey:root") == 1,
	   "PyKCS11: tb's copies have the same attributes");
	ok(sh(CP_REF " clean tb") == 1 && sh(CP_REF " clean tc") == 1 &&
	   sh(CP_REF " clean t1 any") == 1,
	   "PyKCS11: no staged copy in t1, tb, tc, nor any object but hsmkey's in tb and tc");
}

/* tb again, a new helper: a joined token is found whole, and made nothing new. */
static void test_share_reopen(struct hsm *ha, const uint8_t *pub_b)
{
	uint8_t ma[HSM_MAC_LEN], mb[HSM_MAC_LEN], sig[HSM_SIG_LEN], pub[HSM_PUB_LEN],
		ia[HSMKEY_OWNER_LEN], ib[HSMKEY_OWNER_LEN];
	struct hsm *hb = sh_open_join("tb");
	int r = hb ? 0 : -1;

	r = r ?: hsm_mac(ha, "n", 1, ma) ?: hsm_mac(hb, "n", 1, mb) ?:
	    hsm_instance(ha, ia) ?: hsm_instance(hb, ib) ?: hsm_sign(hb, "c", 1, sig, pub);
	ok(!r && !memcmp(ma, mb, sizeof(ma)) && !memcmp(ia, ib, sizeof(ia)) &&
	   !memcmp(pub, pub_b, HSM_PUB_LEN) && sh("softhsm_count_label tb hsmkey:audit") == 2,
	   "tb reopened with join: t1's MAC and instance, its own audit key as before");
	hsm_close(hb);
}

/* `p11-kit server` for SoftHSM's token @tok on @dir/p11-@tok.sock; its pgid kept beside. */
static bool sh_server(const char *tok)
{
	return sh("p11kit_server_start %s/p11-%s.sock %s && echo $P11KIT_PGID >%s/p11-%s.pid && "
		  "echo 1", dir, tok, tok, dir, tok) == 1;
}

static void sh_server_stop(const char *tok)
{
	sh("kill -- -$(cat %s/p11-%s.pid)", dir, tok);
}

/* Token @tok through p11-kit's RPC (p11-kit-client.so, chosen by the URI), joining. */
static struct hsm *sh_open_rpc(const char *tok)
{
	char uri[512], module[] = "/usr/lib/softhsm/libsofthsm2.so";
	struct hsm_config cfg = {
		.module = module, .token = uri, .pin_file = pin_path, .join = true,
	};
	struct hsm *h = NULL;

	snprintf(uri, sizeof(uri), "pkcs11:token=%s?module-path=%s&x-p11kit-server="
		 "unix:path%%3D%s/p11-%s.sock", tok,
		 "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so", dir, tok);
	if (hsm_open(&cfg, &h))
		printf("# hsm_open %s: %s\n", uri, hsm_error());
	return h;
}

/* Copies refused by their tag leave tn (behind the RPC) without a root. */
static void test_share_rpc_refused(struct hsm *ha, struct hsm *hn, const uint8_t *mn)
{
	uint8_t blob[HSM_COPY_MAX], other[HSM_COPY_MAX], mx[HSM_MEMBER_LEN];
	size_t len = 0, olen = 0;
	struct hsm *hx;
	int r = hsm_export(ha, mn, HSM_OBJ_ROOT, NULL, 0, blob, &len);

	blob[len - HSM_MAC_LEN] ^= 0x80;
	ok(!r && sh_rejected(hn, "tn", blob, len, 0) && sh_said("check tag differs"),
	   "t1's root into tn through the RPC, a tag byte flipped: -EKEYREJECTED, no root, "
	   "nothing staged (%s)", hsm_error());
	blob[len - HSM_MAC_LEN] ^= 0x80;
	sh("softhsm_token tx");
	hx = open_token("tx", pin_path, 0, false);
	r = hx ? sh_pair(hx, hn, mx) ?: hsm_export(hx, mn, HSM_OBJ_ROOT, NULL, 0, other, &olen)
	       : -1;
	ok(!r && !memcmp(mx, mn, HSM_MEMBER_LEN) && olen == len,
	   "tx (another key store) exports its root to tn");
	memcpy(other + olen - HSM_MAC_LEN, blob + len - HSM_MAC_LEN, HSM_MAC_LEN);
	ok(!r && sh_rejected(hn, "tn", other, olen, 0),
	   "tx's root with t1's tag: -EKEYREJECTED, no root, nothing staged");
	hsm_close(hx);
}

/* tn behind `p11-kit server`, joining t1's store: record and root cross by their tag. */
static void test_share_rpc(struct hsm *ha)
{
	uint8_t mn[HSM_MEMBER_LEN], ia[HSMKEY_OWNER_LEN], ma[HSM_MAC_LEN], mb[HSM_MAC_LEN],
		da[40], db[40];
	struct hsm *hn = NULL;
	int r;

	sh("softhsm_token tn");
	ok(sh_server("tn"), "p11-kit server for tn");
	hn = sh_open_rpc("tn");
	ok(hn && hsm_state(hn, NULL, 0) == HSM_UP, "tn through p11-kit's RPC, joining: up");
	if (!hn || hsm_state(hn, NULL, 0) != HSM_UP)
		goto out;
	ok(!sh_pair(ha, hn, mn), "tn's hsmkey:pair (made through the RPC) a peer of t1");
	test_share_rpc_refused(ha, hn, mn);
	r = sh_copy(ha, hn, mn, HSM_OBJ_RECORD);
	ok(!r, "hsmkey:record t1 to tn through the RPC: checked by its tag");
	r = sh_copy(ha, hn, mn, HSM_OBJ_ROOT);
	ok(!r, "hsmkey:root t1 to tn through the RPC");
	ok(sh("softhsm_count_label tn hsmkey:record") == 1 &&
	   sh("softhsm_count_label tn hsmkey:root") == 1 &&
	   sh("softhsm_count_label tn hsmkey:copy-in") == 0 && sh(CP_REF " clean tn") == 1,
	   "PyKCS11 (directly): tn holds one of each, nothing staged, nothing else");
	ok(sh(CP_REF " shared tn hsmkey:record") == 1 && sh(CP_REF " shared tn hsmkey:root") == 1,
	   "PyKCS11: tn's copies have make_hmac_key()'s attributes");
	r = hsm_instance(ha, ia) ?: hsm_instance_set(hn, ia);
	ok(!r, "hsm_instance_set through the RPC");
	r = hsm_mac(ha, "rpc record", 10, ma) ?: hsm_mac(hn, "rpc record", 10, mb);
	ok(!r && !memcmp(ma, mb, sizeof(ma)), "hsm_mac on t1 and on tn (RPC): the same MAC");
	r = hsm_derive(ha, "rpc label", da, sizeof(da)) ?:
	    hsm_derive(hn, "rpc label", db, sizeof(db));
	ok(!r && !memcmp(da, db, sizeof(da)), "hsm_derive on t1 and on tn (RPC): the same bytes");
	ok(!sh_copy(ha, hn, mn, HSM_OBJ_ROOT) && sh("softhsm_count_label tn hsmkey:root") == 1,
	   "the same root again through the RPC: 0, still one");
out:
	hsm_close(hn);
	sh_server_stop("tn");
}

static void test_share(struct hsm *ha)
{
	uint8_t mb[HSM_MEMBER_LEN], pub_b[HSM_PUB_LEN];
	struct hsm *hb;

	test_share_proto();
	sh("softhsm_token tb");
	hb = sh_open_join("tb");
	ok(hb != NULL, "open tb with join");
	if (!hb)
		return;
	test_share_unjoined(hb);
	ok(!sh_pair(ha, hb, mb), "tb's hsmkey:pair a peer of t1");
	test_share_join(ha, hb, mb);
	test_share_same(ha, hb, pub_b);
	test_share_refused(ha, hb, mb);
	test_share_objects();
	hsm_close(hb);
	test_share_reopen(ha, pub_b);
	test_share_rpc(ha);
}
