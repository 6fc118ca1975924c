// SPDX-License-Identifier: GPL-2.0
/*
 * The fuzzer's report: its TAP lines and their failures, and per role the
 * errno each reply carried, to tell expected refusals from handler bugs.
 */
#include "nl_fuzz.h"

const char *const tap_name[T_NLINES] = {
	[T_SETUP]	= "setup: /dev/hsmkey registered, keys provisioned",
	[T_ERRNO]	= "every reply is an ACK with 0 or an expected errno",
	[T_NOBODY]	= "uid 65534 never succeeds and changes no key",
	[T_OTHER]	= "an unregistered root socket never changes a key",
	[T_ANCHOR]	= "audit anchors never go backwards",
	[T_REVOKE]	= "revocation cannot be undone",
	[T_COVERAGE]	= "every handler answered 0 at least once",
	[T_FINAL]	= "INFO answers, a final dump parses, all messages sent",
	[T_CLEANUP]	= "cleanup removed every key the fuzzer added",
};

unsigned long fails[T_NLINES];

/* Count a failure of @line; print only the first few so logs stay short. */
void __attribute__((format(printf, 2, 3)))
fail(enum tap_line line, const char *fmt, ...)
{
	va_list ap;

	if (fails[line]++ >= 8)
		return;
	printf("# FAIL (test %d): ", (int)line + 1);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

void __attribute__((format(printf, 1, 2))) diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

const char *const role_name[R_NROLES] = {
	"holder", "other", "nobody", "inherit",
};

uint64_t hist[R_NROLES][NERR];
uint64_t sent[R_NROLES];
uint64_t timeouts[R_NROLES];

/* The errnos a reply may carry at all (invariant 1). */
static const int known_errnos[] = {
	EINVAL, ERANGE, E2BIG, EMSGSIZE, ENOKEY, EKEYREVOKED, EKEYREJECTED,
	EBADMSG, EEXIST, EPERM, EBUSY, ESTALE, ENOSPC, EOPNOTSUPP, ENOENT,
	ENOMEM, EALREADY,
};

bool errno_known(int e)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(known_errnos); i++)
		if (known_errnos[i] == e)
			return true;
	return false;
}

/*
 * Errnos that only a handler returns, after pre_doit's permission check:
 * seen by a sender without the right, they mean the check was skipped.
 */
bool errno_from_handler(int e)
{
	switch (e) {
	case ENOKEY: case EKEYREVOKED: case EKEYREJECTED: case EBADMSG:
	case EEXIST: case ESTALE: case ENOSPC: case E2BIG: case EALREADY:
		return true;
	default:
		return false;
	}
}

/* Errnos attribute validation gives before any permission check. */
bool errno_validation(int e)
{
	return e == EINVAL || e == ERANGE || e == EOPNOTSUPP || e == EMSGSIZE;
}

const char *errno_name(int e)
{
	static char buf[16];

	switch (e) {
	case 0: return "0";
	case EINVAL: return "EINVAL";
	case ERANGE: return "ERANGE";
	case E2BIG: return "E2BIG";
	case EMSGSIZE: return "EMSGSIZE";
	case ENOKEY: return "ENOKEY";
	case EKEYREVOKED: return "EKEYREVOKED";
	case EKEYREJECTED: return "EKEYREJECTED";
	case EBADMSG: return "EBADMSG";
	case EEXIST: return "EEXIST";
	case EPERM: return "EPERM";
	case EBUSY: return "EBUSY";
	case ESTALE: return "ESTALE";
	case ENOSPC: return "ENOSPC";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ENOENT: return "ENOENT";
	case ENOMEM: return "ENOMEM";
	case EALREADY: return "EALREADY";
	case EAGAIN: return "EAGAIN";
	default:
		snprintf(buf, sizeof(buf), "E%d", e);
		return buf;
	}
}

void hist_add(uint64_t *h, int e)
{
	h[e >= 0 && e < NERR - 1 ? e : NERR - 1]++;
}

void hist_print(const char *who, const uint64_t *h, uint64_t n)
{
	char line[1024];
	size_t off = 0;
	int e;

	off += snprintf(line, sizeof(line), "errnos %s (%" PRIu64 " sent):",
			who, n);
	for (e = 0; e < NERR && off < sizeof(line) - 40; e++)
		if (h[e])
			off += snprintf(line + off, sizeof(line) - off,
					" %s=%" PRIu64,
					e == NERR - 1 ? "other" : errno_name(e),
					h[e]);
	diag("%s", line);
}
