// SPDX-License-Identifier: GPL-2.0
/*
 * A PKCS#11 module for the tests that stands for a slow token: it passes
 * every call to the module HSMKEY_SLOW_MODULE names and makes each object
 * search (C_FindObjectsInit) take longer, as a search over many objects
 * does on a real token or a loaded machine: by the milliseconds written in
 * the file HSMKEY_SLOW_FIND_FILE names, read at each search (so a test
 * changes it under a running daemon), none while there is no such file.
 *
 * It also stands for a token that fails its ECDH: while the file
 * HSMKEY_SLOW_DERIVE_FILE names holds "RV [AFTER]", each C_DeriveKey of
 * CKM_ECDH1_DERIVE after the first AFTER (default 0) returns the CK_RV RV
 * (e.g. 0x32, CKR_DEVICE_REMOVED) without reaching the token.  AFTER
 * counts every CKM_ECDH1_DERIVE of this process, failed ones and ones made
 * while there was no file: a new process (a new helper) counts from 0.
 * The file is read at each derivation; one read while it is rewritten in
 * place may find it empty, and pass the call on.
 *
 * And a token without a random number generator: with HSMKEY_SLOW_NO_RNG
 * set, C_GenerateRandom returns CKR_RANDOM_NO_RNG.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST slow;
static CK_C_FindObjectsInit real_find_init;
static CK_C_DeriveKey real_derive;
static unsigned long ecdh_made;

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

/* The CK_RV the derive file asks of this process's ECDH number @made (from 0), or CKR_OK. */
static CK_RV derive_fault(unsigned long made)
{
	const char *path = getenv("HSMKEY_SLOW_DERIVE_FILE");
	FILE *f = path ? fopen(path, "r") : NULL;
	unsigned long after = 0;
	long rv = CKR_OK;

	if (!f)
		return CKR_OK;
	if (fscanf(f, "%li %lu", &rv, &after) < 1)
		rv = CKR_OK;
	fclose(f);
	return made < after ? CKR_OK : (CK_RV)rv;
}

static CK_RV slow_derive(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE base,
			 CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
	CK_RV rv = CKR_OK;

	if (m && m->mechanism == CKM_ECDH1_DERIVE)
		rv = derive_fault(__atomic_fetch_add(&ecdh_made, 1, __ATOMIC_RELAXED));
	return rv != CKR_OK ? rv : real_derive(h, m, base, t, n, out);
}

static CK_RV no_rng(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG len)
{
	(void)h;
	(void)out;
	(void)len;
	return CKR_RANDOM_NO_RNG;
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
	real_derive = real->C_DeriveKey;
	slow.C_DeriveKey = slow_derive;
	if (getenv("HSMKEY_SLOW_NO_RNG"))
		slow.C_GenerateRandom = no_rng;
	*out = &slow;
	return CKR_OK;
}
