// SPDX-License-Identifier: GPL-2.0
/*
 * hsmkeyd: owns key storage and provisions keys into hsmkey.ko.
 *
 * Process model: one thread and one poll() loop over the control socket's
 * listener, its connected clients and a signalfd.  Each readable client
 * gets one request served and one reply.  SIGTERM and SIGINT stop the
 * daemon cleanly (keys stay in the kernel: volumes keep working); SIGHUP
 * re-provisions every active key.  The process is not dumpable, so no core
 * dump and no ptrace by other users can reach the master key or material.
 */
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>
#include "control.h"
#include "kernel.h"
#include "util.h"

#define MAX_CLIENTS 64

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hsmkeyd [OPTIONS]\n"
		"Keeps keys in an embedded keystore and provisions them into hsmkey.ko.\n\n"
		"  -d, --state-dir DIR   keystore directory (default /var/lib/hsmkey)\n"
		"  -S, --socket PATH     control socket (default /run/hsmkey/hsmkeyd.sock)\n"
		"  -v, --verbose         log debug messages\n"
		"  -h, --help            show this help\n"
		"  -V, --version         show the version\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "state-dir", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	struct daemon d = {
		.state_dir = "/var/lib/hsmkey",
		.socket_path = "/run/hsmkey/hsmkeyd.sock",
	};
	struct pollfd pfd[2 + MAX_CLIENTS];
	bool verbose = false, running = true;
	int nfds = 2, c, r, lfd, sfd;
	sigset_t mask;

	while ((c = getopt_long(argc, argv, "d:S:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': d.state_dir = optarg; break;
		case 'S': d.socket_path = optarg; break;
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
	log_init("hsmkeyd", verbose);
	prctl(PR_SET_DUMPABLE, 0);
	umask(077);

	if (ks_open(d.state_dir, &d.ks))
		return 1;
	r = control_load_all(&d);
	if (r)
		log_warn("%d key(s) could not be provisioned", r);

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	lfd = control_listen(d.socket_path);
	if (sfd < 0 || lfd < 0) {
		ks_close(d.ks);
		return 1;
	}
	pfd[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	log_info("ready: keystore %s, socket %s", d.state_dir, d.socket_path);

	while (running) {
		if (poll(pfd, (nfds_t)nfds, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %m");
			break;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP) {
					log_info("SIGHUP: provisioning active keys again");
					control_load_all(&d);
				} else {
					log_info("stopping on signal %u", si.ssi_signo);
					running = false;
				}
			}
		}
		if (pfd[1].revents & POLLIN) {
			int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (cfd >= 0 && nfds < (int)ARRAY_SIZE(pfd))
				pfd[nfds++] = (struct pollfd){ .fd = cfd, .events = POLLIN };
			else if (cfd >= 0)
				close(cfd);
		}
		for (int i = 2; i < nfds; i++) {
			if (!pfd[i].revents)
				continue;
			if ((pfd[i].revents & POLLIN) && control_serve(&d, pfd[i].fd) == 0)
				continue;
			close(pfd[i].fd);
			pfd[i--] = pfd[--nfds];
		}
	}
	for (int i = 2; i < nfds; i++)
		close(pfd[i].fd);
	close(lfd);
	unlink(d.socket_path);
	kernel_device_release();
	ks_close(d.ks);
	return 0;
}
