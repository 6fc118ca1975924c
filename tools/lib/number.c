// SPDX-License-Identifier: GPL-2.0
/* See number.h: one strict parser instead of strtoul's leniency. */
#include <errno.h>
#include "number.h"

int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned int d = (unsigned int)(*s - '0');

		if (d > 9)
			return -EINVAL;
		if (d > max || v > (max - d) / 10) {
			/* Still refuse a later non-digit as not a number. */
			while (*++s)
				if (*s < '0' || *s > '9')
					return -EINVAL;
			return -ERANGE;
		}
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}
