// SPDX-License-Identifier: GPL-2.0
/* The tamper-evident audit log; the format is described in audit.h. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "audit.h"
#include "proto.h"
#include "util.h"

#define AUDIT_FILE	"audit.log"
#define AUDIT_TORN	"audit.log.torn"	/* the bytes of cut-off partial lines */
#define AUDIT_LINE_MAX	4096

struct audit {
	/* Secrets first: this page is locked and left out of core dumps. */
	uint8_t mac_key[32];
	uint8_t sign_seed[32];
	int dirfd;
	int fd;			/* O_APPEND */
	uint64_t seq;		/* of the last record */
	uint8_t head[AUDIT_HEAD_LEN];
	char pub_hex[65];
	uint64_t since_checkpoint;
	/*
	 * Serialises writers and readers: the event loop records kernel
	 * events while workers record operations.  Recursive: a record
	 * may write a periodic checkpoint.
	 */
	pthread_mutex_t lock;
};

static int audit_checkpoint_unlocked(struct audit *a, const char *why);

static void mac_of(const struct audit *a, const char *body, size_t n, uint8_t *out)
{
	unsigned int len = AUDIT_HEAD_LEN;

	HMAC(EVP_sha256(), a->mac_key, sizeof(a->mac_key), (const uint8_t *)body, n, out, &len);
}

/* Sign (or, with @sig given, check) a checkpoint over its seq and head. */
static int checkpoint_sig(const struct audit *a, uint64_t seq, const char *prev_hex,
			  uint8_t *sig, bool check)
{
	char msg[128];
	size_t siglen = 64;
	EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, a->sign_seed,
						     sizeof(a->sign_seed));
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int n = snprintf(msg, sizeof(msg), "hsmkey audit checkpoint v1 %llu %s",
			 (unsigned long long)seq, prev_hex), ok;

	ok = key && md &&
	     (check ? EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) == 1 &&
		      EVP_DigestVerify(md, sig, 64, (uint8_t *)msg, (size_t)n) == 1
		    : EVP_DigestSignInit(md, NULL, NULL, NULL, key) == 1 &&
		      EVP_DigestSign(md, sig, &siglen, (uint8_t *)msg, (size_t)n) == 1);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	return ok ? 0 : -EBADMSG;
}

/* The MAC at the start of a line: 64 hex digits. */
static int mac_from_line(const char *line, uint8_t *out)
{
	char hex[2 * AUDIT_HEAD_LEN + 1];

	memcpy(hex, line, 2 * AUDIT_HEAD_LEN);
	hex[2 * AUDIT_HEAD_LEN] = '\0';
	return hex_decode(hex, out, AUDIT_HEAD_LEN);
}

/* Read the file to its end: the last sequence number and MAC. */
static int audit_scan(struct audit *a)
{
	char line[AUDIT_LINE_MAX + 2], prev_hex[2 * AUDIT_HEAD_LEN + 1] = { 0 };
	FILE *f;
	int fd = openat(a->dirfd, AUDIT_FILE, O_RDONLY | O_CLOEXEC);

	a->seq = 0;
	memset(a->head, 0, sizeof(a->head));
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f)) {
		struct json_object *o;

		if (strlen(line) < 2 * AUDIT_HEAD_LEN + 2)
			continue;
		o = json_tokener_parse(line + 2 * AUDIT_HEAD_LEN + 1);
		if (o) {
			int64_t seq = 0;

			if (proto_int(o, "seq", &seq) && seq > 0) {
				a->seq = (uint64_t)seq;
				memcpy(prev_hex, line, 2 * AUDIT_HEAD_LEN);
			}
			json_object_put(o);
		}
	}
	fclose(f);
	if (a->seq && hex_decode(prev_hex, a->head, AUDIT_HEAD_LEN))
		return -EINVAL;
	return 0;
}

/*
 * A partial last line (power lost mid-write) is no record and would fail
 * verification for ever: cut it off, keeping its bytes in AUDIT_TORN.
 * Returns the number of bytes cut off, or -errno.
 */
