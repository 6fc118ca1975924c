/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Strict parsing of decimal numbers from the command line and from files:
 * strtoul(3) takes signs and blanks ("-1" becomes huge, " 5" passes), so
 * every numeric option goes through this instead.
 */
#ifndef HSMKEY_NUMBER_H
#define HSMKEY_NUMBER_H

#include <stdint.h>

/* Digits only, at most @max: 0 and *out, -EINVAL (not a number) or -ERANGE. */
int parse_u64(const char *s, uint64_t max, uint64_t *out);

#endif
