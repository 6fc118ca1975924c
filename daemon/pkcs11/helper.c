// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's side of a token (hsm.h): its helper process and the calls
 * made to it.  A supervisor thread per token starts the helper (fork, then
 * exec of /proc/self/exe, so that PR_SET_PDEATHSIG is set in between and
 * is tied to a thread that lives as long as the token), and starts it
 * again with backoff (1, 2, 4 … 60 s) when it has gone; a refused PIN
 * waits for hsm_retry().  Each calling thread takes a connection from a
 * small pool, one PKCS#11 session in the helper, and waits for the answer
 * until the call's deadline: a helper that misses it is killed (a hung HSM
 * blocks for ever, F19), and every connection of that helper with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "key.h"
#include "pkcs11/helper.h"
#include "util.h"

#define POOL_MAX	16	/* idle connections kept */
#define BACKOFF_MAX	60	/* s */
/*
 * A helper's start (HP_INIT): each step within pkcs11_timeout, at least
 * SPAWN_STEP_MIN_MS (a first start makes the token's objects), and the
 * whole within SPAWN_STEPS of those, at least SPAWN_MAX_MIN_MS: a token
 * may take long to open, but a module that beats forever (or a search
 * that never ends) must not hold the daemon's start and stop for ever.
 */
#define SPAWN_STEP_MIN_MS	2000
#define SPAWN_STEPS		30
#define SPAWN_MAX_MIN_MS	120000

struct hsm {
	struct hp_init init;
	unsigned int timeout_ms;
	bool in_process;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t super;
	bool closing, starting, retry;
	pid_t spawning;			/* a helper not yet answering HP_INIT */
	enum hsm_state state;
	char why[HP_WHY_MAX + 64];
	time_t since;
	unsigned int backoff;		/* s, the next wait after a failure */
	int64_t next_try;		/* ms, CLOCK_MONOTONIC */
	pid_t pid;
	int ctl;
	unsigned int gen;		/* which helper a connection belongs to */
	int idle[POOL_MAX];
	unsigned int nidle;
	char label[40];
	char via[128];			/* "at SERVER" or "(module PATH)", for hsm_state() */
	unsigned long missing;		/* the probe's, from the last start */
	unsigned int ups;		/* hsm_ups() */
	int upfd;			/* hsm_ups_fd(): an eventfd */
	/* in_process: the module in this process, sessions pooled */
	struct hp_server *srv;
	struct hp_session *sessions[POOL_MAX];
	unsigned int nsessions;
};

static __thread char last_error[HP_WHY_MAX + 160];

const char *hsm_error(void)
{
	return last_error;
}

int hsm_fail(struct hsm *h, int err, const char *fmt, ...)
{
	int n = snprintf(last_error, sizeof(last_error), "token '%s': ", h->label);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error + n, sizeof(last_error) - n, fmt, ap);
	va_end(ap);
	return err;
}