static long audit_repair_tail(struct audit *a)
{
	char buf[4096];
	off_t size, end;
	int fd = openat(a->dirfd, AUDIT_FILE, O_RDWR | O_CLOEXEC | O_NOFOLLOW), keep, r = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	size = lseek(fd, 0, SEEK_END);
	/* Back from the end to the last newline: the torn bytes follow it. */
	for (end = size; end > 0; ) {
		off_t from = end > (off_t)sizeof(buf) ? end - (off_t)sizeof(buf) : 0;
		ssize_t n = pread(fd, buf, (size_t)(end - from), from);
		char *nl = n == end - from ? memrchr(buf, '\n', (size_t)n) : NULL;

		if (n != end - from) {
			r = n < 0 ? -errno : -EIO;
			goto out;
		}
		end = nl ? from + (nl - buf) + 1 : from;
		if (nl)
			break;
	}
	if (end == size)
		goto out;
	keep = openat(a->dirfd, AUDIT_TORN, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		      0600);
	for (off_t at = end; keep >= 0 && !r && at < size; ) {
		size_t want = size - at < (off_t)sizeof(buf) ? (size_t)(size - at) : sizeof(buf);
		ssize_t n = pread(fd, buf, want, at);

		r = n <= 0 ? -EIO : write_full(keep, buf, (size_t)n);
		at += n > 0 ? n : 0;
	}
	if (keep < 0 || r || fsync(keep) < 0)
		log_warn("cannot keep the torn bytes of the audit log in %s", AUDIT_TORN);
	if (keep >= 0)
		close(keep);
	r = ftruncate(fd, end) < 0 || fsync(fd) < 0 ? -errno : 0;
out:
	close(fd);
	return r ? r : (long)(size - end);
}

/* Record the repair: the chain says a partial line was cut off, and why. */
static void audit_note_repair(struct audit *a, long cut)
{
	char detail[160];

	snprintf(detail, sizeof(detail),
		 "a partial last line of %ld bytes (a write cut off, e.g. by power loss) was removed; its bytes are in %s",
		 cut, AUDIT_TORN);
	log_warn("audit log: %s", detail);
	if (audit_record(a, NULL, "audit-repair", NULL, 0, 0, detail))
		log_error("cannot record the repair of the audit log");
}

int audit_open(struct backend *be, int dirfd, struct audit **out)
{
	uint8_t pub[32];
	size_t publen = sizeof(pub);
	EVP_PKEY *key;
	struct audit *a;
	long cut;
	int r;

	a = mmap(NULL, sizeof(*a), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED)
		return -ENOMEM;
	if (mlock(a, sizeof(*a)) < 0)
		log_warn("cannot lock the audit keys in memory: %m");
	madvise(a, sizeof(*a), MADV_DONTDUMP);
	a->dirfd = dirfd;
	a->fd = -1;
	{
		pthread_mutexattr_t attr;

		pthread_mutexattr_init(&attr);
		pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
		pthread_mutex_init(&a->lock, &attr);
		pthread_mutexattr_destroy(&attr);
	}
	if (be->ops->derive(be, "hsmkey audit mac v1", a->mac_key, sizeof(a->mac_key)) ||
	    be->ops->derive(be, "hsmkey audit signing v1", a->sign_seed, sizeof(a->sign_seed))) {
		audit_close(a);
		return -EIO;
	}
	key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, a->sign_seed,
					   sizeof(a->sign_seed));
	if (!key || EVP_PKEY_get_raw_public_key(key, pub, &publen) != 1) {
		EVP_PKEY_free(key);
		audit_close(a);
		return -EIO;
	}
	EVP_PKEY_free(key);
	hex_encode(pub, sizeof(pub), a->pub_hex);
	cut = audit_repair_tail(a);
	r = cut < 0 ? (int)cut : audit_scan(a);
	if (r) {
		audit_close(a);
		return r;
	}
	if (cut)
		audit_note_repair(a, cut);
	*out = a;
	return 0;
}

void audit_close(struct audit *a)
{
	if (!a)
		return;
	if (a->fd >= 0)
		close(a->fd);
	wipe(a, sizeof(*a));
	munmap(a, sizeof(*a));
}

