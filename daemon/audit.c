// SPDX-License-Identifier: GPL-2.0
/*
 * The tamper-evident audit log; the format is described in audit.h.  This
 * file writes it: repairing a torn end, rotating it, holding records in
 * memory while the disk is full.  audit_keys.c MACs and signs its records,
 * audit_file.c keeps its file and makes it durable, audit_verify.c checks
 * it.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <linux/hsmkey.h>
#include "audit_internal.h"
#include "proto.h"
#include "util.h"

static bool space_error(int r)
{
	return r == -ENOSPC || r == -EDQUOT || r == -EFBIG;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

int audit_rotated_files(struct audit *a, uint64_t **out, size_t *n)
{
	int fd = dup(a->dirfd);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	uint64_t *v = NULL;
	struct dirent *e;
	size_t cap = 0;

	*n = 0;
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	rewinddir(dir);
	while ((e = readdir(dir))) {
		unsigned long long first;
		char check[64];

		if (sscanf(e->d_name, "audit.log.%20llu", &first) != 1 || !first)
			continue;
		snprintf(check, sizeof(check), AUDIT_ROTATED, first);
		if (strcmp(check, e->d_name))
			continue;	/* not one of ours (audit.log.torn, a copy) */
		if (*n == cap) {
			uint64_t *nv = cap < AUDIT_FILES_MAX ?
				       realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v)) : NULL;

			if (!nv) {
				free(v);
				closedir(dir);
				return -ENOMEM;
			}
			v = nv;
		}
		v[(*n)++] = first;
	}
	closedir(dir);
	qsort(v, *n, sizeof(*v), cmp_u64);
	*out = v;
	return 0;
}

/* Read @name to its end: its first and last sequence numbers, the last MAC. */
static int scan_file(struct audit *a, const char *name, uint64_t *first, uint64_t *last,
		     uint8_t *head)
{
	char line[AUDIT_LINE_MAX + 2], last_hex[2 * AUDIT_HEAD_LEN + 1] = { 0 };
	int fd = openat(a->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	FILE *f;

	*first = *last = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f)) {
		struct json_object *o;
		int64_t seq = 0;

		if (strlen(line) < 2 * AUDIT_HEAD_LEN + 2)
			continue;
		o = json_tokener_parse(line + 2 * AUDIT_HEAD_LEN + 1);
		if (o && proto_int(o, "seq", &seq) && seq > 0) {
			*last = (uint64_t)seq;
			if (!*first)
				*first = *last;
			memcpy(last_hex, line, 2 * AUDIT_HEAD_LEN);
		}
		json_object_put(o);
	}
	fclose(f);
	return *last && hex_decode(last_hex, head, AUDIT_HEAD_LEN) ? -EINVAL : 0;
}

/*
 * Where the chain ends: in AUDIT_FILE, or if it holds no record yet (just
 * rotated), in the newest rotated file.
 */
static int audit_scan(struct audit *a)
{
	uint64_t first, *files = NULL;
	struct stat st;
	size_t n;
	int r;

	a->seq = 0;
	memset(a->head, 0, sizeof(a->head));
	a->file_size = fstatat(a->dirfd, AUDIT_FILE, &st, AT_SYMLINK_NOFOLLOW) ? 0 : st.st_size;
	r = scan_file(a, AUDIT_FILE, &a->file_first, &a->seq, a->head);
	if (r || a->seq)
		return r;
	r = audit_rotated_files(a, &files, &n);
	if (!r && n) {
		char name[64];

		snprintf(name, sizeof(name), AUDIT_ROTATED, (unsigned long long)files[n - 1]);
		r = scan_file(a, name, &first, &a->seq, a->head);
	}
	free(files);
	return r;
}

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

static void *audit_flusher(void *arg);

/* The backend's own key: one signature over a probe must verify with it. */
static int pin_backend_key(struct audit *a, struct backend *be)
{
	static const char probe[] = "hsmkey audit key probe v1";
	uint8_t sig[64];
	int r = be->ops->sign_audit(be, probe, strlen(probe), sig, a->pub);

	if (!r && audit_sig_check(a->pub, probe, strlen(probe), sig)) {
		log_error("the key storage's audit signature does not verify with the public key it gives");
		r = -EKEYREJECTED;
	}
	if (!r)
		a->signer = be;
	return r;
}

