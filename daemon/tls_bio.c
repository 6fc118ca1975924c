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
#include <stdint.h>
#include <sys/socket.h>
#include "tls_bio.h"

static BIO_METHOD *method;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int fd_of(BIO *b)
{
	return (int)(intptr_t)BIO_get_data(b);
}

static int bio_read(BIO *b, char *buf, size_t len, size_t *got)
{
	ssize_t n = recv(fd_of(b), buf, len, MSG_DONTWAIT);

	BIO_clear_retry_flags(b);
	if (n > 0) {
		*got = (size_t)n;
		return 1;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		BIO_set_retry_read(b);
	return 0;	/* 0 bytes: the peer closed; otherwise errno says why */
}

static int bio_write(BIO *b, const char *buf, size_t len, size_t *put)
{
	ssize_t n = send(fd_of(b), buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

	BIO_clear_retry_flags(b);
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
	(void)b, (void)num, (void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void method_init(void)
{
	int type = BIO_get_new_index();
	BIO_METHOD *m = type < 0 ? NULL :
			BIO_meth_new(type | BIO_TYPE_SOURCE_SINK, "hsmkey handshake socket");

	if (m && BIO_meth_set_read_ex(m, bio_read) && BIO_meth_set_write_ex(m, bio_write) &&
	    BIO_meth_set_ctrl(m, bio_ctrl) && BIO_meth_set_create(m, bio_create))
		method = m;
	else
		BIO_meth_free(m);
}

BIO *tls_bio_new(int fd)
{
	BIO *b;

	pthread_once(&once, method_init);
	b = method ? BIO_new(method) : NULL;
	if (b)
		BIO_set_data(b, (void *)(intptr_t)fd);
	return b;
}
