/* SPDX-License-Identifier: GPL-2.0 */
#ifndef HSMKEY_TESTS_P11_OPEN_H
#define HSMKEY_TESTS_P11_OPEN_H

#include <p11-kit/pkcs11.h>

/*
 * Load @module, initialise it and open a read-write session on the token
 * labelled @token, logged in as the user with the first line of @pin_file.
 * 0, or a negative errno with the reason printed once on stderr:
 * -EIO if a PKCS#11 call failed, -ENOENT (module or token not there),
 * -EACCES (PIN file unreadable or PIN refused).
 */
int p11_open(const char *module, const char *token, const char *pin_file,
	     CK_FUNCTION_LIST_PTR *p11, CK_SESSION_HANDLE *session);

#endif
