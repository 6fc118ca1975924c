// SPDX-License-Identifier: GPL-2.0
/*
 * tls serve and tls connect: TLS over kernel TLS through libhsmkey
 * (hsmkey/tls.h), so that an operator, and the tests, can try a key and
 * certificate without writing code.  hsmkeyctl holds no key: hsmkeyd runs
 * each handshake and the kernel each record.  Both run as the calling
 * user, whom the identity key's policy must allow.
 */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <hsmkey/tls.h>
#include "ctl.h"
#include "number.h"

struct tls_opts {
	const char *key, *cert, *ca, *alpn, *server_name, *file, *address, *count;
};

/* What a peer sent, printable: no terminal escape reaches the operator. */
static const char *clean(char *s)
{
	for (char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			*c = '?';
	return s;
}

static void report(const char *who, struct hsmkey_tls_result *res)
{
	fprintf(stderr, "hsmkeyctl: %s: %s %s%s%s%s%s%s%s\n", who, res->version, res->cipher,
		*res->alpn ? ", alpn " : "", clean(res->alpn),
		*res->server_name ? ", sni " : "", clean(res->server_name),
		*res->peer_subject ? ", peer " : "", clean(res->peer_subject));
}

static int write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The file, by sendfile(): the kernel reads it and encrypts it. */
static int send_file(int fd, const char *path)
{
	int in = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	off_t off = 0;

	if (in < 0 || fstat(in, &st) < 0) {
		fprintf(stderr, "hsmkeyctl: tls serve: %s: %m\n", path);
		if (in >= 0)
			close(in);
		return -1;
	}
	while (off < st.st_size) {
		ssize_t n = sendfile(fd, in, &off, (size_t)(st.st_size - off));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "hsmkeyctl: tls serve: sendfile: %m\n");
			close(in);
			return -1;
		}
	}
	close(in);
	return 0;
}

/* Back what comes, until the client's close_notify or end. */
static int echo(int fd)
{
	char buf[16384];
	ssize_t n;

	while ((n = hsmkey_tls_read(fd, buf, sizeof(buf))) > 0)
		if (write_all(fd, buf, (size_t)n))
			return -1;
	return n < 0 ? -1 : 0;
}

/* One client, in its own process: the handshake, then the file or echo. */
static int serve_one(int fd, const struct tls_opts *o)
{
	struct hsmkey_tls_config cfg = {
		.role = HSMKEY_TLS_SERVER, .key = o->key, .cert_file = o->cert,
		.ca_file = o->ca, .alpn = o->alpn, .socket_path = socket_path,
	};
	struct hsmkey_tls_result res;
	int r = hsmkey_tls_handshake(fd, &cfg, &res);

	if (r) {
		fprintf(stderr, "hsmkeyctl: tls serve: %s\n", clean(res.error));
		return EXIT_FAILED;
	}
	report("tls serve", &res);
	r = o->file ? send_file(fd, o->file) : echo(fd);
	if (!r)
		r = hsmkey_tls_close_notify(fd);
	return r ? EXIT_FAILED : EXIT_OK;
}

/* A listening socket on @a (0), or -errno. */
static int serve_on(int fd, const struct addrinfo *a)
{
	int one = 1;

	return setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	       bind(fd, a->ai_addr, a->ai_addrlen) || listen(fd, 64) ? -errno : 0;
}

static int connect_on(int fd, const struct addrinfo *a)
{
	return connect(fd, a->ai_addr, a->ai_addrlen) ? -errno : 0;
}

/* The first address of @ai that @step makes a socket of; -1 (errno) if none. */
static int first_socket(struct addrinfo *ai, int (*step)(int fd, const struct addrinfo *a))
{
	int fd = -1, e = 0;

	for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		e = fd < 0 ? errno : step(fd, a);
		if (fd >= 0 && e) {
			close(fd);
			fd = -1;
			e = -e;
		}
	}
	freeaddrinfo(ai);
	errno = e;
	return fd;
}

static int listen_on(const char *address, const char *port)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	int fd, e = getaddrinfo(address, port, &hints, &ai);

	if (e) {
		fprintf(stderr, "hsmkeyctl: tls serve: %s port %s: %s\n", address ?: "*", port,
			gai_strerror(e));
		return -1;
	}
	fd = first_socket(ai, serve_on);
	if (fd < 0)
		fprintf(stderr, "hsmkeyctl: tls serve: cannot listen on port %s: %m\n", port);
	return fd;
}

/* Wait for the clients' processes: 0 if each ended well. */
static int reap(bool block, int *failed)
{
	int status;
	pid_t p;

	while ((p = waitpid(-1, &status, block ? 0 : WNOHANG)) > 0)
		*failed += !WIFEXITED(status) || WEXITSTATUS(status) != EXIT_OK;
	return p;
}

