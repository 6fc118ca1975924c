/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _HSMKEY_KTLS_H
#define _HSMKEY_KTLS_H

#include <linux/types.h>

int hsmkey_ktls_register(void);
void hsmkey_ktls_unregister(void);
bool hsmkey_ktls_enabled(void);
bool hsmkey_ktls_first_now(void);

#endif
