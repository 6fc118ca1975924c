// SPDX-License-Identifier: GPL-2.0
/*
 * Argument parsing for the command files: each command states its options
 * as a table (struct arg_opt) and args_parse() does the rest the same way
 * for all -- names in order, --help, and one wording for an option a
 * command does not take or a value it lacks.  What the options mean stays
 * in the command's file.  Also the usage message and opening a key file
 * with the caller's rights.
 */
#include <assert.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>
#include "ctl.h"

#define ARGS_MAX	16	/* options of one command */
#define ARG_LONG	256	/* getopt_long's value for option i: ARG_LONG + i */

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
static int bad_option(const char *usage, char **argv, int c)
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

static bool takes_value(const struct arg_opt *o)
{
	return !o->flag;
}

/* @opts as getopt_long wants them, with --help (-h) last. */
static void getopt_tables(const struct arg_opt *opts, struct option *longopts, char *shortopts)
{
	int i;

	shortopts += sprintf(shortopts, "-:");
	for (i = 0; opts && opts[i].name; i++) {
		bool value = takes_value(&opts[i]);

		assert(i < ARGS_MAX);
		longopts[i] = (struct option){ opts[i].name,
					       value ? required_argument : no_argument,
					       NULL, ARG_LONG + i };
		if (opts[i].letter)
			shortopts += sprintf(shortopts, "%c%s", opts[i].letter, value ? ":" : "");
	}
	longopts[i] = (struct option){ "help", no_argument, NULL, 'h' };
	longopts[i + 1] = (struct option){};
	strcpy(shortopts, "h");
}

/* The option getopt_long returned as @c, or NULL for none of @opts. */
static const struct arg_opt *option_of(const struct arg_opt *opts, int c)
{
	int i;

	for (i = 0; opts && opts[i].name; i++)
		if (c == ARG_LONG + i || (opts[i].letter && c == opts[i].letter))
			return &opts[i];
	return NULL;
}

static int take(const struct arg_opt *o, const char *arg)
{
	if (o->handle)
		return o->handle(o, arg);
	if (o->flag)
		*o->flag = true;
	else
		*o->value = arg;
	return 0;
}

int args_parse(int argc, char **argv, const char *usage, const struct arg_opt *opts,
	       const char **pos, int npos)
{
	struct option longopts[ARGS_MAX + 2];
	char shortopts[2 * ARGS_MAX + 4];
	const struct arg_opt *o;
	int c, r, n = 0;

	for (c = 0; c < npos; c++)
		pos[c] = NULL;
	getopt_tables(opts, longopts, shortopts);
	optind = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (c == 1) {
			if (n == npos)
				return usage_error(usage, "unexpected argument '%s'", optarg);
			pos[n++] = optarg;
		} else if (c == 'h') {
			printf("Usage: hsmkeyctl %s\n", usage);
			return HELP_SHOWN;
		} else if (!(o = option_of(opts, c))) {
			return bad_option(usage, argv, c);
		} else if ((r = take(o, optarg))) {
			return r;
		}
	}
	return 0;
}

int args_exact(int argc, char **argv, const char *usage, const struct arg_opt *opts,
	       const char **pos, int npos)
{
	int r = args_parse(argc, argv, usage, opts, pos, npos);

	if (!r && npos && !pos[npos - 1])
		return usage_error(usage, "%s: missing arguments", argv[0]);
	return r;
}

/* Opened here, with the caller's rights; the daemon reads it. */
int open_key_file(const char *file)
{
	int fd = strcmp(file, "-") ? open(file, O_RDONLY | O_CLOEXEC) : dup(0);

	if (fd < 0)
		fprintf(stderr, "hsmkeyctl: cannot open key file %s: %m\n", file);
	return fd;
}
