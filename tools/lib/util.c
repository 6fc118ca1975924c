// SPDX-License-Identifier: GPL-2.0
/*
 * Small utilities every program shares: logging with control characters
 * escaped, wiping, hex, whole reads and writes, atomic file replacement,
 * names, durations and key types.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include <openssl/crypto.h>
#include <linux/hsmkey.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/mman.h>
#include "key.h"
#include "util.h"

/* Sanitizer builds (the fuzzers): pages from mmap() are not scanned for pointers. */
#if defined(__SANITIZE_ADDRESS__)
#define HSMKEY_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define HSMKEY_LSAN 1
#endif
#endif
#ifdef HSMKEY_LSAN
#include <sanitizer/lsan_interface.h>
#endif

static const char *log_ident = "hsmkey";
static bool log_verbose;

void log_init(const char *ident, bool verbose)
{
	log_ident = ident;
	log_verbose = verbose;
}

/*
 * Append @in to @out, escaped: a logged string often comes from a request,
 * and a newline in it would start a line of the requester's choosing (a
 * forged "audit checkpoint", or a "<0>" that journald reads as a priority
 * and broadcasts).  Control bytes and the backslash become \xNN / \\, so
 * every message is one line and the escaping is unambiguous; a leading
 * '<' is escaped too, so no message can carry a priority prefix.
 */
static size_t log_escape(const char *in, char *out)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		if (*p == '\\') {
			out[n++] = '\\';
			out[n++] = '\\';
		} else if (*p < 0x20 || *p == 0x7f || (*p == '<' && p == (const unsigned char *)in)) {
			n += (size_t)sprintf(out + n, "\\x%02x", *p);
		} else {
			out[n++] = (char)*p;
		}
	}
	out[n] = '\0';
	return n;
}

void log_msg(int level, const char *fmt, ...)
{
	char *text, *line;
	va_list ap;
	int n;

	if (level > 6 && !log_verbose)
		return;
	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* One write per message: lines of concurrent threads do not mix. */
	line = malloc(strlen(log_ident) + 4 * (size_t)n + 16);
	if (line) {
		size_t len = (size_t)sprintf(line, "<%d>%s: ", level & 7, log_ident);

		len += log_escape(text, line + len);
		line[len++] = '\n';
		fwrite(line, 1, len, stderr);
		fflush(stderr);
		free(line);
	}
	free(text);
}

#ifdef HSMKEY_TEST_NO_WIPE
/*
 * The deliberately wrong build (build/tests/hsmkeyd-nowipe, tests only):
 * every secret it should wipe is kept here instead, the worst a missing
 * wipe can leave, so that the memory scans' positive control finds what
 * passed through whatever the allocator did with the buffer since.
 */
static unsigned char kept[1 << 20];
static size_t kept_at;

void wipe(void *p, size_t n)
{
	size_t at;

	if (!p || !n || n > sizeof(kept) / 2)
		return;
	at = __atomic_fetch_add(&kept_at, n, __ATOMIC_RELAXED) % (sizeof(kept) / 2);
	memcpy(kept + at, p, n);
}
#else
void wipe(void *p, size_t n)
{
	if (p && n)
		OPENSSL_cleanse(p, n);
}
#endif

static void *pages(size_t size, const char *what, bool must_lock)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mlock(p, size) < 0) {
		if (must_lock) {
			munmap(p, size);
			return NULL;
		}
		log_warn("cannot lock %s in memory: %m", what);
	}
	madvise(p, size, MADV_DONTDUMP);
#ifdef HSMKEY_LSAN
	/*
	 * What these pages point to is not leaked: without this, a leak check
	 * while they are in use (libFuzzer's, after an input that allocated
	 * more than it freed) reports all of it.
	 */
	__lsan_register_root_region(p, size);
#endif
	return p;
}

void *secret_pages(size_t size, const char *what)
{
	return pages(size, what, false);
}

void *secret_pages_locked(size_t size)
{
	return pages(size, NULL, true);
}

void secret_pages_free(void *p, size_t size)
{
	if (!p)
		return;
#ifdef HSMKEY_LSAN
	__lsan_unregister_root_region(p, size);
#endif
	munmap(p, size);
}

uint64_t monotonic_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

int64_t monotonic_ms(void)
{
	return (int64_t)(monotonic_ns() / 1000000);
}

uint64_t fnv1a64(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t x = 14695981039346656037ULL;

	for (size_t i = 0; i < n; i++)
		x = (x ^ b[i]) * 1099511628211ULL;
	return x;
}

void hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(const char *in, uint8_t *out, size_t n)
{
	size_t i;

	if (!in || strlen(in) != 2 * n)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		int hi = hex_digit(in[2 * i]), lo = hex_digit(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int random_full(void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n) {
		ssize_t got = getrandom(p, n, 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

int read_full(int fd, void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = read(fd, (char *)buf + done, n - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (int)done;
}

int write_full(int fd, const void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = write(fd, (const char *)buf + done, n - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		done += (size_t)r;
	}
	return 0;
}

#ifdef HSMKEY_CRASH_POINTS
/*
 * Test builds only (build/tests/hsmkeyd-crash): at the point named by
 * $HSMKEY_CRASH_POINT, reached for the $HSMKEY_CRASH_COUNTth time (default
 * 1), die as a crash would, with no cleanup; or, with $HSMKEY_CRASH_STOP,
 * stop there once (for a fault made meanwhile); or, with
 * $HSMKEY_CRASH_WAIT=FILE, have that one thread wait there while FILE
 * exists, the others going on (what they may do meanwhile).
 */
void crash_point(const char *name)
{
	const char *want = getenv("HSMKEY_CRASH_POINT");
	const char *count = getenv("HSMKEY_CRASH_COUNT");
	const char *hold = getenv("HSMKEY_CRASH_WAIT");
	bool stop = getenv("HSMKEY_CRASH_STOP");
	long nth = count ? atol(count) : 1;
	static long seen;
	long now;

	if (!want || strcmp(want, name))
		return;
	now = __atomic_add_fetch(&seen, 1, __ATOMIC_RELAXED);
	if (now < nth || ((hold || stop) && now != nth))
		return;
	if (hold) {
		log_info("crash point %s reached: waiting while %s exists", name, hold);
		while (!access(hold, F_OK))
			usleep(20000);
	} else if (stop) {
		raise(SIGSTOP);
	} else {
		log_error("crash point %s reached: exiting without cleanup", name);
		_exit(86);
	}
}
#endif

/*
 * Replace @name in @dirfd with @buf so that a crash at any point leaves
 * either the old file or the new one: a temporary file, written and
 * synced, renamed over @name, then the directory synced.  The crash points
 * name each step for the tests.
 */
int write_file_atomic(int dirfd, const char *name, const void *buf, size_t n,
		      unsigned int mode)
{
	char tmp[512];
	int fd, r;

	if ((size_t)snprintf(tmp, sizeof(tmp), ".%s.tmp", name) >= sizeof(tmp))
		return -ENAMETOOLONG;
	/*
	 * A temporary left by a crash, or planted (a symlink to a file of
	 * someone else's choosing), is removed, never written through; one
	 * put back in between makes O_EXCL refuse.
	 */
	if (unlinkat(dirfd, tmp, 0) < 0 && errno != ENOENT)
		return -errno;
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	crash_point("tmp-created");
	r = write_full(fd, buf, n / 2);
	crash_point("tmp-half");
	if (!r)
		r = write_full(fd, (const char *)buf + n / 2, n - n / 2);
	crash_point("tmp-written");
	if (!r && fsync(fd) < 0)
		r = -errno;
	crash_point("tmp-synced");
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	crash_point("renamed");
	if (!r && fsync(dirfd) < 0)
		r = -errno;
	crash_point("dir-synced");
	if (r)
		unlinkat(dirfd, tmp, 0);
	return r;
}

int parse_duration(const char *s, long long *out)
{
	char *end;
	long long v, mul = 1;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end == 'd')
		mul = 86400, end++;
	else if (*end == 'h')
		mul = 3600, end++;
	else if (*end == 'm')
		mul = 60, end++;
	else if (*end == 's')
		end++;
	if (*end || v < 1 || v > 3650LL * 86400 / mul)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

bool valid_name(const char *s)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n >= HSMKEY_NAME_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* A DNS name (RFC 1035 letters, digits, hyphens, dots), "*." leading at most. */
bool valid_dns_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n > 2 && s[0] == '*' && s[1] == '.')
		s += 2, n -= 2;
	if (!n || n > DNS_NAME_MAX || s[0] == '.' || s[0] == '-' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      (s[i] == '.' && s[i + 1] != '.')))
			return false;
	return true;
}

static const struct {
	const char *name;
	unsigned int len;
} key_types[] = {
	[HSMKEY_TYPE_AES_128_XTS] = { "aes-128-xts", 32 },
	[HSMKEY_TYPE_AES_256_XTS] = { "aes-256-xts", 64 },
	[HSMKEY_TYPE_AES_128_CBC] = { "aes-128-cbc", 16 },
	[HSMKEY_TYPE_AES_256_CBC] = { "aes-256-cbc", 32 },
	[HSMKEY_TYPE_AES_128_GCM] = { "aes-128-gcm", 16 },
	[HSMKEY_TYPE_AES_256_GCM] = { "aes-256-gcm", 32 },
	[KS_TYPE_ECDSA_P256] = { "ecdsa-p256", 32 },
	[KS_TYPE_ECDSA_P384] = { "ecdsa-p384", 48 },
	[KS_TYPE_ED25519] = { "ed25519", 32 },
	[KS_TYPE_RSA_2048] = { "rsa-2048", 4 + 2 * 128 },
	[KS_TYPE_RSA_3072] = { "rsa-3072", 4 + 2 * 192 },
	[KS_TYPE_KMS_AES_128] = { "kms-aes-128", 16 },
	[KS_TYPE_KMS_AES_256] = { "kms-aes-256", 32 },
	[KS_TYPE_HMAC_SHA256] = { "hmac-sha256", 32 },
};

int key_type_from_name(const char *name)
{
	size_t i;

	for (i = 1; name && i < ARRAY_SIZE(key_types); i++)
		if (key_types[i].name && !strcmp(key_types[i].name, name))
			return (int)i;
	return -EINVAL;
}

const char *key_type_name(int type)
{
	if (type <= 0 || (size_t)type >= ARRAY_SIZE(key_types) || !key_types[type].name)
		return "unknown";
	return key_types[type].name;
}

unsigned int key_type_len(int type)
{
	if (type <= 0 || (size_t)type >= ARRAY_SIZE(key_types))
		return 0;
	return key_types[type].len;
}

/*
 * Tell the service manager about our state ("READY=1", "RELOADING=1",
 * "STOPPING=1"), as sd_notify(3) does, when it gave us $NOTIFY_SOCKET.
 */
void notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	size_t n;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@'))
		return;
	n = strlen(path);
	if (n >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';	/* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
		log_warn("cannot notify the service manager: %m");
	close(fd);
}