static void since_text(struct hsm *h, char *buf, size_t len)
{
	struct tm tm;

	localtime_r(&h->since, &tm);
	snprintf(buf, len, "%s since %02d:%02d:%02d", h->why, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Under the lock: the error of a call made while the token is not up. */
static int not_up(struct hsm *h)
{
	char text[sizeof(h->why) + 32];

	since_text(h, text, sizeof(text));
	if (h->state == HSM_BAD_PIN)
		return hsm_fail(h, -EACCES, "the PIN was refused (%s); nothing was changed", text);
	return hsm_fail(h, -EHOSTDOWN, "unreachable (%s); keys already loaded keep working", text);
}

static void close_idle(struct hsm *h)
{
	while (h->nidle)
		close(h->idle[--h->nidle]);
}

/* Under the lock: the token is down or refused the PIN, for @why. */
static void set_down(struct hsm *h, enum hsm_state state, const char *why)
{
	if (h->state != state || strcmp(h->why, why))
		log_warn("token '%s': %s", h->label, why);
	if (h->state != state || h->state == HSM_UP)
		h->since = time(NULL);
	h->state = state;
	snprintf(h->why, sizeof(h->why), "%s", why);
	h->next_try = monotonic_ms() + h->backoff * 1000LL;
	h->backoff = h->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : h->backoff * 2;
	pthread_cond_broadcast(&h->cond);
}

/*
 * Under the lock: helper @gen has failed; kill it unless that is done.
 * The pid to reap, after the lock is dropped (reap()): a child that takes
 * long to die (a module stuck in the kernel) must not hold up every call.
 */
static pid_t helper_down(struct hsm *h, unsigned int gen, enum hsm_state state,
			 const char *why)
{
	pid_t pid = h->pid;

	if (gen != h->gen || h->in_process)
		return 0;
	if (pid > 0)
		kill(pid, SIGKILL);
	h->pid = 0;
	close_idle(h);
	if (h->ctl >= 0)
		close(h->ctl);
	h->ctl = -1;
	h->gen++;
	set_down(h, state, why);
	return pid > 0 ? pid : 0;
}

/* Unlocked: wait for a helper killed by helper_down(). */
static void reap(pid_t pid)
{
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
}

/*
 * The reply to @op by @deadline.  With @step_ms (HP_INIT, a wrap in
 * turn), each beat of the helper (proto.h, HP_BEAT) moves the deadline to
 * @step_ms from then, never past @limit (-ETIME then); without, a beat is
 * no reply and refused as such.
 */
static int await_reply(int fd, uint32_t op, struct hp_reply *rep, int64_t deadline,
		       int64_t step_ms, int64_t limit)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int64_t left;
	ssize_t n;

	for (;;) {
		left = deadline - monotonic_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, left);
		if (n < 0 && errno != EINTR)
			return -EPIPE;
		if (n <= 0)
			continue;
		n = recv(fd, rep, sizeof(*rep), MSG_TRUNC | MSG_DONTWAIT);
		if (n <= 0)
			return -EPIPE;
		if (n == 1 && step_ms && *(const uint8_t *)rep == HP_BEAT) {
			deadline = monotonic_ms() + step_ms;
			if (deadline >= limit)
				return -ETIME;
			continue;
		}
		return hp_reply_check(op, rep, n) ? -EBADMSG : 0;
	}
}

/* @req sent, and its reply awaited as await_reply() says. */
static int exchange(int fd, const struct hp_request *req, struct hp_reply *rep,
		    int64_t deadline, int64_t step_ms, int64_t limit)
{
	size_t len = hp_request_len(req);

	if (send(fd, req, len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)len)
		return -EPIPE;
	return await_reply(fd, req->op, rep, deadline, step_ms, limit);
}

