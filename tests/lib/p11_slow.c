// SPDX-License-Identifier: GPL-2.0
/*
 * A PKCS#11 module for the tests that stands for a slow token: it passes
 * every call to the module HSMKEY_SLOW_MODULE names and makes each object
 * search (C_FindObjectsInit) take longer, as a search over many objects
 * does on a real token or a loaded machine: by the milliseconds written in
 * the file HSMKEY_SLOW_FIND_FILE names, read at each search (so a test
 * changes it under a running daemon), none while there is no such file.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST slow;
static CK_C_FindObjectsInit real_find_init;

static CK_RV slow_find_init(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	const char *path = getenv("HSMKEY_SLOW_FIND_FILE");
	FILE *f = path ? fopen(path, "r") : NULL;
	struct timespec ts;
	long d = 0;

	if (f) {
		if (fscanf(f, "%ld", &d) != 1)
			d = 0;
		fclose(f);
	}
	ts.tv_sec = d / 1000;
	ts.tv_nsec = d % 1000 * 1000000L;
	while (d > 0 && nanosleep(&ts, &ts))
		;
	return real_find_init(h, t, n);
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	const char *path = getenv("HSMKEY_SLOW_MODULE");
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	CK_FUNCTION_LIST_PTR real;
	void *dl;

	if (!out)
		return CKR_ARGUMENTS_BAD;
	dl = path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
	get = dl ? (CK_RV (*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(dl, "C_GetFunctionList") : NULL;
	if (!get || get(&real) != CKR_OK)
		return CKR_GENERAL_ERROR;
	slow = *real;
	real_find_init = real->C_FindObjectsInit;
	slow.C_FindObjectsInit = slow_find_init;
	*out = &slow;
	return CKR_OK;
}
