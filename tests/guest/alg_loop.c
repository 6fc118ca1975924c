// SPDX-License-Identifier: GPL-2.0
/*
 * alg_loop TOKEN-HEX ALG MARKER STOP: bind a tfm of ALG with the token and
 * encrypt 4 KiB requests until the file STOP exists.  Per request, print
 * "1" if MARKER existed before the request started (else "0"), then "ok"
 * or the errno: how revoke.sh sees what requests issued after a revoke do.
 */
#include <stdlib.h>
#include "nltest.h"
#include "algtest.h"

int main(int argc, char **argv)
{
	static uint8_t buf[4096];
	uint8_t tok[HSMKEY_TOKEN_LEN], iv[16] = { 0 };
	int fd, r;

	if (argc != 5 || strlen(argv[1]) != 2 * HSMKEY_TOKEN_LEN) {
		fprintf(stderr, "usage: alg_loop TOKEN-HEX ALG MARKER STOP\n");
		return 2;
	}
	unhex(argv[1], tok);
	fd = alg_open(argv[2]);
	if (fd < 0 || alg_setkey(fd, tok, sizeof(tok))) {
		perror("bind");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (access(argv[4], F_OK)) {
		int after = !access(argv[3], F_OK);

		r = alg_crypt(fd, true, iv, buf, buf, sizeof(buf));
		if (r)
			printf("%d fail %d\n", after, -r);
		else
			printf("%d ok\n", after);
	}
	return 0;
}