static int send_fd(int ctl, int fd)
{
	char data = 0, cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { &data, 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	return sendmsg(ctl, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) == 1 ? 0 : -errno;
}

/* Under the lock: an idle connection, or a new one (a new session). */
static int take_conn(struct hsm *h)
{
	int sv[2], r;

	if (h->nidle)
		return h->idle[--h->nidle];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	r = send_fd(h->ctl, sv[1]);
	close(sv[1]);
	if (r) {
		close(sv[0]);
		return r;
	}
	return sv[0];
}

/*
 * A call that may make an RSA pair (the import key, hsmkey:pair, an RSA
 * identity key) gets six deadlines, at least a minute: finding the primes
 * takes seconds even in hardware and its time varies widely, while a hung
 * token is still found out, later.  Every other call gets one; a wrap in
 * turn (HSM_WRAP_IN_TURN) gets one from its turn, and HSM_TURN_WAIT to
 * wait for it (each wrap ahead of it is held to its own deadline: a token
 * that hangs in one has the helper killed, and every wait ends).
 */
static bool in_turn(const struct hp_request *req)
{
	return req->op == HP_WRAP && (req->wrap.flags & HSM_WRAP_IN_TURN);
}

static int64_t call_deadline(const struct hsm *h, const struct hp_request *req)
{
	int64_t t = h->timeout_ms;

	if (req->op == HP_IMPORT_KEY || req->op == HP_PAIR_PUB ||
	    (req->op == HP_GENERATE && ks_type_rsa(req->key.type)))
		t = 6 * t > 60000 ? 6 * t : 60000;
	else if (in_turn(req))
		t *= HSM_TURN_WAIT;
	return monotonic_ms() + t;
}

static int remote_call(struct hsm *h, const struct hp_request *req, struct hp_reply *rep)
{
	int64_t deadline = call_deadline(h, req);
	struct timespec ts;
	unsigned int gen;
	pid_t dead = 0;
	bool turn;
	int fd, r;

	pthread_mutex_lock(&h->lock);
	while (h->starting && monotonic_ms() < deadline) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&h->cond, &h->lock, &ts);
	}
	if (h->state != HSM_UP) {
		r = not_up(h);
		pthread_mutex_unlock(&h->lock);
		return r;
	}
	gen = h->gen;
	fd = take_conn(h);
	if (fd < 0)
		dead = helper_down(h, gen, HSM_DOWN, "the helper does not take connections");
	pthread_mutex_unlock(&h->lock);
	if (fd < 0) {
		reap(dead);
		return hsm_fail(h, -EHOSTDOWN, "the helper does not take connections");
	}

	turn = in_turn(req);	/* its turn's beat: one timeout from then */
	r = exchange(fd, req, rep, deadline, turn ? h->timeout_ms : 0,
		     turn ? deadline + h->timeout_ms : 0);
	if (r == -ETIME)	/* beats that never end */
		r = -ETIMEDOUT;
	pthread_mutex_lock(&h->lock);
	if (r == -ETIMEDOUT)
		dead = helper_down(h, gen, HSM_DOWN, "the helper missed its deadline and was killed");
	else if (r == -EBADMSG)
		dead = helper_down(h, gen, HSM_DOWN, "the helper's answer was malformed");
	else if (r)
		dead = helper_down(h, gen, HSM_DOWN, "the helper exited");
	else if (rep->fatal)
		dead = helper_down(h, gen, rep->fatal == HP_FATAL_PIN ? HSM_BAD_PIN : HSM_DOWN,
				   rep->why);
	else if (gen == h->gen && h->nidle < POOL_MAX)
		h->idle[h->nidle++] = fd, fd = -1;
	pthread_mutex_unlock(&h->lock);
	reap(dead);
	if (fd >= 0)
		close(fd);
	if (r == -ETIMEDOUT && turn)
		return hsm_fail(h, r, "no answer within %u ms of its turn (or no turn within %u ms): the helper was killed and is started again",
				h->timeout_ms, HSM_TURN_WAIT * h->timeout_ms);
	if (r == -ETIMEDOUT)
		return hsm_fail(h, r, "no answer within %u ms: the helper was killed and is started again",
			    h->timeout_ms);
	if (r)
		return hsm_fail(h, -EHOSTDOWN, "the helper exited during the call");
	return 0;
}

static int local_call(struct hsm *h, const struct hp_request *req, struct hp_reply *rep)
{
	struct hp_session *s = NULL;
	int r;

	pthread_mutex_lock(&h->lock);
	if (h->state != HSM_UP) {
		r = not_up(h);
		pthread_mutex_unlock(&h->lock);
		return r;
	}
	if (h->nsessions)
		s = h->sessions[--h->nsessions];
	pthread_mutex_unlock(&h->lock);
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return hsm_fail(h, -ENOMEM, "out of memory");
		s->srv = h->srv;
	}
	hp_serve(s, req, rep);
	pthread_mutex_lock(&h->lock);
	if (rep->fatal)
		set_down(h, rep->fatal == HP_FATAL_PIN ? HSM_BAD_PIN : HSM_DOWN, rep->why);
	if (h->nsessions < POOL_MAX) {
		h->sessions[h->nsessions++] = s;
		s = NULL;
	}
	pthread_mutex_unlock(&h->lock);
	if (s) {
		hp_session_close(s);
		free(s);
	}
	return 0;
}

int hsm_call(struct hsm *h, const struct hp_request *req, struct hp_reply *rep)
{
	int r = h->in_process ? local_call(h, req, rep) : remote_call(h, req, rep);

	if (!r && rep->err)
		r = hsm_fail(h, rep->err, "%s", rep->why);
	return r;
}

