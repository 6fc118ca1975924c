// SPDX-License-Identifier: GPL-2.0
/*
 * p11_inproc MODULE TOKEN PIN_FILE LABEL: the memory scan's realistic
 * positive control (issue 12 design, section 7 item 8(b)), on the host.
 *
 * hsmkeyd runs its PKCS#11 module in a helper process because a software
 * token holds the clear key in the calling process while it wraps it.  This
 * program is the caller that does not: it loads the module itself, finds
 * the sensitive, extractable key LABEL (made by the reference client, so the
 * test knows its value and this process never reads it), makes a
 * non-extractable KEK in the token, and wraps the key under it on request,
 * as delivery would.  test_memscan.sh scans it meanwhile.
 *
 * Prints "ready PID", then reads commands on stdin:
 *   wrap SECONDS	wrap in a loop for that long, then print "wrapped N"
 * and exits at end of input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "p11_open.h"

static CK_FUNCTION_LIST_PTR p11;
static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

static void check(const char *call, CK_RV rv)
{
	if (rv == CKR_OK)
		return;
	fprintf(stderr, "p11_inproc: %s: CK_RV 0x%lx\n", call, rv);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static CK_OBJECT_HANDLE find_key(CK_SESSION_HANDLE s, const char *label)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n = 0;

	check("C_FindObjectsInit", p11->C_FindObjectsInit(s, t, 2));
	check("C_FindObjects", p11->C_FindObjects(s, h, 2, &n));
	check("C_FindObjectsFinal", p11->C_FindObjectsFinal(s));
	if (n != 1) {
		fprintf(stderr, "p11_inproc: %lu secret keys labelled '%s' (need one)\n", n, label);
		exit(1);
	}
	return h[0];
}

/* A wrap-only AES-256 key in the session that nobody can read, like a derived KEK. */
static CK_OBJECT_HANDLE make_kek(CK_SESSION_HANDLE s)
{
	CK_MECHANISM gen = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG len = 32;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE_LEN, &len, sizeof(len) }, { CKA_TOKEN, &no, 1 },
		{ CKA_SENSITIVE, &yes, 1 }, { CKA_EXTRACTABLE, &no, 1 }, { CKA_WRAP, &yes, 1 },
	};
	CK_OBJECT_HANDLE kek;

	check("C_GenerateKey", p11->C_GenerateKey(s, &gen, t, 7, &kek));
	return kek;
}

static unsigned long wrap_for(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE kek, CK_OBJECT_HANDLE key,
			      double secs)
{
	CK_MECHANISM kw = { CKM_AES_KEY_WRAP, NULL, 0 };
	double end = now() + secs;
	unsigned long n = 0;
	CK_BYTE blob[128];
	CK_ULONG len;

	do {
		len = sizeof(blob);
		check("C_WrapKey", p11->C_WrapKey(s, &kw, kek, key, blob, &len));
		n++;
	} while (now() < end);
	return n;
}

int main(int argc, char **argv)
{
	CK_OBJECT_HANDLE key, kek;
	CK_SESSION_HANDLE s;
	char line[64];
	double secs;

	if (argc != 5) {
		fprintf(stderr, "usage: p11_inproc MODULE TOKEN PIN_FILE LABEL\n");
		return 2;
	}
	if (p11_open(argv[1], argv[2], argv[3], &p11, &s))
		return 1;
	key = find_key(s, argv[4]);
	kek = make_kek(s);
	printf("ready %d\n", getpid());
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "wrap %lf", &secs) != 1)
			continue;
		printf("wrapped %lu\n", wrap_for(s, kek, key, secs));
		fflush(stdout);
	}
	p11->C_Logout(s);
	p11->C_Finalize(NULL);
	return 0;
}
