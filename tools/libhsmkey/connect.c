// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libhsmkey's connection to hsmkeyd's control socket, for every call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "internal.h"

/*
 * Not getenv(): a set-user-ID program calling the library must not send
 * its plaintext to a socket its caller named.
 */
const char *lib_socket_path(const char *path)
{
	return path ?: secure_getenv("HSMKEYD_SOCKET") ?: LIB_DEFAULT_SOCKET;
}

int lib_connect(const char *path, int timeout_s, char *why, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_s };
	int fd, e;

	path = lib_socket_path(path);
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(why, len, "cannot reach hsmkeyd at %s: %s", path, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0)
		return fd;
	e = errno;
	if (fd >= 0)
		close(fd);
	snprintf(why, len, "cannot reach hsmkeyd at %s: %s", path, strerror(e));
	return -e;
}
