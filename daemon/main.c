// SPDX-License-Identifier: GPL-2.0
/*
 * hsmkeyd: owns key storage and provisions keys into hsmkey.ko.
 *
 * Process model: one event loop thread and WORKERS worker threads
 * (worker.h).  The loop polls a signalfd, the control socket's listener,
 * the kernel's events group, the workers' "done" eventfd and the idle
 * clients (clients.h); it never calls a backend.  A readable client goes
 * to a worker, which reads one request, serves it and sends the reply
 * with a deadline, then hands the client back.  SIGTERM and SIGINT stop
 * the daemon cleanly (keys stay in the kernel: volumes keep working);
 * SIGHUP reloads the configuration (groups, verbosity) and converges the
 * kernel with the keystore again.  Under systemd (Type=notify) it reports
 * READY=1 once keys are provisioned and the socket listens.  The process
 * is not dumpable, so no core dump and no ptrace by other users can reach
 * the master key or material.
 */
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "audit.h"
#include "audit_anchor.h"
#include "backend.h"
#include "clients.h"
#include "config.h"
#include "control.h"
#include "kms_keys.h"
#include "kernel.h"
#include "pkcs11/helper.h"
#include "util.h"
#include "tls_cache.h"
#include "worker.h"
#include "wrapkey.h"

/* Out of descriptors: stop accepting for this long. */
#define ACCEPT_PAUSE_MS 1000
#define DEGRADED_TICK_MS 3000
/*
 * What the kernel has spent of each key is looked at this often, and
 * stored when it has grown by 2^22 requests (control_usage_save_grown()),
 * besides at reconciliation, revocation, removal and stop: a crash or a
 * power cut loses at most that and a minute of GCM's count (and a KMIP
 * server hears of it at its next poll after).
 */
#define USAGE_SAVE_MS 60000

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hsmkeyd [OPTIONS]\n"
		"Keeps keys in an embedded keystore and provisions them into hsmkey.ko.\n\n"
		"  -c, --config PATH     configuration file (default " CONFIG_DEFAULT_PATH ")\n"
		"  -d, --state-dir DIR   keystore directory (default /var/lib/hsmkey)\n"
		"  -S, --socket PATH     control socket (default /run/hsmkey/hsmkeyd.sock)\n"
		"  -v, --verbose         log debug messages\n"
		"      --accept-keystore take the key files now in the state directory as the\n"
		"                        current ones where they do not match the generations\n"
		"                        recorded (after a refused rollback you have judged),\n"
		"                        record that in the audit log, and exit\n"
		"      --upgrade-keystore upgrade a key store of an earlier release, whose\n"
		"                        key files are not authenticated, taking them as found;\n"
		"                        record that in the audit log, and exit (only for a\n"
		"                        store never upgraded: see hsmkeyd(8))\n"
		"      --leave-out-absent  (backend = pkcs11, several tokens) load the key\n"
		"                        store as the tokens that answer vouch for it, leave\n"
		"                        out for good those in step with them that do not\n"
		"                        (giving up any change they took since), record that\n"
		"                        in the audit log, and exit\n"
		"  -h, --help            show this help\n"
		"  -V, --version         show the version\n");
}

/*
 * SIGHUP: read the configuration again.  Groups and verbosity take effect;
 * a new state directory or socket needs a restart.  A broken file keeps
 * the running configuration, with the error in the log.
 */
static bool dirs_from_cli;

static void reload(struct daemon *d, const char *path, bool optional, bool verbose)
{
	struct config *cfg = d->cfg;
	struct config n;
	char err[256];

	config_defaults(&n);
	if (config_load(path, optional, &n, err, sizeof(err)) ||
	    config_resolve(&n, err, sizeof(err))) {
		log_error("%s: %s; keeping the running configuration", path, err);
		return;
	}
	if (!dirs_from_cli && (strcmp(n.state_dir, cfg->state_dir) || strcmp(n.socket, cfg->socket)))
		log_warn("%s: state_dir and socket take effect at the next start", path);
	pthread_rwlock_wrlock(&d->cfg_lock);
	memcpy(cfg->admin_group, n.admin_group, sizeof(n.admin_group));
	memcpy(cfg->reader_group, n.reader_group, sizeof(n.reader_group));
	cfg->admin_gid = n.admin_gid;
	cfg->reader_gid = n.reader_gid;
	cfg->deletion_wait = n.deletion_wait;
	memcpy(cfg->subuid_file, n.subuid_file, sizeof(n.subuid_file));
	cfg->verbose = n.verbose || verbose;
	pthread_rwlock_unlock(&d->cfg_lock);
	log_init("hsmkeyd", cfg->verbose);
	log_info("configuration reloaded: admin group '%s', reader group '%s', deletion wait %llds",
		 n.admin_group, n.reader_group, (long long)n.deletion_wait);
}