/* A key derived from the backend, which the daemon then holds. */
static int pin_derived_key(struct audit *a, struct backend *be)
{
	size_t publen = sizeof(a->pub);
	EVP_PKEY *key;
	int r;

	if (be->ops->derive(be, "hsmkey audit signing v1", a->sign_seed, sizeof(a->sign_seed)))
		return -EIO;
	key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, a->sign_seed,
					   sizeof(a->sign_seed));
	r = key && EVP_PKEY_get_raw_public_key(key, a->pub, &publen) == 1 ? 0 : -EIO;
	EVP_PKEY_free(key);
	return r;
}

/*
 * The checkpoints' public key, pinned: the backend's own where it has one,
 * else derived.  A backend that lacks Ed25519 (an HSM without CKM_EDDSA,
 * optional there) still keeps a signed log, with the key in the daemon.
 */
static int audit_pin(struct audit *a, struct backend *be)
{
	int r = be->ops->sign_audit ? pin_backend_key(a, be) : -EOPNOTSUPP;

	if (r == -EOPNOTSUPP) {
		if (be->ops->sign_audit)
			log_warn("the key storage does not sign audit checkpoints itself (it cannot make Ed25519 signatures, or its tokens cannot share one key): the checkpoint key is derived from it and held in the daemon's memory");
		r = pin_derived_key(a, be);
	}
	if (!r)
		hex_encode(a->pub, sizeof(a->pub), a->pub_hex);
	return r;
}

/* The page of secrets, its lock, the keys from the backend. */
static int audit_alloc(struct backend *be, int dirfd, struct audit **out)
{
	pthread_mutexattr_t attr;
	struct audit *a;

	a = secret_pages(sizeof(*a), "the audit keys");
	if (!a)
		return -ENOMEM;
	a->dirfd = dirfd;
	a->fd = a->sfd = -1;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&a->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	pthread_cond_init(&a->wake, NULL);
	pthread_mutex_init(&a->sync_lock, NULL);
	*out = a;
	if (be->ops->derive(be, "hsmkey audit mac v1", a->mac_key, sizeof(a->mac_key)) ||
	    audit_mac_init(a))
		return -EIO;
	return audit_pin(a, be);
}

int audit_open(struct backend *be, int dirfd, struct audit **out)
{
	struct audit *a = NULL;
	long cut = 0;
	int r;

	r = audit_alloc(be, dirfd, &a);
	if (!r) {
		cut = audit_repair_tail(a);
		r = cut < 0 ? (int)cut : audit_scan(a);
	}
	if (r) {
		if (a)
			audit_close(a);
		return r;
	}
	if (cut)
		audit_note_repair(a, cut);
	*out = a;
	return 0;
}

void audit_rotate_at(struct audit *a, uint64_t bytes)
{
	pthread_mutex_lock(&a->lock);
	a->rotate_size = bytes;
	pthread_mutex_unlock(&a->lock);
}

static void audit_flush_held(struct audit *a);

void audit_close(struct audit *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->closing = true;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->lock);
	if (a->flusher_started)
		pthread_join(a->flusher, NULL);
	audit_flush_held(a);
	if (a->nheld || a->lost)
		log_error("%zu audit records are lost: the log had no space for them until the end",
			  a->nheld + (size_t)a->lost);
	for (size_t i = 0; i < a->nheld; i++)
		json_object_put(a->held[i]);
	if (a->fd >= 0)
		close(a->fd);
	if (a->sfd >= 0)
		close(a->sfd);
	pthread_cond_destroy(&a->wake);
	pthread_mutex_destroy(&a->sync_lock);
	EVP_MD_free(a->sha256);
	wipe(a, sizeof(*a));
	secret_pages_free(a, sizeof(*a));
}

