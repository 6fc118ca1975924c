/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _HSMKEY_SELFTEST_H
#define _HSMKEY_SELFTEST_H

int hsmkey_selftest(const char *driver);
int hsmkey_selftest_aead(const char *driver);

#endif