struct options {
	const char *config_path, *state_dir, *socket_path;
	bool config_given, verbose, accept, leave_out, upgrade;
};

/* An operator's one-shot action on the key storage: done at open, recorded, and hsmkeyd exits. */
struct one_shot {
	unsigned int flag;		/* BACKEND_* */
	const char *option, *record, *detail;
};

static const struct one_shot *one_shot_of(const struct options *o)
{
	static const struct one_shot accept = {
		BACKEND_ACCEPT, "--accept-keystore", "keystore-accept",
		"key files taken as current by the operator (--accept-keystore)",
	}, leave_out = {
		BACKEND_LEAVE_OUT, "--leave-out-absent", "keystore-leave-out",
		"tokens that do not answer left out by the operator (--leave-out-absent)",
	}, upgrade = {
		BACKEND_UPGRADE, "--upgrade-keystore", "keystore-upgrade",
		"the operator's word to upgrade a key store of an earlier release, its files taken as found (--upgrade-keystore; the log says whether there was one)",
	};

	return o->accept ? &accept : o->leave_out ? &leave_out : o->upgrade ? &upgrade : NULL;
}

/* 0, or the exit status: 0 after --help/--version (*@done), 2 for misuse. */
static int parse_args(int argc, char **argv, struct options *o, bool *done)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "accept-keystore", no_argument, NULL, 'A' },
		{ "leave-out-absent", no_argument, NULL, 'L' },
		{ "upgrade-keystore", no_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	int c;

	*o = (struct options){ .config_path = CONFIG_DEFAULT_PATH };
	while ((c = getopt_long(argc, argv, "c:d:S:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config_path = optarg; o->config_given = true; break;
		case 'd': o->state_dir = optarg; break;
		case 'S': o->socket_path = optarg; break;
		case 'v': o->verbose = true; break;
		case 'A': o->accept = true; break;
		case 'L': o->leave_out = true; break;
		case 'U': o->upgrade = true; break;
		case 'h': usage(stdout); *done = true; return 0;
		case 'V': printf("hsmkeyd %s\n", HSMKEY_VERSION); *done = true; return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (o->accept + o->leave_out + o->upgrade > 1) {
		fprintf(stderr, "hsmkeyd: --accept-keystore, --leave-out-absent and --upgrade-keystore go one at a time\n");
		return 2;
	}
	return 0;
}

/* The file, then the command line over it. */
static int load_config(const struct options *o, struct config *cfg)
{
	char err[256];

	config_defaults(cfg);
	if (config_load(o->config_path, !o->config_given, cfg, err, sizeof(err)) ||
	    (o->state_dir && snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s",
				      o->state_dir) < 0) ||
	    (o->socket_path && snprintf(cfg->socket, sizeof(cfg->socket), "%s",
					o->socket_path) < 0) ||
	    config_resolve(cfg, err, sizeof(err))) {
		fprintf(stderr, "hsmkeyd: %s: %s\n", o->config_path, err);
		return -EINVAL;
	}
	cfg->verbose |= o->verbose;
	dirs_from_cli = o->state_dir || o->socket_path;
	return 0;
}

static void harden(void)
{
	prctl(PR_SET_DUMPABLE, 0);
	/*
	 * OpenSSL's secure heap (locked, left out of core dumps, cleared on
	 * free) for the private parts of keys it holds: the import key, and
	 * each identity key while it signs (an RSA-3072 key's values and
	 * OpenSSL's working space take some 10 KiB: room for every worker
	 * at once, many times over).  When it is full, allocations fail:
	 * they do not fall back to ordinary memory.
	 */
	if (CRYPTO_secure_malloc_init(1 << 20, 64) != 1)
		log_warn("no OpenSSL secure heap: the import key's private half and identity keys in use are in ordinary memory");
	umask(077);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);	/* a full file is an error to report, not a death */
}

static void close_storage(struct daemon *d)
{
	control_audit(d, "checkpoint", 0, "stop");
	kernel_device_release();
	kernel_close(d->events);
	kernel_close(d->anchor);
	audit_close(d->audit);
	wrapkey_close(d->wrapkey);
	close(d->statefd);
	d->be->ops->close(d->be);
}

/* SIGTERM, SIGINT and SIGHUP as a descriptor, blocked in every thread. */
static int signals_open(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);	/* before the threads: theirs too */
	return signalfd(-1, &mask, SFD_CLOEXEC);
}