uint64_t audit_head(struct audit *a, uint8_t *head)
{
	uint64_t seq;

	/* Only what is on disk: a crash must not leave an anchor past the log's end. */
	pthread_mutex_lock(&a->lock);
	memcpy(head, a->unsynced ? a->durable_head : a->head, AUDIT_HEAD_LEN);
	seq = a->unsynced ? a->durable_seq : a->seq;
	pthread_mutex_unlock(&a->lock);
	return seq;
}

bool audit_held(struct audit *a)
{
	return __atomic_load_n(&a->holding, __ATOMIC_RELAXED);
}

const char *audit_public_key(const struct audit *a)
{
	return a->pub_hex;
}

static struct json_object *checkpoint_new(const struct audit *a, const char *why)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "op", json_object_new_string("checkpoint"));
	json_object_object_add(o, "why", json_object_new_string(why));
	json_object_object_add(o, "public_key", json_object_new_string(a->pub_hex));
	return o;
}

static int audit_write(struct audit *a, struct json_object *o);

/*
 * Close AUDIT_FILE with a signed checkpoint and give it the name of its
 * first record; the next record starts a new file (audit_write() opens it
 * with a checkpoint chained to this one's last record).
 */
static void audit_rotate(struct audit *a)
{
	struct json_object *o = checkpoint_new(a, "rotate");
	char name[64];
	int r;

	a->in_rotation = true;
	r = audit_write(a, o);
	json_object_put(o);
	a->in_rotation = false;
	if (r)
		return;		/* still too big: the next record tries again */
	snprintf(name, sizeof(name), AUDIT_ROTATED, (unsigned long long)a->file_first);
	if (renameat(a->dirfd, AUDIT_FILE, a->dirfd, name) < 0 || fsync(a->dirfd) < 0) {
		log_warn("cannot rotate the audit log to %s: %m", name);
		/* Not a signed checkpoint before every record from now on. */
		a->rotate_retry = a->file_size + (off_t)(a->rotate_size / 16) + 65536;
		return;
	}
	log_info("audit log rotated: records %llu to %llu are in %s",
		 (unsigned long long)a->file_first, (unsigned long long)a->seq, name);
	audit_file_close(a);
	a->file_size = 0;
	a->file_first = 0;
	a->rotate_retry = 0;
}

/*
 * Write @o now as the next record: seq, prev (and for a checkpoint its
 * signature) added, MACed, appended durably (unless
 * deferred, audit_defer_sync()).  @o stays the caller's.
 */
