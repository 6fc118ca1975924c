/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside the audit log: the state the writer (audit.c) and the verifier
 * (audit_verify.c) share, and the file names and MAC/signature helpers
 * both use.  Nothing outside the audit code includes it.
 */
#ifndef HSMKEY_AUDIT_INTERNAL_H
#define HSMKEY_AUDIT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include "audit.h"

#define AUDIT_FILE	"audit.log"
#define AUDIT_ROTATED	"audit.log.%020llu"	/* named by its first record */
#define AUDIT_TORN	"audit.log.torn"	/* the bytes of cut-off partial lines */
#define AUDIT_LINE_MAX	4096
#define AUDIT_HELD_MAX	256	/* records kept in memory while the disk is full */
#define AUDIT_FILES_MAX	100000

struct audit {
	/* Secrets first: this page is locked and left out of core dumps. */
	uint8_t mac_key[32];
	uint8_t sign_seed[32];	/* zero, never derived, when ->signer signs */
	EVP_MD *sha256;		/* fetched once (audit_mac()); not secret */
	/*
	 * The backend that signs checkpoints with a key it keeps (an HSM's
	 * hsmkey:audit, ->sign_audit); NULL: the seed above signs.
	 */
	struct backend *signer;
	/* The checkpoints' public key, pinned at open: from the signer or the seed. */
	uint8_t pub[32];
	int dirfd;
	int fd;			/* O_APPEND */
	/*
	 * AUDIT_FILE opened again with @fd, for audit_sync()'s flushes: a
	 * write-back error is reported once to each open file, so the
	 * flushes there and audit_write()'s own on @fd each learn of it.
	 */
	int sfd;
	uint64_t seq;		/* of the last record */
	uint8_t head[AUDIT_HEAD_LEN];
	char pub_hex[65];
	uint64_t since_checkpoint;
	uint64_t rotate_size;	/* 0: never */
	off_t rotate_retry;	/* after a failed rename: try again past this size */
	off_t file_size;	/* of AUDIT_FILE */
	uint64_t file_first;	/* the first record in AUDIT_FILE, 0: none yet */
	bool in_rotation;
	bool periodic_failing;	/* the last periodic checkpoint could not be written */
	/*
	 * Records that found no space, oldest first, written before any
	 * other as soon as there is room (a thread retries every second).
	 */
	struct json_object *held[AUDIT_HELD_MAX];
	size_t nheld;
	uint64_t lost;		/* records that found neither space nor room here */
	/* nheld || lost, for audit_held() without the lock: set with it held. */
	bool holding;
	pthread_t flusher;
	bool flusher_started, flusher_running, closing;
	bool unsynced;		/* records written without fdatasync() since the last */
	/* While unsynced: the last record on disk, which the anchors may name. */
	uint64_t durable_seq;
	uint8_t durable_head[AUDIT_HEAD_LEN];
	/*
	 * audit_sync()'s fdatasync() runs without @lock, one at a time
	 * (@sync_lock): the threads that wrote meanwhile find their records
	 * on disk with it, or sync all of theirs in the next one.  While it
	 * runs, @sfd is @sync_fd's to close (audit_file_close()).
	 */
	pthread_mutex_t sync_lock;
	bool syncing, sync_fd_stale;
	int sync_fd;
	/*
	 * A flush that failed: the kernel reports a write-back error once,
	 * so a later fdatasync() succeeding says nothing of the records it
	 * lost.  From then on no record is written, held nor synced (-EIO)
	 * until the daemon restarts and checks the log's tail.
	 */
	int sync_err;
	pthread_cond_t wake;
	/*
	 * Serialises writers and readers: the event loop records kernel
	 * events while workers record operations.  Recursive: a record
	 * may write a periodic checkpoint.
	 */
	pthread_mutex_t lock;
};

/* audit_keys.c: SHA-256 for the records' MACs, fetched once: 0 or -EIO. */
int audit_mac_init(struct audit *a);
/* The MAC of a record's body @body: 0, or -ENOMEM. */
int audit_mac(const struct audit *a, const char *body, size_t n, uint8_t *out);
/*
 * Sign (or, with @check, check @sig) a checkpoint over its seq and head;
 * checked against the pinned public key only, never one a record names.
 */
int audit_checkpoint_sig(const struct audit *a, uint64_t seq, const char *prev_hex,
			 uint8_t *sig, bool check);
/* 0 if @sig (64 bytes) is Ed25519 by @pub (32) over @msg, else -EBADMSG. */
int audit_sig_check(const uint8_t *pub, const char *msg, size_t n, const uint8_t *sig);
/* The MAC at the start of a line: 64 hex digits. */
int audit_mac_from_line(const char *line, uint8_t *out);
/*
 * audit_file.c, each with @a->lock held.  AUDIT_FILE opened (made if
 * @create) unless it is: 0 or -errno.
 */
int audit_open_file(struct audit *a, bool create);
/* Let go of AUDIT_FILE (the descriptor a flush is using: when it returns). */
void audit_file_close(struct audit *a);
/* A flush failed (@r, logged): sync_err set for good; returns -EIO. */
int audit_sync_failed(struct audit *a, int r);
/* The rotated files present, by first record, ascending; *@out malloc'd. */
int audit_rotated_files(struct audit *a, uint64_t **out, size_t *n);

#endif
