// SPDX-License-Identifier: GPL-2.0
/*
 * The audit log's file and its durability: opening it (twice: for writing
 * and for audit_sync()'s flushes), letting go of it, and group commit,
 * where one fdatasync() outside the log's lock makes the records of
 * several threads durable.  A flush that fails is final (sync_err).
 */
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "audit_internal.h"
#include "util.h"

/*
 * With @a->lock held: let go of AUDIT_FILE's descriptors; closed at once,
 * but for the one audit_sync() is flushing, closed when that returns.
 */
void audit_file_close(struct audit *a)
{
	if (a->fd >= 0)
		close(a->fd);
	if (a->sfd >= 0 && a->syncing && a->sfd == a->sync_fd)
		a->sync_fd_stale = true;
	else if (a->sfd >= 0)
		close(a->sfd);
	a->fd = a->sfd = -1;
}

/* The calling thread's records wait for audit_sync() (audit.h). */
static __thread bool deferring;

void audit_defer_sync(bool on)
{
	deferring = on;
}

bool audit_deferring(void)
{
	return deferring;
}

/*
 * AUDIT_FILE open for appending (made if @create), and again for
 * audit_sync() (@a->sfd), and its size, read at each opening: the daemon
 * is its only writer, so the size is kept from there on (a record's
 * write adds its length).
 */
int audit_open_file(struct audit *a, bool create)
{
	struct stat st, sst;
	int r;

	if (a->fd >= 0)
		return 0;
	a->fd = openat(a->dirfd, AUDIT_FILE,
		       O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600);
	if (a->fd < 0)
		return -errno;
	a->sfd = openat(a->dirfd, AUDIT_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (a->sfd < 0 || fstat(a->fd, &st) < 0 || fstat(a->sfd, &sst) < 0)
		r = -errno;
	else if (st.st_ino != sst.st_ino || st.st_dev != sst.st_dev)
		r = -ESTALE;	/* replaced between the two opens */
	else
		r = 0;
	if (r) {
		audit_file_close(a);
		return r;
	}
	a->file_size = st.st_size;
	return 0;
}

/* With @a->lock held: are the records up to @seq on disk? */
static bool audit_durable(const struct audit *a, uint64_t seq)
{
	return !a->unsynced || a->durable_seq >= seq;
}

/*
 * With @a->lock held: a flush failed (@r), for good: -EIO from here on
 * (never a lack of space, whose records would be held).
 */
int audit_sync_failed(struct audit *a, int r)
{
	if (!a->sync_err)
		log_error("the audit log's disk failed a flush (%s): records since the last may be lost; no more are written until hsmkeyd restarts and checks the log",
			  strerror(-r));
	a->sync_err = -EIO;
	return a->sync_err;
}

/*
 * Group commit: the records written so far made durable by one
 * fdatasync() outside @a->lock, so that writers go on meanwhile.  Threads
 * that come while one runs wait for it on @a->sync_lock; those whose
 * records it took find them synced, the others sync them next.  Never
 * with @a->lock held (its order is after @a->sync_lock).
 */
int audit_sync(struct audit *a)
{
	uint8_t head[AUDIT_HEAD_LEN];
	uint64_t upto, seq;
	int r, fd;

	pthread_mutex_lock(&a->lock);
	upto = a->seq;
	r = a->sync_err ?: audit_durable(a, upto);
	pthread_mutex_unlock(&a->lock);
	if (r)
		return r < 0 ? r : 0;
	pthread_mutex_lock(&a->sync_lock);
	pthread_mutex_lock(&a->lock);
	r = a->sync_err ?: (audit_durable(a, upto) ? 1 : audit_open_file(a, false));
	if (r) {
		pthread_mutex_unlock(&a->lock);
		pthread_mutex_unlock(&a->sync_lock);
		return r < 0 ? r : 0;
	}
	seq = a->seq;
	memcpy(head, a->head, sizeof(head));
	fd = a->sync_fd = a->sfd;
	a->syncing = true;
	pthread_mutex_unlock(&a->lock);
	r = fdatasync(fd) < 0 ? -errno : 0;
	pthread_mutex_lock(&a->lock);
	a->syncing = false;
	if (a->sync_fd_stale) {
		close(fd);
		a->sync_fd_stale = false;
	}
	if (r)
		r = audit_sync_failed(a, r);
	r = r ?: a->sync_err;	/* audit_write()'s flush meanwhile failed */
	if (!r && a->unsynced && a->seq == seq) {
		a->unsynced = false;
	} else if (!r && a->unsynced && a->durable_seq < seq) {
		a->durable_seq = seq;	/* written since: what is on disk now */
		memcpy(a->durable_head, head, sizeof(head));
	}
	pthread_mutex_unlock(&a->lock);
	pthread_mutex_unlock(&a->sync_lock);
	return r;
}