static int audit_write(struct audit *a, struct json_object *o)
{
	char prev_hex[2 * AUDIT_HEAD_LEN + 1], mac_hex[2 * AUDIT_HEAD_LEN + 1];
	const char *op = json_object_get_string(json_object_object_get(o, "op"));
	bool checkpoint = op && !strcmp(op, "checkpoint");
	uint8_t mac[AUDIT_HEAD_LEN];
	const char *body;
	char *line;
	off_t end;
	int r, n;

	if (a->sync_err)
		return a->sync_err;	/* the log's disk lost records: none after them */
	if (!a->in_rotation && a->rotate_size && a->file_first &&
	    (uint64_t)a->file_size >= a->rotate_size && a->file_size >= a->rotate_retry)
		audit_rotate(a);
	if (!a->in_rotation && a->seq && !a->file_first) {
		/* A new file opens with a signed link to the last one's end. */
		struct json_object *c = checkpoint_new(a, "continued");

		a->in_rotation = true;
		r = audit_write(a, c);
		a->in_rotation = false;
		json_object_put(c);
		if (r)
			return r;
	}
	r = audit_open_file(a, true);
	if (r)
		return r;
	hex_encode(a->head, AUDIT_HEAD_LEN, prev_hex);
	json_object_object_add(o, "seq", json_object_new_int64((int64_t)(a->seq + 1)));
	json_object_object_add(o, "prev", json_object_new_string(prev_hex));
	if (checkpoint) {
		char sig_hex[129];
		uint8_t sig[64];

		r = audit_checkpoint_sig(a, a->seq + 1, prev_hex, sig, false);
		if (r)
			return r;
		hex_encode(sig, sizeof(sig), sig_hex);
		json_object_object_add(o, "signature", json_object_new_string(sig_hex));
	}
	body = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (strlen(body) > AUDIT_LINE_MAX - 2 * AUDIT_HEAD_LEN - 2)
		return -E2BIG;
	r = audit_mac(a, body, strlen(body), mac);
	if (r)
		return r;
	hex_encode(mac, sizeof(mac), mac_hex);
	n = asprintf(&line, "%s %s\n", mac_hex, body);
	if (n < 0)
		return -ENOMEM;
	end = a->file_size;
	r = write_full(a->fd, line, (size_t)n);
	free(line);
	if (!r && audit_deferring() && !checkpoint && !a->in_rotation) {
		if (!a->unsynced) {	/* what the anchors name until audit_sync() */
			a->durable_seq = a->seq;
			memcpy(a->durable_head, a->head, AUDIT_HEAD_LEN);
		}
		a->unsynced = true;
	}
	else if (!r && fdatasync(a->fd) < 0)
		r = audit_sync_failed(a, -errno);
	else if (!r)
		a->unsynced = false;	/* the earlier records are on disk with this one */
	if (r) {
		/*
		 * Take back a partial line: the chain stays where it was.  Only
		 * ever shorter: a file cut behind the daemon's back is not
		 * grown with zeros (the chain's check finds the cut).
		 */
		struct stat st;

		if (!fstat(a->fd, &st) && st.st_size > end && ftruncate(a->fd, end) < 0)
			log_error("cannot take a partial record back out of the audit log: %m");
		audit_file_close(a);
		return r;
	}
	a->seq++;
	memcpy(a->head, mac, sizeof(mac));
	a->file_size = end + n;
	if (!a->file_first)
		a->file_first = a->seq;
	if (checkpoint) {
		a->since_checkpoint = 0;
		/* As the anchor pairs them: the MAC of record seq itself. */
		log_info("audit checkpoint (%s): seq %llu head %s",
			 json_object_get_string(json_object_object_get(o, "why")),
			 (unsigned long long)a->seq, mac_hex);
	} else {
		a->since_checkpoint++;
	}
	return 0;
}

/* Write the held records, oldest first, while there is space. */
static void audit_flush_held(struct audit *a)
{
	size_t done = 0;

	while (done < a->nheld && !audit_write(a, a->held[done]))
		json_object_put(a->held[done++]);
	memmove(a->held, a->held + done, (a->nheld - done) * sizeof(a->held[0]));
	a->nheld -= done;
	if (!a->nheld && a->lost) {
		struct json_object *o = json_object_new_object();
		char detail[128];

		snprintf(detail, sizeof(detail),
			 "%llu records were lost: the log had no space and the daemon no room to hold them",
			 (unsigned long long)a->lost);
		json_object_object_add(o, "op", json_object_new_string("audit-lost"));
		json_object_object_add(o, "result", json_object_new_string("error"));
		json_object_object_add(o, "time", json_object_new_int64((int64_t)time(NULL)));
		json_object_object_add(o, "detail", json_object_new_string(detail));
		if (!audit_write(a, o))
			a->lost = 0;
		json_object_put(o);
	}
	__atomic_store_n(&a->holding, a->nheld || a->lost, __ATOMIC_RELAXED);
	if (done && !a->nheld && !a->lost)
		log_warn("the audit log has space again: the %zu records held meanwhile are written",
			 done);
}

