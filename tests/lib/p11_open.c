// SPDX-License-Identifier: GPL-2.0
/*
 * The test side's way into a token: load a PKCS#11 module in this process,
 * find a token by label, open a session and log in.
 *
 * Two test programs call a token directly, without hsmkeyd's helper
 * process: bench/pkcs11_rate (SoftHSM's own rate, the provisioning
 * baseline) and tests/host/p11_inproc (the memory scan's positive control,
 * a process that holds the module itself).  They open it the same way, so
 * the way is here once.  The daemon's own path is daemon/pkcs11/module.c
 * and session.c, which this does not replace: those run in the helper and
 * answer the daemon.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "p11_open.h"
#include "util.h"

/* Say what failed (and the token's answer, if it gave one); returns @err. */
static int fail(CK_RV rv, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(CK_RV rv, int err, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (rv != CKR_OK)
		fprintf(stderr, ": CK_RV 0x%lx", rv);
	fprintf(stderr, "\n");
	return err;
}

static int load(const char *module, CK_FUNCTION_LIST_PTR *p11)
{
	CK_C_INITIALIZE_ARGS ia = { .flags = CKF_OS_LOCKING_OK };
	CK_C_GetFunctionList get;
	void *dl = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	CK_RV rv;

	if (!dl)
		return fail(CKR_OK, -ENOENT, "%s", dlerror());
	get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
	if (!get)
		return fail(CKR_OK, -ENOENT, "%s has no C_GetFunctionList", module);
	rv = get(p11);
	if (rv != CKR_OK)
		return fail(rv, -EIO, "C_GetFunctionList");
	rv = (*p11)->C_Initialize(&ia);
	if (rv != CKR_OK)
		return fail(rv, -EIO, "C_Initialize");
	return 0;
}

static int login(CK_FUNCTION_LIST_PTR p11, CK_SESSION_HANDLE s, const char *pin_file)
{
	char pin[256];
	FILE *f = fopen(pin_file, "r");
	CK_RV rv;

	if (!f || !fgets(pin, sizeof(pin), f)) {
		if (f)
			fclose(f);
		return fail(CKR_OK, -EACCES, "cannot read the PIN file %s", pin_file);
	}
	fclose(f);
	rv = p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strcspn(pin, "\r\n"));
	wipe(pin, sizeof(pin));
	if (rv != CKR_OK)
		return fail(rv, -EACCES, "the token refused the PIN (C_Login)");
	return 0;
}

/* The slot whose token's label, padded with spaces as PKCS#11 pads it, is @token. */
static int find_slot(CK_FUNCTION_LIST_PTR p11, const char *token, CK_SLOT_ID *slot)
{
	CK_SLOT_ID slots[32];
	CK_ULONG n = 32;
	CK_RV rv;

	rv = p11->C_GetSlotList(CK_TRUE, slots, &n);
	if (rv != CKR_OK)
		return fail(rv, -EIO, "C_GetSlotList");
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		char padded[sizeof(ti.label)];

		rv = p11->C_GetTokenInfo(slots[i], &ti);
		if (rv != CKR_OK)
			return fail(rv, -EIO, "C_GetTokenInfo");
		memset(padded, ' ', sizeof(padded));
		memcpy(padded, token, strnlen(token, sizeof(padded)));
		if (!memcmp(padded, ti.label, sizeof(padded))) {
			*slot = slots[i];
			return 0;
		}
	}
	return fail(CKR_OK, -ENOENT, "no token labelled '%s'", token);
}

int p11_open(const char *module, const char *token, const char *pin_file,
	     CK_FUNCTION_LIST_PTR *p11, CK_SESSION_HANDLE *session)
{
	CK_SLOT_ID slot;
	CK_RV rv;
	int err;

	err = load(module, p11);
	if (!err)
		err = find_slot(*p11, token, &slot);
	if (err)
		return err;
	rv = (*p11)->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
				   session);
	if (rv != CKR_OK)
		return fail(rv, -EIO, "C_OpenSession");
	return login(*p11, *session, pin_file);
}
