// SPDX-License-Identifier: GPL-2.0
/*
 * hsmkeyd: owns key storage and provisions keys into hsmkey.ko.
 *
 * Process model: one thread and one poll() loop over the control socket's
 * listener, its connected clients and a signalfd.  Each readable client
 * gets one request served and one reply.  SIGTERM and SIGINT stop the
 * daemon cleanly (keys stay in the kernel: volumes keep working); SIGHUP
 * reloads the configuration (groups, verbosity) and converges the kernel
 * with the keystore again.  Under systemd (Type=notify) it reports READY=1
 * once keys are provisioned and the socket listens.  The process is not dumpable, so no core
 * dump and no ptrace by other users can reach the master key or material.
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
#include "config.h"
#include "control.h"
#include "kernel.h"
#include "util.h"
#include "worker.h"
#include "wrapkey.h"

#define MAX_CLIENTS 64

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hsmkeyd [OPTIONS]\n"
		"Keeps keys in an embedded keystore and provisions them into hsmkey.ko.\n\n"
		"  -c, --config PATH     configuration file (default " CONFIG_DEFAULT_PATH ")\n"
		"  -d, --state-dir DIR   keystore directory (default /var/lib/hsmkey)\n"
		"  -S, --socket PATH     control socket (default /run/hsmkey/hsmkeyd.sock)\n"
		"  -v, --verbose         log debug messages\n"
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
	cfg->verbose = n.verbose || verbose;
	pthread_rwlock_unlock(&d->cfg_lock);
	log_init("hsmkeyd", cfg->verbose);
	log_info("configuration reloaded: admin group '%s', reader group '%s', deletion wait %llds",
		 n.admin_group, n.reader_group, (long long)n.deletion_wait);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	static struct config cfg;
	struct daemon d = {
		.mutate = PTHREAD_MUTEX_INITIALIZER,
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.wrap_lock = PTHREAD_MUTEX_INITIALIZER,
		.cfg_lock = PTHREAD_RWLOCK_INITIALIZER,
		.cfg = &cfg,
	};
	struct workers *w = NULL;
	bool deletions_queued = false;
	int inflight = 0;
	const char *config_path = CONFIG_DEFAULT_PATH, *state_dir = NULL, *socket_path = NULL;
	struct pollfd pfd[4 + MAX_CLIENTS];
	bool verbose = false, running = true, config_given = false;
	int nfds = 4, c, r, lfd, sfd;
	char err[256];
	sigset_t mask;

	while ((c = getopt_long(argc, argv, "c:d:S:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; config_given = true; break;
		case 'd': state_dir = optarg; break;
		case 'S': socket_path = optarg; break;
		case 'v': verbose = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("hsmkeyd %s\n", HSMKEY_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	/* The file, then the command line over it. */
	config_defaults(&cfg);
	if (config_load(config_path, !config_given, &cfg, err, sizeof(err)) ||
	    (state_dir && snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", state_dir) < 0) ||
	    (socket_path && snprintf(cfg.socket, sizeof(cfg.socket), "%s", socket_path) < 0) ||
	    config_resolve(&cfg, err, sizeof(err))) {
		fprintf(stderr, "hsmkeyd: %s: %s\n", config_path, err);
		return 2;
	}
	cfg.verbose |= verbose;
	dirs_from_cli = state_dir || socket_path;
	d.state_dir = cfg.state_dir;
	d.socket_path = cfg.socket;
	log_init("hsmkeyd", cfg.verbose);
	prctl(PR_SET_DUMPABLE, 0);
	/*
	 * OpenSSL's secure heap (locked, left out of core dumps, cleared on
	 * free) for the private parts of keys it holds: the import key.
	 */
	if (CRYPTO_secure_malloc_init(1 << 16, 64) != 1)
		log_warn("no OpenSSL secure heap: the import key's private half is in ordinary memory");
	umask(077);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);	/* a full file is an error to report, not a death */

	if (embedded_open(d.state_dir, cfg.passphrase ? cfg.passphrase_file : NULL, &d.be))
		return 1;
	d.statefd = open(d.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = d.statefd < 0 ? -errno : audit_open(d.be, d.statefd, &d.audit);
	if (r) {
		log_error("cannot open the audit log in %s: %s", d.state_dir, strerror(-r));
		d.be->ops->close(d.be);
		return 1;
	}
	audit_rotate_at(d.audit, cfg.audit_rotate_size);
	audit_anchor_check(&d);
	if (control_audit(&d, "checkpoint", 0, "start") && !cfg.audit_fail_open) {
		log_error("the audit log cannot be written; not starting (audit_fail_closed)");
		d.be->ops->close(d.be);
		return 1;
	}
	control_events_open(&d);
	r = control_load_all(&d);
	if (r)
		log_warn("%d key(s) could not be provisioned", r);

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);	/* before the threads: theirs too */
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	lfd = control_listen(d.socket_path);
	r = workers_start(&d, &w);
	if (sfd < 0 || lfd < 0 || r) {
		if (r)
			log_error("cannot start the worker threads: %s", strerror(-r));
		d.be->ops->close(d.be);
		return 1;
	}
	pfd[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	/* The kernel's events: -1 (ignored by poll) until the group is joined. */
	pfd[2] = (struct pollfd){ .fd = d.events ? kernel_events_fd(d.events) : -1,
				  .events = POLLIN };
	pfd[3] = (struct pollfd){ .fd = workers_donefd(w), .events = POLLIN };
	log_info("ready: keystore %s, socket %s", d.state_dir, d.socket_path);
	notify("READY=1");

	/*
	 * The loop reads signals, kernel events and client sockets; requests,
	 * reconciliations and deletions go to the workers (worker.h), so that
	 * no backend call, however slow, holds up events or other clients.
	 */
	while (running) {
		int wait = control_deletions_due(&d);

		if (wait == 0 && !deletions_queued && !workers_submit(w, JOB_DELETIONS, -1))
			deletions_queued = true;
		if (poll(pfd, (nfds_t)nfds, wait < 0 || deletions_queued ? -1 : wait * 1000) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %m");
			break;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP) {
					notify("RELOADING=1");
					reload(&d, config_path, !config_given, verbose);
					log_info("SIGHUP: converging the kernel with the keystore");
					workers_submit(w, JOB_RECONCILE, -1);
					control_events_open(&d);
					pfd[2].fd = d.events ? kernel_events_fd(d.events) : -1;
					notify("READY=1");
				} else {
					log_info("stopping on signal %u", si.ssi_signo);
					running = false;
				}
			}
		}
		if (pfd[1].revents & POLLIN) {
			int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (cfd >= 0 && nfds + inflight < (int)ARRAY_SIZE(pfd))
				pfd[nfds++] = (struct pollfd){ .fd = cfd, .events = POLLIN };
			else if (cfd >= 0)
				close(cfd);
		}
		if (pfd[2].revents) {
			control_events_read(&d);
			pfd[2].fd = d.events ? kernel_events_fd(d.events) : -1;
			if (d.resync) {
				/* Lost events: read the kernel's state afresh. */
				d.resync = false;
				workers_submit(w, JOB_RECONCILE, -1);
			}
		}
		if (pfd[3].revents & POLLIN) {
			int fds[MAX_CLIENTS];
			bool keep[MAX_CLIENTS];
			size_t n = workers_collect(w, fds, keep, ARRAY_SIZE(fds));

			for (size_t i = 0; i < n; i++) {
				if (fds[i] < 0) {
					deletions_queued = false;	/* a deletions round ended */
					continue;
				}
				inflight--;
				if (keep[i] && nfds < (int)ARRAY_SIZE(pfd)) {
					pfd[nfds++] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
				} else {
					close(fds[i]);
				}
			}
		}
		for (int i = 4; i < nfds; i++) {
			if (!pfd[i].revents)
				continue;
			/* Out of the poll set while a worker has it. */
			if ((pfd[i].revents & POLLIN) && !workers_submit(w, JOB_CLIENT, pfd[i].fd))
				inflight++;
			else
				close(pfd[i].fd);
			pfd[i--] = pfd[--nfds];
		}
	}
	workers_stop(w);
	for (int i = 4; i < nfds; i++)
		close(pfd[i].fd);
	close(lfd);
	notify("STOPPING=1");
	control_events_read(&d);
	control_audit(&d, "checkpoint", 0, "stop");
	unlink(d.socket_path);
	kernel_device_release();
	kernel_close(d.events);
	kernel_close(d.anchor);
	audit_close(d.audit);
	wrapkey_close(d.wrapkey);
	d.be->ops->close(d.be);
	return 0;
}
