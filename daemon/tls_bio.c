// SPDX-License-Identifier: GPL-2.0
/*
 * A socket BIO whose every call is non-blocking by its own flag
 * (MSG_DONTWAIT), not by the descriptor's O_NONBLOCK: the file description
 * is the application's too, and whoever holds it may change its flags at
 * any moment.  A handshake's deadline then holds (the caller polls between
 * calls): no read or write of it can block a worker.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include "tls_bio.h"

struct sock {
	int fd;
	bool eof;	/* the peer closed: BIO_CTRL_EOF says so to OpenSSL */
};

static BIO_METHOD *method;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int fd_of(BIO *b)
{
	return ((struct sock *)BIO_get_data(b))->fd;
}

static int bio_read(BIO *b, char *buf, size_t len, size_t *got)
{
	ssize_t n = recv(fd_of(b), buf, len, MSG_DONTWAIT);

	BIO_clear_retry_flags(b);
	*got = n > 0 ? (size_t)n : 0;
	if (n > 0)
		return 1;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		BIO_set_retry_read(b);
	if (!n) {
		((struct sock *)BIO_get_data(b))->eof = true;
		errno = 0;	/* not the last would-block's EAGAIN */
	}
	return 0;
}

static int bio_write(BIO *b, const char *buf, size_t len, size_t *put)
{
	ssize_t n = send(fd_of(b), buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

	BIO_clear_retry_flags(b);
	*put = 0;
	if (n >= 0) {
		*put = (size_t)n;
		return 1;
	}
	if (errno == EAGAIN || errno == EINTR)
		BIO_set_retry_write(b);
	return 0;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num, (void)ptr;
	if (cmd == BIO_CTRL_EOF)
		return ((struct sock *)BIO_get_data(b))->eof;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static int bio_destroy(BIO *b)
{
	free(BIO_get_data(b));
	BIO_set_data(b, NULL);
	return 1;
}

static void method_init(void)
{
	int type = BIO_get_new_index();
	BIO_METHOD *m = type < 0 ? NULL :
			BIO_meth_new(type | BIO_TYPE_SOURCE_SINK, "hsmkey handshake socket");

	if (m && BIO_meth_set_read_ex(m, bio_read) && BIO_meth_set_write_ex(m, bio_write) &&
	    BIO_meth_set_ctrl(m, bio_ctrl) && BIO_meth_set_create(m, bio_create) &&
	    BIO_meth_set_destroy(m, bio_destroy))
		method = m;
	else
		BIO_meth_free(m);
}

BIO *tls_bio_new(int fd)
{
	struct sock *s = calloc(1, sizeof(*s));
	BIO *b;

	pthread_once(&once, method_init);
	b = s && method ? BIO_new(method) : NULL;
	if (!b) {
		free(s);
		return NULL;
	}
	s->fd = fd;
	BIO_set_data(b, s);
	return b;
}
