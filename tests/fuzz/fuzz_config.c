// SPDX-License-Identifier: GPL-2.0
/* libFuzzer: the hsmkeyd.conf parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), err[256];
	struct config c;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	config_defaults(&c);
	(void)config_parse(text, &c, err, sizeof(err));
	free(text);
	return 0;
}