/*
 * Under the lock: the token is up, lacking @missing.  What delivery lacks
 * is logged when it changes (once at the first start, not on every
 * restart of a helper): the daemon knows it before a call fails.
 */
/* With @h->lock held: the token is up (again); the event loop hears of it. */
static void came_up(struct hsm *h)
{
	h->ups++;
	eventfd_write(h->upfd, 1);
}

static void set_missing(struct hsm *h, unsigned long missing)
{
	char names[256];

	if ((missing & HM_DELIVERY) && (missing & HM_DELIVERY) != (h->missing & HM_DELIVERY)) {
		hp_mech_names(missing & HM_DELIVERY, names, sizeof(names));
		log_warn("token '%s' lacks %s: keys cannot be delivered to the kernel from it",
			 h->label, names);
	}
	h->missing = missing;
}

/* In the supervisor thread: a new helper, answering HP_INIT. */
static int spawn(struct hsm *h, pid_t *pid, int *ctl, struct hp_reply *rep)
{
	static char *argv[] = { "hsmkeyd-pkcs11", "--pkcs11-helper", "3", NULL };
	extern char **environ;
	int64_t step = h->timeout_ms > SPAWN_STEP_MIN_MS ? h->timeout_ms : SPAWN_STEP_MIN_MS;
	int64_t most = step * SPAWN_STEPS > SPAWN_MAX_MIN_MS ? step * SPAWN_STEPS : SPAWN_MAX_MIN_MS;
	struct hp_request *req;
	pid_t parent = getpid();
	int sv[2], r;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	*pid = fork();
	if (*pid == 0) {
		/* Dies with this thread's process; the parent may be gone already. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		if (sv[1] == 3)
			fcntl(3, F_SETFD, 0);
		else if (dup2(sv[1], 3) != 3)
			_exit(1);
		execve("/proc/self/exe", argv, environ);
		_exit(127);
	}
	close(sv[1]);
	if (*pid < 0) {
		close(sv[0]);
		return -errno;
	}
	*ctl = sv[0];
	/* hsm_close() kills it while it opens: its end of the socket then closes. */
	pthread_mutex_lock(&h->lock);
	h->spawning = *pid;
	if (h->closing)
		kill(*pid, SIGKILL);
	pthread_mutex_unlock(&h->lock);
	req = calloc(1, sizeof(*req));
	if (!req)
		return -ENOMEM;
	req->op = HP_INIT;
	req->init = h->init;
	/* Each step of the opening within the deadline, not the whole (HP_BEAT). */
	r = exchange(*ctl, req, rep, monotonic_ms() + step, step, monotonic_ms() + most);
	free(req);
	return r;
}

/* In the supervisor thread, unlocked: start a helper; the state after it. */
static void start(struct hsm *h)
{
	struct hp_reply *rep = calloc(1, sizeof(*rep));
	int ctl = -1, r = -ENOMEM;
	pid_t pid = 0;

	if (rep)
		r = spawn(h, &pid, &ctl, rep);
	/* Before any reap: hsm_close() must not kill the number once reused. */
	pthread_mutex_lock(&h->lock);
	h->spawning = 0;
	pthread_mutex_unlock(&h->lock);
	if (r || rep->err) {
		if (pid > 0) {
			kill(pid, SIGKILL);
			reap(pid);
		}
		if (ctl >= 0)
			close(ctl);
	}
	pthread_mutex_lock(&h->lock);
	h->starting = false;
	if (!r && !rep->err) {
		h->pid = pid;
		h->ctl = ctl;
		h->gen++;
		h->state = HSM_UP;
		came_up(h);
		h->backoff = 1;
		snprintf(h->label, sizeof(h->label), "%s", rep->init.label);
		log_info("token '%s' is up (helper %d)", h->label, pid);
		set_missing(h, rep->init.missing);
		pthread_cond_broadcast(&h->cond);
	} else if (!h->closing || r != -EPIPE) {	/* else killed by hsm_close() */
		set_down(h, !r && rep->fatal == HP_FATAL_PIN ? HSM_BAD_PIN : HSM_DOWN,
			 r == -ETIMEDOUT ? "the helper did not start in time" :
			 r == -ETIME ? "the helper answered each step but did not finish opening the token in time" :
			 r ? "the helper failed to start" : rep->why);
	}
	pthread_mutex_unlock(&h->lock);
	free(rep);
}

static void *supervise(void *arg)
{
	struct hsm *h = arg;
	struct timespec ts;
	int64_t wait;
	siginfo_t si;

	pthread_mutex_lock(&h->lock);
	while (!h->closing) {
		/* Only an exit: a stopped helper is the deadline's business. */
		memset(&si, 0, sizeof(si));
		if (h->pid > 0 && !waitid(P_PID, h->pid, &si, WEXITED | WNOHANG) &&
		    si.si_pid == h->pid) {
			h->pid = 0;	/* reaped: helper_down must not kill its number */
			helper_down(h, h->gen, si.si_code == CLD_EXITED && si.si_status == 3 ?
				    HSM_BAD_PIN : HSM_DOWN, "the helper exited");
		}
		if (h->state != HSM_UP &&
		    (h->retry || (h->state == HSM_DOWN && monotonic_ms() >= h->next_try))) {
			h->retry = false;
			h->starting = true;
			pthread_mutex_unlock(&h->lock);
			start(h);
			pthread_mutex_lock(&h->lock);
			continue;
		}
		wait = h->state == HSM_DOWN ? h->next_try - monotonic_ms() : 1000;
		wait = wait < 1 ? 1 : wait > 1000 ? 1000 : wait;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += wait * 1000000;
		ts.tv_sec += ts.tv_nsec / 1000000000;
		ts.tv_nsec %= 1000000000;
		pthread_cond_timedwait(&h->cond, &h->lock, &ts);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* At start: a token URI asking for what no helper would do is refused. */
static int check_config(const struct hsm_config *cfg, struct hsm *h)
{
	struct hp_uri_query *q = calloc(1, sizeof(*q));
	char why[HP_WHY_MAX];
	const char *module;
	int r;

	if (!q)
		return -ENOMEM;
	r = cfg->token ? hp_uri_query(cfg->token, q, why, sizeof(why)) : 0;
	if (q->bare[0])
		snprintf(h->label, sizeof(h->label), "%.*s", (int)sizeof(h->label) - 1, q->bare);
	module = q->module[0] ? q->module : cfg->module;
	if (q->server[0])
		snprintf(h->via, sizeof(h->via), "at %.*s", (int)sizeof(h->via) - 4, q->server);
	else
		snprintf(h->via, sizeof(h->via), "(module %.*s)", (int)sizeof(h->via) - 10,
			 module ?: "");
	if (r)
		r = hsm_fail(h, r, "%s", why);
	else if (!module || !cfg->token || access(module, R_OK))
		r = hsm_fail(h, -ENOENT, "no PKCS#11 module %s", module ?: "(none)");
	else if (snprintf(h->init.module, sizeof(h->init.module), "%s", module) >=
		 (int)sizeof(h->init.module) ||
		 snprintf(h->init.uri, sizeof(h->init.uri), "%s", cfg->token) >=
		 (int)sizeof(h->init.uri) ||
		 snprintf(h->init.pin_file, sizeof(h->init.pin_file), "%s", cfg->pin_file ?: "") >=
		 (int)sizeof(h->init.pin_file))
		r = hsm_fail(h, -ENAMETOOLONG, "a PKCS#11 setting is too long");
	h->init.join = cfg->join;
	free(q);
	return r;
}

static void open_local(struct hsm *h)
{
	char why[HP_WHY_MAX];
	int r;

	r = hp_server_open(h->srv, &h->init, why, sizeof(why));
	pthread_mutex_lock(&h->lock);
	if (r) {
		hp_server_close(h->srv);
		set_down(h, r == -EACCES ? HSM_BAD_PIN : HSM_DOWN, why);
	} else {
		h->state = HSM_UP;
		came_up(h);
		snprintf(h->label, sizeof(h->label), "%s", h->srv->label);
		set_missing(h, h->srv->missing);
	}
	pthread_mutex_unlock(&h->lock);
}

int hsm_open(const struct hsm_config *cfg, struct hsm **out)
{
	struct hsm *h = calloc(1, sizeof(*h));
	int r;

	if (!h)
		return -ENOMEM;
	/* Not the URI itself until it parses: it may hold a PIN (refused). */
	snprintf(h->label, sizeof(h->label), "(token URI)");
	r = check_config(cfg, h);
	if (r) {
		free(h);
		return r;
	}
	/* Several tokens of one key store wake the daemon through one eventfd. */
	h->upfd = cfg->ups_fd > 0 ? fcntl(cfg->ups_fd, F_DUPFD_CLOEXEC, 3) :
				   eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->upfd < 0) {
		r = -errno;
		free(h);
		return r;
	}
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	h->timeout_ms = cfg->timeout_ms ?: 10000;
	h->in_process = cfg->in_process;
	h->state = HSM_DOWN;
	h->backoff = 1;
	h->ctl = -1;
	snprintf(h->why, sizeof(h->why), "starting");
	h->since = time(NULL);
	if (h->in_process) {
		h->srv = calloc(1, sizeof(*h->srv));
		if (!h->srv) {
			close(h->upfd);
			free(h);
			return -ENOMEM;
		}
		open_local(h);
		*out = h;
		return 0;
	}
	h->starting = true;
	r = -pthread_create(&h->super, NULL, supervise, h);
	if (r) {
		free(h);
		return r;
	}
	/* Wait for the first start, so that a token that is there is up. */
	pthread_mutex_lock(&h->lock);
	while (h->starting)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
	*out = h;
	return 0;
}

void hsm_close(struct hsm *h)
{
	pid_t pid;

	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->closing = true;
	if (h->spawning > 0)
		kill(h->spawning, SIGKILL);	/* not to wait out its opening */
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	if (h->in_process) {
		while (h->nsessions) {
			hp_session_close(h->sessions[--h->nsessions]);
			free(h->sessions[h->nsessions]);
		}
		hp_server_close(h->srv);
		free(h->srv);
	} else {
		pthread_join(h->super, NULL);
		pthread_mutex_lock(&h->lock);
		pid = helper_down(h, h->gen, HSM_DOWN, "closed");
		pthread_mutex_unlock(&h->lock);
		reap(pid);
	}
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	close(h->upfd);
	free(h);
}

enum hsm_state hsm_state(struct hsm *h, char *why, size_t len)
{
	enum hsm_state s;
	int n;

	pthread_mutex_lock(&h->lock);
	s = h->state;
	if (why && len && s == HSM_UP)
		snprintf(why, len, "up");
	else if (why && len) {
		/* Which HSM is down: its label, and the server or module reached. */
		n = snprintf(why, len, "token '%s' %s: ", h->label, h->via);
		if (n >= 0 && (size_t)n < len)
			since_text(h, why + n, len - n);
	}
	pthread_mutex_unlock(&h->lock);
	return s;
}

void hsm_retry(struct hsm *h)
{
	bool local;

	pthread_mutex_lock(&h->lock);
	local = h->in_process && h->state != HSM_UP;
	if (h->state != HSM_UP) {
		h->retry = true;
		h->backoff = 1;
	}
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	if (local)
		open_local(h);
}

const char *hsm_label(struct hsm *h)
{
	return h->label;
}

int hsm_ups_fd(struct hsm *h)
{
	return h->upfd;
}

unsigned int hsm_ups(struct hsm *h)
{
	unsigned int n;

	pthread_mutex_lock(&h->lock);
	n = h->ups;
	pthread_mutex_unlock(&h->lock);
	return n;
}

int hsm_lacks(struct hsm *h, char *buf, size_t len)
{
	unsigned long lacks;

	pthread_mutex_lock(&h->lock);
	lacks = h->missing & HM_DELIVERY;
	pthread_mutex_unlock(&h->lock);
	hp_mech_names(lacks, buf, len);
	return __builtin_popcountl(lacks);
}
