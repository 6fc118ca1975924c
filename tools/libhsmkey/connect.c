// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libhsmkey's connection to hsmkeyd's control socket, for every call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "proto.h"

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
	int fd;

	path = lib_socket_path(path);
	fd = proto_connect(path, timeout_s);
	if (fd < 0)
		snprintf(why, len, "cannot reach hsmkeyd at %s: %s", path, strerror(-fd));
	return fd;
}
