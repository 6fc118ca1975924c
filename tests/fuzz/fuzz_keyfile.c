// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer: the keystore's key file parser, unsealing included, over a
 * real keystore in a temporary directory (its master key is made there).
 */
#include <stdint.h>
#include <stdlib.h>
#include <sanitizer/lsan_interface.h>
#include "embedded/keystore.h"
#include "util.h"

static struct keystore *ks;

/* Before the leak check at exit: what the keystore holds is not a leak. */
static void close_keystore(void)
{
	ks_close(ks);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_KEYSTORE");

	(void)argc;
	(void)argv;
	log_init("fuzz_keyfile", false);
	if (!dir || ks_open(dir, &ks))
		abort();	/* run it as tests/host/test_fuzz.sh does */
	atexit(close_keystore);
	/*
	 * libFuzzer checks for leaks while the keystore is open (after an
	 * input that allocated more than it freed): what the keystore holds,
	 * reached only from its unscanned secret pages, must not look leaked.
	 */
	if (__lsan_do_recoverable_leak_check())
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ks_key key;

	if (!ks_parse(ks, "k.json", (const char *)data, size, true, &key))
		ks_key_wipe(&key);
	return 0;
}