static void *audit_flusher(void *arg)
{
	struct audit *a = arg;

	pthread_mutex_lock(&a->lock);
	while ((a->nheld || a->lost) && !a->closing && !a->sync_err) {
		struct timespec t;

		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_sec++;
		pthread_cond_timedwait(&a->wake, &a->lock, &t);
		if (!a->closing)
			audit_flush_held(a);
	}
	a->flusher_running = false;
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

/*
 * No space for @o: keep it, to be written first when there is.  Kernel
 * events may fill only half the room, so that a flood of them leaves
 * some for the daemon's own records (a revoke).
 */
static int audit_hold(struct audit *a, struct json_object *o, bool event)
{
	sigset_t all, old;

	__atomic_store_n(&a->holding, true, __ATOMIC_RELAXED);
	if (a->nheld >= (event ? AUDIT_HELD_MAX / 2 : AUDIT_HELD_MAX)) {
		a->lost++;
		json_object_put(o);
		return -ENOSPC;
	}
	if (!a->nheld && !a->lost)
		log_warn("the audit log has no space: holding records in memory until it has");
	a->held[a->nheld++] = o;
	if (a->flusher_running)
		return 0;
	if (a->flusher_started)
		pthread_join(a->flusher, NULL);
	/* Signals are the event loop's (signalfd), even before it blocks them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	a->flusher_started = a->flusher_running =
		!pthread_create(&a->flusher, NULL, audit_flusher, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}

static int audit_append(struct audit *a, struct json_object *o, bool event);

/*
 * The periodic checkpoint, after a record that is written.  One that
 * cannot be (a key storage that cannot sign now: an HSM that is down) does
 * not undo that record: it is logged once and tried again after the next.
 */
static void audit_periodic(struct audit *a)
{
	int r = audit_append(a, checkpoint_new(a, "periodic"), false);

	if (r && !a->periodic_failing)
		log_error("cannot write the audit log's periodic checkpoint: %s; trying again with each record",
			  strerror(-r));
	else if (!r && a->periodic_failing)
		log_info("the audit log's periodic checkpoint is written again");
	a->periodic_failing = r != 0;
}

/*
 * Time-stamp @o (taking it) and append it, after any records held before
 * it; held itself when the disk is full.  0 when written or held.
 */
static int audit_append(struct audit *a, struct json_object *o, bool event)
{
	int r;

	json_object_object_add(o, "time", json_object_new_int64((int64_t)time(NULL)));
	if (a->sync_err) {
		json_object_put(o);
		return a->sync_err;	/* nothing held: nothing will be written */
	}
	if (a->nheld || a->lost)
		audit_flush_held(a);
	if (a->nheld || a->lost)
		return audit_hold(a, o, event);
	r = audit_write(a, o);
	if (space_error(r))
		return audit_hold(a, o, event);
	json_object_put(o);
	/*
	 * A checkpoint signed in the token is a call that may wait for it:
	 * not from the event loop (events), which must not wait on the key
	 * storage; the next request's record brings it.
	 */
	if (!r && a->since_checkpoint >= AUDIT_CHECKPOINT_EVERY && !(event && a->signer))
		audit_periodic(a);
	return r;
}

void audit_comm_of(pid_t pid, char *out, size_t len)
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

int audit_record(struct audit *a, const struct audit_who *who, const char *op,
		 const char *key, uint32_t version, int result, const char *detail)
{
	struct json_object *o = json_object_new_object();
	char comm[AUDIT_COMM_MAX], cut[HSMKEY_NAME_MAX + 3];
	int r;

	if (key && strlen(key) >= HSMKEY_NAME_MAX) {
		int n = HSMKEY_NAME_MAX - 1;

		while (n > 0 && ((unsigned char)key[n] & 0xc0) == 0x80)
			n--;	/* not within a UTF-8 character */
		snprintf(cut, sizeof(cut), "%.*s...", n, key);
		key = cut;
	}
	if (who) {
		if (!who->comm)
			audit_comm_of(who->pid, comm, sizeof(comm));
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
	pthread_mutex_lock(&a->lock);
	r = audit_append(a, o, false);
	pthread_mutex_unlock(&a->lock);
	return r;
}

int audit_kernel_event(struct audit *a, uint32_t type, uint64_t kseq, const uint8_t *key_id,
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
	pthread_mutex_lock(&a->lock);
	r = audit_append(a, o, true);
	pthread_mutex_unlock(&a->lock);
	return r;
}

int audit_checkpoint(struct audit *a, const char *why)
{
	int r;

	pthread_mutex_lock(&a->lock);
	r = audit_append(a, checkpoint_new(a, why), false);
	pthread_mutex_unlock(&a->lock);
	return r;
}
