// SPDX-License-Identifier: GPL-2.0
/*
 * The helper process (hsmkeyd --pkcs11-helper FD): the only process that
 * loads the PKCS#11 module and reads the PIN.  It reads HP_INIT from the
 * control socket FD, opens the token (module.c) and answers; then each
 * connection the daemon passes over FD is served by a thread with its own
 * session.  It dies with the daemon (PR_SET_PDEATHSIG, set before exec), is
 * not dumpable or traceable, and exits when the daemon closes FD or when
 * the token fails in a way only a new process mends (design §5).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include "pkcs11/helper.h"
#include "util.h"

static struct hp_server server;

static void *serve_connection(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct hp_session s = { .srv = &server, .turn_fd = fd };
	struct hp_request *req = malloc(sizeof(*req));
	struct hp_reply *rep = malloc(sizeof(*rep));
	uint32_t fatal = HP_FATAL_NONE;
	size_t len;
	ssize_t n;

	while (req && rep && !fatal) {
		n = recv(fd, req, sizeof(*req), MSG_TRUNC);
		if (n <= 0)
			break;
		if (hp_request_check(req, n) || req->op == HP_INIT) {
			wipe(req, (size_t)n < sizeof(*req) ? (size_t)n : sizeof(*req));
			break;		/* not our daemon: drop the connection */
		}
		hp_serve(&s, req, rep);
		len = hp_reply_len(req->op, rep);
		wipe(req, n);
		n = send(fd, rep, len, MSG_NOSIGNAL);
		fatal = rep->fatal;
		wipe(rep, len);
		if (n < 0)
			break;
	}
	/*
	 * A token that failed, or a refused PIN: only a new helper mends it.
	 * Other threads may be inside the module, so no C_Finalize.
	 */
	if (fatal) {
		wipe(server.pin, server.pin_len);
		_exit(fatal == HP_FATAL_PIN ? 3 : 2);
	}
	hp_session_close(&s);
	close(fd);
	free(req);
	free(rep);
	return NULL;
}

/* One connection per message, passed with SCM_RIGHTS. */
static int receive_fd(int ctl)
{
	char data, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &data, 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c;
	int fd;

	if (recvmsg(ctl, &msg, MSG_CMSG_CLOEXEC) <= 0)
		return -1;
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
		return -2;
	memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	return fd;
}

static void harden(void)
{
	struct rlimit no_core = { 0, 0 };
	sigset_t none;

	/* The daemon's blocked signals (its signalfd's) survive exec. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_DUMPABLE, 0);
	setrlimit(RLIMIT_CORE, &no_core);
	/* A module whose peer died must not kill us with SIGPIPE (F19). */
	signal(SIGPIPE, SIG_IGN);
}

static int init(int ctl)
{
	struct hp_request *req = calloc(1, sizeof(*req));
	struct hp_reply rep = { 0 };
	ssize_t n;
	int r = -EBADMSG;

	n = req ? recv(ctl, req, sizeof(*req), MSG_TRUNC) : -1;
	if (n > 0 && !hp_request_check(req, n) && req->op == HP_INIT) {
		server.beat_fd = ctl;
		r = hp_server_open(&server, &req->init, rep.why, sizeof(rep.why));
		server.beat_fd = 0;	/* before any connection's thread */
	}
	free(req);
	rep.err = r;
	if (r)
		rep.fatal = r == -EACCES ? HP_FATAL_PIN : HP_FATAL_DOWN;
	else {
		memcpy(rep.init.label, server.label, sizeof(rep.init.label));
		rep.init.missing = (uint32_t)server.missing;
	}
	send(ctl, &rep, hp_reply_len(HP_INIT, &rep), MSG_NOSIGNAL);
	return r;
}

int hsm_helper_main(const char *fdarg)
{
	int ctl = atoi(fdarg), fd;
	pthread_t t;

	harden();
	log_init("hsmkeyd-pkcs11", false);
	close_range(ctl + 1, ~0U, 0);	/* nothing of the daemon's but the socket */
	/* Not for what a module may run: the socket closes with this process. */
	fcntl(ctl, F_SETFD, FD_CLOEXEC);
	if (init(ctl)) {
		hp_server_close(&server);
		return 1;
	}
	while ((fd = receive_fd(ctl)) != -1) {
		if (fd < 0)
			continue;
		if (pthread_create(&t, NULL, serve_connection, (void *)(intptr_t)fd)) {
			close(fd);
			continue;
		}
		pthread_detach(t);
	}
	/* The daemon closed the control socket: it has gone or closed the token. */
	hp_server_close(&server);
	return 0;
}
