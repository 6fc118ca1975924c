// SPDX-License-Identifier: GPL-2.0
/*
 * mac and verify-mac: MACs with a MAC key (hmac-sha256) from the command
 * line, through libhsmkey.  The message on standard input; the MAC, 32
 * raw bytes, on standard output (mac) or in a file (verify-mac).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "kms_cmd.h"
#include "number.h"
#include "util.h"

static const char mac_usage[] =
	"mac NAME < DATA > MAC\n"
	"DATA: 0 to 32768 bytes; the MAC (HMAC-SHA256, 32 bytes) under the key's current version";
static const char verify_mac_usage[] =
	"verify-mac NAME MAC-FILE [--version N] < DATA\n"
	"checks MAC-FILE (32 bytes, as mac writes it) under version N (default: the current one);\n"
	"prints \"Verified OK\" and exits 0, or says why not and exits 1";

int cmd_mac(int argc, char **argv)
{
	uint8_t msg[HSMKEY_MESSAGE_MAX + 1], mac[HSMKEY_MAC_LEN];
	struct hsmkey *h = NULL;
	const char *name = NULL;
	size_t len = 0;
	int r = args_exact(argc, argv, mac_usage, NULL, &name, 1);

	if (r)
		return PARSED(r);
	r = kms_input_and_connect(argv[0], msg, HSMKEY_MESSAGE_MAX, &len, &h);
	if (r)
		return r;
	r = hsmkey_generate_mac(h, name, msg, len, mac, NULL);
	r = kms_finish(argv[0], h, r, mac, sizeof(mac));
	wipe(msg, sizeof(msg));
	return r;
}

/* The MAC file into @mac: exactly HSMKEY_MAC_LEN bytes, else reported. */
static int read_mac(const char *path, uint8_t *mac)
{
	uint8_t buf[HSMKEY_MAC_LEN + 1];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		fprintf(stderr, "hsmkeyctl verify-mac: cannot open %s: %m\n", path);
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n != HSMKEY_MAC_LEN) {
		fprintf(stderr, "hsmkeyctl verify-mac: %s is no MAC: %s bytes, not %d (as 'hsmkeyctl mac' writes it)\n",
			path, n > HSMKEY_MAC_LEN ? "more" : "fewer", HSMKEY_MAC_LEN);
		return -1;
	}
	memcpy(mac, buf, HSMKEY_MAC_LEN);
	return 0;
}

int cmd_verify_mac(int argc, char **argv)
{
	uint8_t msg[HSMKEY_MESSAGE_MAX + 1], mac[HSMKEY_MAC_LEN];
	const char *pos[2] = { NULL, NULL }, *version = NULL;
	const struct arg_opt opts[] = {
		{ "version", 'v', .value = &version },
		{}
	};
	struct hsmkey *h = NULL;
	uint64_t v = 0;
	size_t len = 0;
	int r = args_exact(argc, argv, verify_mac_usage, opts, pos, 2);

	if (r)
		return PARSED(r);
	if (version && (parse_u64(version, UINT32_MAX, &v) || !v))
		return usage_error(verify_mac_usage, "bad version '%s' (a number from 1 to 4294967295)",
				   version);
	if (read_mac(pos[1], mac))
		return EXIT_FAILED;
	r = kms_input_and_connect(argv[0], msg, HSMKEY_MESSAGE_MAX, &len, &h);
	if (r)
		return r;
	r = hsmkey_verify_mac(h, pos[0], (uint32_t)v, msg, len, mac);
	r = kms_finish(argv[0], h, r, NULL, 0);
	wipe(msg, sizeof(msg));
	if (r == EXIT_OK)
		printf("Verified OK\n");
	return r;
}
