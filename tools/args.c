// SPDX-License-Identifier: GPL-2.0
/*
 * Argument helpers the command files share: the usage message, the
 * wording of an option a command does not take, the parser of commands
 * that take only names, and opening a key file with the caller's rights.
 * Which options a command takes is decided only in the command's file.
 */
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>
#include "ctl.h"

int usage_error(const char *usage, const char *fmt, const char *arg)
{
	fprintf(stderr, "hsmkeyctl: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nUsage: hsmkeyctl %s\n", usage);
	return EXIT_USAGE;
}

/*
 * getopt_long's '?' or ':' for argv[optind - 1] (option strings start
 * with "-:" so that getopt itself stays quiet).
 */
int bad_option(const char *usage, char **argv, int c)
{
	const char *opt = argv[optind - 1];
	char what[128];

	if (c == ':') {
		snprintf(what, sizeof(what), "%s needs a value", opt);
	} else if (optopt && opt[0] == '-' && opt[1] != '-') {
		snprintf(what, sizeof(what), "%s takes no -%c", argv[0], optopt);
	} else {
		snprintf(what, sizeof(what), "%s takes no %.*s", argv[0],
			 (int)strcspn(opt, "="), opt);
	}
	return usage_error(usage, "%s", what);
}

/* Exactly @npos names and nothing else but --help. */
int args_plain(int argc, char **argv, const char *usage, int npos, const char **pos)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c, n = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "-:h", longopts, NULL)) != -1) {
		switch (c) {
		case 1:
			if (n == npos)
				return usage_error(usage, "unexpected argument '%s'", optarg);
			pos[n++] = optarg;
			break;
		case 'h':
			printf("Usage: hsmkeyctl %s\n", usage);
			return HELP_SHOWN;
		default:
			return bad_option(usage, argv, c);
		}
	}
	if (n != npos)
		return usage_error(usage, "%s: missing arguments", argv[0]);
	return 0;
}

/* Opened here, with the caller's rights; the daemon reads it. */
int open_key_file(const char *file)
{
	int fd = strcmp(file, "-") ? open(file, O_RDONLY | O_CLOEXEC) : dup(0);

	if (fd < 0)
		fprintf(stderr, "hsmkeyctl: cannot open key file %s: %m\n", file);
	return fd;
}