static int serve(const char *port, const struct tls_opts *o)
{
	uint64_t count = 0, served = 0;
	int lfd, failed = 0;

	if (o->count && parse_u64(o->count, UINT32_MAX, &count)) {
		fprintf(stderr, "hsmkeyctl: tls serve: --count takes a number\n");
		return EXIT_USAGE;
	}
	lfd = listen_on(o->address, port);
	if (lfd < 0)
		return EXIT_FAILED;
	fprintf(stderr, "hsmkeyctl: tls serve: listening on port %s\n", port);
	while (!count || served < count) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		pid_t pid;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fprintf(stderr, "hsmkeyctl: tls serve: accept: %m\n");
			break;
		}
		pid = fork();
		if (pid == 0) {
			close(lfd);
			_exit(serve_one(fd, o));
		}
		close(fd);
		served += pid > 0;
		failed += pid < 0;
		reap(false, &failed);
	}
	close(lfd);
	reap(true, &failed);
	return failed ? EXIT_FAILED : EXIT_OK;
}

/* HOST:PORT or [HOST]:PORT, connected. */
static int connect_to(const char *target, char *host, size_t hlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	const char *colon = strrchr(target, ':'), *h = target;
	size_t n = colon ? (size_t)(colon - target) : 0;
	int fd, e;

	if (n && target[0] == '[' && target[n - 1] == ']')
		h++, n -= 2;
	if (!colon || !n || n >= hlen || !colon[1]) {
		fprintf(stderr, "hsmkeyctl: tls connect: '%s' is not HOST:PORT\n", target);
		return -1;
	}
	memcpy(host, h, n);
	host[n] = '\0';
	e = getaddrinfo(host, colon + 1, &hints, &ai);
	if (e) {
		fprintf(stderr, "hsmkeyctl: tls connect: %s: %s\n", target, gai_strerror(e));
		return -1;
	}
	fd = first_socket(ai, connect_on);
	if (fd < 0)
		fprintf(stderr, "hsmkeyctl: tls connect: %s: %m\n", target);
	return fd;
}

/* stdin to the server, the server to stdout, until the server is done. */
static int pump(int fd)
{
	struct pollfd p[2] = { { .fd = 0, .events = POLLIN }, { .fd = fd, .events = POLLIN } };
	char buf[16384];
	ssize_t n;

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (p[0].revents) {
			n = read(0, buf, sizeof(buf));
			if (n > 0 && write_all(fd, buf, (size_t)n))
				return -1;
			if (n <= 0) {
				p[0].fd = -1;	/* stdin done: tell the server */
				if (hsmkey_tls_close_notify(fd))
					return -1;
			}
		}
		if (p[1].revents) {
			n = hsmkey_tls_read(fd, buf, sizeof(buf));
			if (n <= 0)
				return n < 0 ? -1 : 0;
			if (write_all(1, buf, (size_t)n))
				return -1;
		}
	}
}

static int tls_connect(const char *target, const struct tls_opts *o)
{
	struct hsmkey_tls_config cfg = {
		.role = HSMKEY_TLS_CLIENT, .key = o->key, .cert_file = o->cert,
		.ca_file = o->ca, .alpn = o->alpn, .socket_path = socket_path,
	};
	struct hsmkey_tls_result res;
	char host[256];
	int fd = connect_to(target, host, sizeof(host)), r;

	if (fd < 0)
		return EXIT_FAILED;
	cfg.server_name = o->server_name ?: host;
	r = hsmkey_tls_handshake(fd, &cfg, &res);
	if (r) {
		fprintf(stderr, "hsmkeyctl: tls connect: %s\n", res.error);
		close(fd);
		return EXIT_FAILED;
	}
	report("tls connect", &res);
	r = pump(fd);
	if (r)
		fprintf(stderr, "hsmkeyctl: tls connect: %m\n");
	close(fd);
	return r ? EXIT_FAILED : EXIT_OK;
}

int cmd_tls(int argc, char **argv)
{
	static const char usage[] =
		"tls serve PORT --key NAME --cert FILE [--file FILE] [--ca FILE] [--alpn P1,P2]\n"
		"                          [--address ADDR] [--count N]\n"
		"       tls connect HOST:PORT [--server-name NAME] [--ca FILE] [--key NAME --cert FILE]\n"
		"                          [--alpn P1,P2]";
	struct tls_opts o = { 0 };
	const struct arg_opt opts[] = {
		{ "key", 'k', .value = &o.key },
		{ "cert", 'c', .value = &o.cert },
		{ "ca", 0, .value = &o.ca },
		{ "alpn", 0, .value = &o.alpn },
		{ "server-name", 0, .value = &o.server_name },
		{ "file", 'f', .value = &o.file },
		{ "address", 0, .value = &o.address },
		{ "count", 0, .value = &o.count },
		{}
	};
	const char *pos[2];
	int r = args_parse(argc, argv, usage, opts, pos, 2);

	if (r)
		return PARSED(r);
	if (!pos[0] || !pos[1] || (strcmp(pos[0], "serve") && strcmp(pos[0], "connect")))
		return usage_error(usage, "tls: %s", "serve PORT or connect HOST:PORT");
	if (!o.key != !o.cert)
		return usage_error(usage, "tls: %s", "--key and --cert go together");
	if (!strcmp(pos[0], "serve")) {
		if (!o.key)
			return usage_error(usage, "tls serve: %s", "needs --key and --cert");
		signal(SIGPIPE, SIG_IGN);
		return serve(pos[1], &o);
	}
	if (o.file || o.count || o.address)
		return usage_error(usage, "tls connect: %s", "--file, --count and --address are serve's");
	signal(SIGPIPE, SIG_IGN);
	return tls_connect(pos[1], &o);
}