enum { P_SIGNAL, P_LISTEN, P_EVENTS, P_DONE, P_STORAGE, P_CLIENTS };

struct loop {
	struct daemon *d;
	struct workers *w;
	struct clients clients;
	const struct options *opt;
	int sfd, lfd;
	int64_t accept_paused;		/* listener off until then (ms), 0: on */
	int64_t degraded_tick;		/* degraded: the next look for the storage (ms) */
	int64_t usage_tick;		/* the next JOB_USAGE (ms) */
	bool deletions_queued, usage_queued, running;
	struct pollfd pfd[P_CLIENTS + MAX_CLIENTS];
};

static void on_signal(struct loop *l)
{
	struct signalfd_siginfo si;

	if (read(l->sfd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo != SIGHUP) {
		log_info("stopping on signal %u", si.ssi_signo);
		l->running = false;
		return;
	}
	notify("RELOADING=1");
	reload(l->d, l->opt->config_path, !l->opt->config_given, l->opt->verbose);
	if (l->d->be->ops->retry)
		l->d->be->ops->retry(l->d->be);	/* a PIN file fixed meanwhile */
	log_info("SIGHUP: converging the kernel with the keystore");
	control_reconcile_request(l->d);
	control_events_open(l->d);
	notify("READY=1");
}

static void on_done(struct loop *l)
{
	int fds[MAX_CLIENTS];
	bool keep[MAX_CLIENTS];
	size_t n = workers_collect(l->w, fds, keep, ARRAY_SIZE(fds));

	for (size_t i = 0; i < n; i++) {
		if (fds[i] == DONE_DELETIONS)
			l->deletions_queued = false;	/* the loop may queue the next */
		else if (fds[i] == DONE_USAGE)
			l->usage_queued = false;
		else if (fds[i] >= 0)
			clients_done(&l->clients, fds[i], keep[i]);
	}
}

/* A readable client goes to a worker; out of the poll set meanwhile. */
static void on_client(struct loop *l, const struct pollfd *p)
{
	struct client *c = clients_find(&l->clients, p->fd);

	if (!c)
		return;
	c->busy = true;
	if (workers_submit(l->w, JOB_CLIENT, c->fd, !c->admin))
		clients_done(&l->clients, c->fd, false);
}

/*
 * A key the storage revoked on its own (a KMIP server's revocation): its
 * kept TLS contexts (an identity key's private key) go at once, and the
 * audit log says so.
 */
static void audit_storage_event(void *arg, const char *name, uint32_t version, const char *why)
{
	struct daemon *d = arg;
	struct audit_who me = { .uid = getuid(), .pid = getpid(), .comm = "hsmkeyd" };
	char detail[512];

	if (!name) {	/* revocations the storage could not queue: any key's */
		tls_cache_clear();
		return;
	}
	tls_cache_forget_name(name);
	snprintf(detail, sizeof(detail), "revoked by the key storage: %s", why);
	if (!d->audit || audit_record(d->audit, &me, "revoke", name, version, 0, detail))
		log_error("key %s %s: no audit record of it could be written", name, detail);
}

/*
 * The storage came back after an outage under a running daemon, since the
 * last reconciliation began: the requests served meanwhile recovered one
 * by one, but keys created, revoked or destroyed while it was away may not
 * have reached the kernel.  (Degraded since the start, the degraded tick
 * does this: no reconciliation runs before.)
 */
static void check_comeback(struct loop *l)
{
	struct daemon *d = l->d;
	unsigned int n;
	uint64_t v;
	bool back;

	if (read(d->be->ops->comebacks_fd(d->be), &v, sizeof(v)) < 0)
		return;		/* nothing new (EAGAIN) */
	n = d->be->ops->comebacks(d->be);
	pthread_mutex_lock(&d->lock);
	back = d->audit && n != d->comebacks;
	if (back)
		d->comebacks = n;	/* asked for once */
	pthread_mutex_unlock(&d->lock);
	if (d->be->ops->storage_events)
		d->be->ops->storage_events(d->be, audit_storage_event, d);
	if (!back)
		return;
	log_info("the key storage is reachable again (or changed on its side): converging the kernel with the keystore");
	control_reconcile_request(d);
}

/*
 * The poll timeout (ms): the first of a due deletion, an idle client, the
 * end of a denials interval, a kept TLS context's end, the listener's
 * pause, the degraded storage's next look, the next save of the kernel's
 * usage.
 */
static int next_timeout(struct loop *l)
{
	int wait = control_deletions_due(l->d), idle = clients_expire(&l->clients), t = -1;
	int denials = control_denials_flush(l->d, false), kept = tls_cache_expire();

	if (wait == 0 && !l->deletions_queued &&
	    !workers_submit(l->w, JOB_DELETIONS, -1, false))
		l->deletions_queued = true;
	if (wait >= 0 && !l->deletions_queued)
		t = wait * 1000;
	if (idle >= 0 && (t < 0 || idle < t))
		t = idle;
	if (denials >= 0 && (t < 0 || denials * 1000 < t))
		t = denials * 1000;
	if (kept >= 0 && (t < 0 || kept * 1000 < t))
		t = kept * 1000;
	/* Degraded: look for the key storage every few seconds (a worker job). */
	if (!l->d->audit) {
		int64_t left = l->degraded_tick - monotonic_ms();

		if (left <= 0) {
			control_reconcile_request(l->d);
			l->degraded_tick = monotonic_ms() + DEGRADED_TICK_MS;
			left = DEGRADED_TICK_MS;
		}
		if (t < 0 || left < t)
			t = (int)left;
	}
	if (l->d->audit && !l->usage_queued) {
		int64_t left = l->usage_tick - monotonic_ms();

		if (left <= 0) {
			if (!workers_submit(l->w, JOB_USAGE, -1, false))
				l->usage_queued = true;
			l->usage_tick = monotonic_ms() + USAGE_SAVE_MS;
			left = USAGE_SAVE_MS;
		}
		if (t < 0 || left < t)
			t = (int)left;
	}
	if (l->accept_paused) {
		int64_t left = l->accept_paused - monotonic_ms();

		if (left <= 0)
			l->accept_paused = 0;
		else if (t < 0 || left < t)
			t = (int)left;
	}
	return t;
}

/*
 * The loop reads signals, kernel events and client sockets; requests,
 * reconciliations and deletions go to the workers (worker.h), so that
 * no backend call, however slow, holds up events or other clients.
 */
static void run_loop(struct loop *l)
{
	struct pollfd *pfd = l->pfd;

	while (l->running) {
		int timeout = next_timeout(l), n;

		pfd[P_SIGNAL] = (struct pollfd){ .fd = l->sfd, .events = POLLIN };
		pfd[P_LISTEN] = (struct pollfd){ .fd = l->accept_paused ? -1 : l->lfd,
						 .events = POLLIN };
		/* The kernel's events: -1 (ignored by poll) until the group is joined. */
		pfd[P_EVENTS] = (struct pollfd){ .fd = l->d->events ?
						 kernel_events_fd(l->d->events) : -1,
						 .events = POLLIN };
		pfd[P_DONE] = (struct pollfd){ .fd = workers_donefd(l->w), .events = POLLIN };
		pfd[P_STORAGE] = (struct pollfd){ .fd = l->d->be->ops->comebacks_fd ?
						  l->d->be->ops->comebacks_fd(l->d->be) : -1,
						  .events = POLLIN };
		n = P_CLIENTS + clients_pollset(&l->clients, pfd + P_CLIENTS);
		if (poll(pfd, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %m");
			break;
		}
		if (pfd[P_SIGNAL].revents & POLLIN)
			on_signal(l);
		if ((pfd[P_LISTEN].revents & POLLIN) &&
		    clients_accept(&l->clients, l->d, l->lfd) < 0) {
			log_warn("out of descriptors: not accepting connections for a second");
			l->accept_paused = monotonic_ms() + ACCEPT_PAUSE_MS;
		}
		if (pfd[P_EVENTS].revents)
			control_events_read(l->d);
		if (pfd[P_STORAGE].revents & POLLIN)
			check_comeback(l);
		if (control_reconcile_due(l->d))
			workers_submit(l->w, JOB_RECONCILE, -1, false);
		if (pfd[P_DONE].revents & POLLIN)
			on_done(l);
		for (int i = P_CLIENTS; i < n; i++)
			if (pfd[i].revents)
				on_client(l, &pfd[i]);
	}
}

int main(int argc, char **argv)
{
	static struct config cfg;
	struct daemon d = {
		.data_keys = PTHREAD_MUTEX_INITIALIZER,
		.mutate = PTHREAD_MUTEX_INITIALIZER,
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.wrap_lock = PTHREAD_MUTEX_INITIALIZER,
		.cfg_lock = PTHREAD_RWLOCK_INITIALIZER,
		.cfg = &cfg,
		.statefd = -1,
	};
	struct options opt;
	struct loop l = { .d = &d, .opt = &opt, .running = true };
	bool done = false;
	const struct one_shot *once;
	int64_t t0, t1;
	int r;

	/* A token's helper process (daemon/pkcs11/helper_main.c), not the daemon. */
	if (argc == 3 && !strcmp(argv[1], "--pkcs11-helper"))
		return hsm_helper_main(argv[2]);
#ifdef HSMKEY_TEST_NO_WIPE
	log_warn("this build keeps every secret it should wipe: it exists for the tests' memory scans only");
#endif
	r = parse_args(argc, argv, &opt, &done);
	if (r || done)
		return r;
	if (load_config(&opt, &cfg))
		return 2;
	d.state_dir = cfg.state_dir;
	d.socket_path = cfg.socket;
	log_init("hsmkeyd", cfg.verbose);
	harden();

	/* Before any thread: a token's supervisor thread starts in open_storage(). */
	l.sfd = signals_open();
	if (l.sfd < 0) {
		log_error("cannot open a signalfd: %m");
		return 1;
	}
	t0 = monotonic_ms();
	once = one_shot_of(&opt);
	if (open_storage(&d, once ? once->flag : 0)) {
		close(l.sfd);
		return 1;
	}
	if (!d.audit && once) {
		log_error("%s needs the key storage reachable", once->option);
		close_storage(&d);
		return 1;
	}
	if (once) {
		r = control_audit(&d, once->record, 0, once->detail);
		close_storage(&d);
		return r ? 1 : 0;
	}
	t1 = monotonic_ms();
	d.kms = kms_keys_new();		/* filled by the reconciliation */
	if (!d.kms) {
		log_error("out of memory");
		close_storage(&d);
		close(l.sfd);
		return 1;
	}
	r = control_load_all(&d);
	if (r)
		log_warn("%d key(s) could not be provisioned", r);
	/*
	 * The kernel's events from here on: joined before, the start-up's own
	 * provisioning (an ADD event per key) overran the socket at scale,
	 * and the events lost queued a second full reconciliation at once.
	 */
	control_events_open(&d);
	l.lfd = control_listen(d.socket_path);
	if (l.lfd < 0)
		goto err_signals;
	r = workers_start(&d, &l.w);
	if (r) {
		log_error("cannot start the worker threads: %s", strerror(-r));
		goto err_listen;
	}
	d.workers = l.w;
	if (!d.audit)
		notify("STATUS=degraded: the key storage is unreachable, retrying (hsmkeyctl status says why)");
	log_info("ready: keystore %s, socket %s (keystore opened in %.3f s, kernel converged in %.3f s)",
		 d.state_dir, d.socket_path, (t1 - t0) / 1000.0, (monotonic_ms() - t1) / 1000.0);
	notify("READY=1");

	l.usage_tick = monotonic_ms() + USAGE_SAVE_MS;
	run_loop(&l);

	notify("STOPPING=1");
	workers_stop(l.w);
	d.workers = NULL;
	kms_keys_free(d.kms);
	tls_cache_clear();	/* the identity keys OpenSSL held for handshakes */
	clients_close_all(&l.clients);
	close(l.lfd);
	unlink(d.socket_path);
	close(l.sfd);
	control_events_read(&d);
	control_denials_flush(&d, true);
	control_usage_save(&d);
	close_storage(&d);
	return 0;

err_listen:
	close(l.lfd);
	unlink(d.socket_path);
err_signals:
	close(l.sfd);
	close_storage(&d);
	kms_keys_free(d.kms);
	return 1;
}
