/* SPDX-License-Identifier: GPL-2.0 */
#ifndef HSMKEY_CONTROL_H
#define HSMKEY_CONTROL_H

#include "config.h"
#include "keystore.h"

struct daemon {
	const struct config *cfg;
	struct keystore *ks;
	const char *state_dir;
	const char *socket_path;
};

int control_listen(const char *path);
/* Serve one request on a connected client; -ECONNRESET when it has gone. */
int control_serve(struct daemon *d, int cfd);
/* Provision every active key into the kernel; returns how many failed. */
int control_load_all(struct daemon *d);

#endif
