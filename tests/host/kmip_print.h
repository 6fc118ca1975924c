/* SPDX-License-Identifier: GPL-2.0 */
#ifndef HSMKEY_TESTS_KMIP_PRINT_H
#define HSMKEY_TESTS_KMIP_PRINT_H

#include <stddef.h>
#include <stdint.h>

/* @name's response as lines "NAME ITEM: version=... op=... ...": 0, or 1 if unreadable. */
int kmip_print_response(const char *name, const uint8_t *buf, size_t len);

#endif