uint64_t audit_head(struct audit *a, uint8_t *head)
{
	uint64_t seq;

	pthread_mutex_lock(&a->lock);
	memcpy(head, a->head, AUDIT_HEAD_LEN);
	seq = a->seq;
	pthread_mutex_unlock(&a->lock);
	return seq;
}

const char *audit_public_key(const struct audit *a)
{
	return a->pub_hex;
}

/* Add seq, time and prev to @o, MAC it, and append the line durably. */
static int audit_append(struct audit *a, struct json_object *o)
{
	char prev_hex[2 * AUDIT_HEAD_LEN + 1], mac_hex[2 * AUDIT_HEAD_LEN + 1];
	uint8_t mac[AUDIT_HEAD_LEN];
	const char *body;
	char *line;
	off_t end;
	int r, n;

	if (a->fd < 0) {
		a->fd = openat(a->dirfd, AUDIT_FILE,
			       O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (a->fd < 0) {
			r = -errno;
			json_object_put(o);
			return r;
		}
	}
	hex_encode(a->head, AUDIT_HEAD_LEN, prev_hex);
	json_object_object_add(o, "seq", json_object_new_int64((int64_t)(a->seq + 1)));
	json_object_object_add(o, "time", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(o, "prev", json_object_new_string(prev_hex));
	body = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (strlen(body) > AUDIT_LINE_MAX - 2 * AUDIT_HEAD_LEN - 2) {
		json_object_put(o);
		return -E2BIG;
	}
	mac_of(a, body, strlen(body), mac);
	hex_encode(mac, sizeof(mac), mac_hex);
	n = asprintf(&line, "%s %s\n", mac_hex, body);
	json_object_put(o);
	if (n < 0)
		return -ENOMEM;
	end = lseek(a->fd, 0, SEEK_END);
	r = end < 0 ? -errno : write_full(a->fd, line, (size_t)n);
	free(line);
	if (!r && fdatasync(a->fd) < 0)
		r = -errno;
	if (r) {
		/* Take back a partial line: the chain stays where it was. */
		if (end >= 0 && ftruncate(a->fd, end) < 0)
			log_error("cannot take a partial record back out of the audit log: %m");
		close(a->fd);
		a->fd = -1;
		return r;
	}
	a->seq++;
	memcpy(a->head, mac, sizeof(mac));
	a->since_checkpoint++;
	return 0;
}

static void comm_of(pid_t pid, char *out, size_t len)
{
	char path[64];
	int fd, n;

	snprintf(out, len, "?");
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = (int)read(fd, out, len - 1);
	close(fd);
	if (n > 0) {
		out[n] = '\0';
		out[strcspn(out, "\n")] = '\0';
	}
}

static int audit_record_unlocked(struct audit *a, const struct audit_who *who, const char *op,
		 const char *key, uint32_t version, int result, const char *detail)
{
	struct json_object *o = json_object_new_object();
	char comm[32];
	int r;

	if (who) {
		if (!who->comm)
			comm_of(who->pid, comm, sizeof(comm));
		json_object_object_add(o, "uid", json_object_new_int64(who->uid));
		json_object_object_add(o, "pid", json_object_new_int64(who->pid));
		json_object_object_add(o, "comm", json_object_new_string(who->comm ?: comm));
	}
	json_object_object_add(o, "op", json_object_new_string(op));
	if (key)
		json_object_object_add(o, "key", json_object_new_string(key));
	if (version)
		json_object_object_add(o, "version", json_object_new_int64(version));
	json_object_object_add(o, "result", json_object_new_string(result ? "error" : "ok"));
	if (result)
		json_object_object_add(o, "errno", json_object_new_int(-result));
	if (detail)
		json_object_object_add(o, "detail", json_object_new_string(detail));
	r = audit_append(a, o);
	if (!r && a->since_checkpoint >= AUDIT_CHECKPOINT_EVERY)
		r = audit_checkpoint_unlocked(a, "periodic");
	return r;
}

static int audit_kernel_event_unlocked(struct audit *a, uint32_t type, uint64_t kseq, const uint8_t *key_id,
		       uint32_t version, uint32_t uid, uint32_t pid, const char *comm,
		       uint32_t err)
{
	static const char *const names[] = {
		"", "bind", "deny", "revoke", "remove", "expire", "limit", "add",
		"disable", "enable", "policy",
	};
	struct json_object *o = json_object_new_object();
	char id[2 * 16 + 1];
	int r;

	hex_encode(key_id, 16, id);
	json_object_object_add(o, "op", json_object_new_string("kernel-event"));
	json_object_object_add(o, "event", json_object_new_string(
		type < ARRAY_SIZE(names) && type ? names[type] : "unknown"));
	json_object_object_add(o, "kseq", json_object_new_int64((int64_t)kseq));
	json_object_object_add(o, "key_id", json_object_new_string(id));
	json_object_object_add(o, "version", json_object_new_int64(version));
	json_object_object_add(o, "uid", json_object_new_int64(uid));
	json_object_object_add(o, "pid", json_object_new_int64(pid));
	json_object_object_add(o, "comm", json_object_new_string(comm ?: ""));
	if (err)
		json_object_object_add(o, "errno", json_object_new_int64(err));
	r = audit_append(a, o);
	if (!r && a->since_checkpoint >= AUDIT_CHECKPOINT_EVERY)
		r = audit_checkpoint_unlocked(a, "periodic");
	return r;
}

static int audit_checkpoint_unlocked(struct audit *a, const char *why)
{
	struct json_object *o = json_object_new_object();
	char prev_hex[2 * AUDIT_HEAD_LEN + 1], sig_hex[129];
	uint8_t sig[64];
	int r;

	hex_encode(a->head, AUDIT_HEAD_LEN, prev_hex);
	r = checkpoint_sig(a, a->seq + 1, prev_hex, sig, false);
	if (r) {
		json_object_put(o);
		return r;
	}
	hex_encode(sig, sizeof(sig), sig_hex);
	json_object_object_add(o, "op", json_object_new_string("checkpoint"));
	json_object_object_add(o, "why", json_object_new_string(why));
	json_object_object_add(o, "public_key", json_object_new_string(a->pub_hex));
	json_object_object_add(o, "signature", json_object_new_string(sig_hex));
	r = audit_append(a, o);
	if (!r) {
		a->since_checkpoint = 0;
		log_info("audit checkpoint (%s): seq %llu head %s", why,
			 (unsigned long long)a->seq, prev_hex);
	}
	return r;
}

static int audit_verify_unlocked(struct audit *a, uint64_t anchor_seq, const uint8_t *anchor_head,
		 char *msg, size_t len, uint64_t *records, uint64_t *checkpoints)
{
	char line[AUDIT_LINE_MAX + 2], prev_hex[2 * AUDIT_HEAD_LEN + 1];
	uint8_t prev[AUDIT_HEAD_LEN] = { 0 }, mac[AUDIT_HEAD_LEN], want[AUDIT_HEAD_LEN];
	uint64_t expect = 1, lineno = 0;
	bool anchor_seen = false;
	int fd = openat(a->dirfd, AUDIT_FILE, O_RDONLY | O_CLOEXEC);
	int r = 0;
	FILE *f;

	*records = *checkpoints = 0;
	if (fd < 0 && errno != ENOENT) {
		snprintf(msg, len, "cannot open the audit log: %s", strerror(errno));
		return -errno;
	}
	f = fd >= 0 ? fdopen(fd, "r") : NULL;
	while (f && fgets(line, sizeof(line), f)) {
		struct json_object *o = NULL;
		const char *body = line + 2 * AUDIT_HEAD_LEN + 1, *op;
		size_t n = strlen(line);
		int64_t seq = -1;

		lineno++;
		if (n < 2 * AUDIT_HEAD_LEN + 3 || line[n - 1] != '\n' ||
		    line[2 * AUDIT_HEAD_LEN] != ' ' || mac_from_line(line, want)) {
			snprintf(msg, len, "line %llu: not a record (truncated or damaged line)",
				 (unsigned long long)lineno);
			r = -EBADMSG;
			break;
		}
		line[n - 1] = '\0';
		mac_of(a, body, strlen(body), mac);
		o = json_tokener_parse(body);
		proto_int(o, "seq", &seq);
		if (CRYPTO_memcmp(mac, want, sizeof(mac))) {
			snprintf(msg, len, "line %llu (record %lld): its MAC does not match: the record was changed or forged",
				 (unsigned long long)lineno, (long long)seq);
			r = -EBADMSG;
		} else if (seq != (int64_t)expect) {
			snprintf(msg, len, "line %llu: record %lld where %llu was expected: records were deleted, inserted or reordered",
				 (unsigned long long)lineno, (long long)seq,
				 (unsigned long long)expect);
			r = -EBADMSG;
		} else {
			hex_encode(prev, sizeof(prev), prev_hex);
			if (strcmp(json_object_get_string(json_object_object_get(o, "prev")) ?: "",
				   prev_hex)) {
				snprintf(msg, len, "line %llu (record %lld): it does not follow the record before it: records were reordered or deleted",
					 (unsigned long long)lineno, (long long)seq);
				r = -EBADMSG;
			}
		}
		op = r ? NULL : json_object_get_string(json_object_object_get(o, "op"));
		if (op && !strcmp(op, "checkpoint")) {
			uint8_t sig[64];
			const char *s = json_object_get_string(json_object_object_get(o, "signature"));

			if (!s || hex_decode(s, sig, sizeof(sig)) ||
			    checkpoint_sig(a, (uint64_t)seq, prev_hex, sig, true)) {
				snprintf(msg, len, "line %llu (record %lld): bad checkpoint signature",
					 (unsigned long long)lineno, (long long)seq);
				r = -EBADMSG;
			} else {
				(*checkpoints)++;
			}
		}
		json_object_put(o);
		if (r)
			break;
		if (anchor_seq && (uint64_t)seq == anchor_seq) {
			anchor_seen = true;
			if (CRYPTO_memcmp(mac, anchor_head, AUDIT_HEAD_LEN)) {
				snprintf(msg, len, "record %lld differs from the anchor kept outside the log: the log was rewritten",
					 (long long)seq);
				r = -EBADMSG;
				break;
			}
		}
		memcpy(prev, mac, sizeof(mac));
		expect++;
		(*records)++;
	}
	if (f)
		fclose(f);
	if (!r && anchor_seq && !anchor_seen) {
		snprintf(msg, len, "the log ends at record %llu but its anchor (kept in the kernel and the keystore) is record %llu: records were removed from the end",
			 (unsigned long long)(expect - 1), (unsigned long long)anchor_seq);
		r = -EBADMSG;
	}
	if (!r)
		snprintf(msg, len, "%llu records, %llu signed checkpoints, chain intact%s",
			 (unsigned long long)*records, (unsigned long long)*checkpoints,
			 anchor_seq ? ", matches its anchor" : " (no anchor to compare)");
	return r;
}

int audit_record(struct audit *a, const struct audit_who *who, const char *op,
		 const char *key, uint32_t version, int result, const char *detail)
{
	int r;

	pthread_mutex_lock(&a->lock);
	r = audit_record_unlocked(a, who, op, key, version, result, detail);
	pthread_mutex_unlock(&a->lock);
	return r;
}

int audit_kernel_event(struct audit *a, uint32_t type, uint64_t kseq, const uint8_t *key_id,
		       uint32_t version, uint32_t uid, uint32_t pid, const char *comm,
		       uint32_t err)
{
	int r;

	pthread_mutex_lock(&a->lock);
	r = audit_kernel_event_unlocked(a, type, kseq, key_id, version, uid, pid, comm, err);
	pthread_mutex_unlock(&a->lock);
	return r;
}

int audit_checkpoint(struct audit *a, const char *why)
{
	int r;

	pthread_mutex_lock(&a->lock);
	r = audit_checkpoint_unlocked(a, why);
	pthread_mutex_unlock(&a->lock);
	return r;
}

int audit_verify(struct audit *a, uint64_t anchor_seq, const uint8_t *anchor_head,
		 char *msg, size_t len, uint64_t *records, uint64_t *checkpoints)
{
	int r;

	pthread_mutex_lock(&a->lock);
	r = audit_verify_unlocked(a, anchor_seq, anchor_head, msg, len, records, checkpoints);
	pthread_mutex_unlock(&a->lock);
	return r;
}
