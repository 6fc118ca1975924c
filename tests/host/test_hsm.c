// SPDX-License-Identifier: GPL-2.0
/*
 * daemon/pkcs11/hsm.h against real SoftHSM2 tokens, with PyKCS11
 * (tests/lib/softhsm.sh) as the independent client that plants and counts
 * objects, and OpenSSL as the reference for the crypto: the §2.4 known
 * answer, unwrapping by the kernel's side of the KDF, adoption, MACs,
 * signatures, the rollback anchor, PIN and token failures, a helper killed
 * or stopped, threads, the wrap rate beside the module in-process, and
 * copies of key versions between tokens, and tokens joining one key store;
 * and the backend's verifier cache (daemon/pkcs11/verifiers.c) on them.
 * This binary is also the helper (/proc/self/exe --pkcs11-helper FD).
 */
#include "hsm/common.h"
#include "hsm/store.c"
#include "hsm/delivery.c"
#include "hsm/verifiers.c"
#include "hsm/process.c"
#include "hsm/robust.c"
#include "hsm/copy.c"
#include "hsm/share.c"

int main(int argc, char **argv)
{
	struct hsm *h1, *h2;
	char self[4096];
	ssize_t n;

	if (argc == 3 && !strcmp(argv[1], "--pkcs11-helper"))
		return hsm_helper_main(argv[2]);
	log_init("test_hsm", false);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = 0;
	*strrchr(self, '/') = 0;
	snprintf(lib, sizeof(lib), "%s/../../../tests/lib/softhsm.sh", self);
	setenv("HSMT_LIB", lib, 1);
	snprintf(dir, sizeof(dir), "/tmp/test_hsm.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(pin_path, sizeof(pin_path), "%s/pin", dir);
	setenv("SOFTHSM2_CONF", "", 1);
	sh("softhsm_setup %s && softhsm_token t1 && softhsm_token t2 && softhsm_pin_file %s",
	   dir, pin_path);
	{
		char conf[128];

		snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
		setenv("SOFTHSM2_CONF", conf, 1);
	}
	test_proto();
	h1 = open_token("t1", pin_path, 0, false);
	h2 = open_token("t2", pin_path, 0, false);
	ok(h1 && h2, "open tokens t1 and t2 through helpers");
	if (h1 && h2) {
		test_names(h1);
		test_secrets(h1, h2);
		test_anchor(h1);
		test_kat();
		test_roundtrip(h1);
		test_warm();
		test_warm_fails();
		test_warm_refused();
		test_replaced(h1);
		test_verifier_cache(h1, h2);
		test_adopt(h1);
		test_threads(h1);
		test_rate(h1);
		test_copy(h1, h2);
		test_share(h1);
	}
	hsm_close(h2);
	test_pin();
	test_down();
	test_kill();
	test_turn_deadline();
	if (h1) {
		test_many(h1);
		test_relogin();
	}
	test_pin_mode();
	hsm_close(h1);
	if (!getenv("KEEP"))
		sh("rm -rf %s", dir);
	printf("1..%d\n", tap_n);
	return tap_failed > 0;
}
