// SPDX-License-Identifier: GPL-2.0
/*
 * random N: N random bytes (1 to 1024) from hsmkeyd, through libhsmkey,
 * raw on standard output.
 */
#include <stdint.h>
#include "kms_cmd.h"
#include "number.h"
#include "util.h"

static const char random_usage[] =
	"random N > OUT\n"
	"N random bytes (1 to 1024) of the kernel's generator, by way of hsmkeyd";

int cmd_random(int argc, char **argv)
{
	uint8_t buf[HSMKEY_RANDOM_MAX];
	struct hsmkey *h = NULL;
	const char *count = NULL;
	uint64_t n = 0;
	int r = args_exact(argc, argv, random_usage, NULL, &count, 1);

	if (r)
		return PARSED(r);
	if (parse_u64(count, HSMKEY_RANDOM_MAX, &n) || !n)
		return usage_error(random_usage, "bad count '%s' (a number from 1 to 1024)", count);
	r = kms_connect(argv[0], &h);
	if (r)
		return r;
	r = hsmkey_generate_random(h, buf, (size_t)n);
	r = kms_finish(argv[0], h, r, buf, (size_t)n);
	wipe(buf, sizeof(buf));	/* perhaps a key */
	return r;
}
