// SPDX-License-Identifier: GPL-2.0
/*
 * luks crypttab: open a volume at boot through /etc/crypttab.  systemd's
 * cryptsetup opens LUKS2 whatever the data cipher, so the only thing
 * hsmkey adds is order: the line goes into crypttab, and a drop-in makes
 * the volume's unit (systemd-cryptsetup@MAPNAME.service) want
 * hsmkeyd.service and start after it is ready, that is after its
 * load-at-start keys are in the kernel.  Wants=, not Requires=: a restart
 * of hsmkeyd (a package upgrade) must not stop the unit and detach the
 * volume -- the kernel keeps the key meanwhile.  --root writes under
 * another root (images, tests).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/hsmkey.h>
#include "ctl.h"
#include "luks.h"
#include "proto.h"
#include "run.h"
#include "util.h"

struct crypttab_args {
	const char *device, *map, *passfile, *root;
};

static int parse(int argc, char **argv, struct crypttab_args *a)
{
	const struct arg_opt opts[] = {
		{ "passphrase-file", 'p', .value = &a->passfile },
		{ "root", 'r', .value = &a->root },
		{}
	};
	const char *pos[2];
	int r;

	memset(a, 0, sizeof(*a));
	r = args_parse(argc, argv, LUKS_USAGE, opts, pos, 2);
	if (r)
		return r;
	a->device = pos[0];
	a->map = pos[1];
	if (!a->map)
		return usage_error(LUKS_USAGE, "luks %s: missing arguments", argv[0]);
	if (!valid_name(a->map))
		return usage_error(LUKS_USAGE, "invalid volume name '%s'", a->map);
	if (a->passfile && (a->passfile[0] != '/' || strpbrk(a->passfile, " \t\n#")))
		return usage_error(LUKS_USAGE, "--passphrase-file needs an absolute path without blanks or '#': '%s'",
				   a->passfile);
	a->root = a->root ?: "";
	return 0;
}

/* Warn when the key would not be in the kernel before systemd opens the volume. */
static int check_loaded_at_start(const char *name)
{
	struct json_object *req = request("show"), *reply, *policy;
	int r;

	add(req, "name", name);
	r = call(req, -1, &reply);
	policy = r ? NULL : json_object_object_get(reply, "policy");
	if (policy && !json_object_get_boolean(json_object_object_get(policy, "load_at_start")))
		fprintf(stderr, "hsmkeyctl: warning: key '%s' is not loaded at start; 'hsmkeyctl policy %s --load-at-start yes' for boot\n",
			name, name);
	json_object_put(reply);
	return r;
}

/* @path's text (up to 1 MiB), "" when absent; NULL after reporting. */
static char *read_text(const char *path)
{
	struct stat st;
	char *text = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT)
		return strdup("");
	if (fd < 0) {
		fprintf(stderr, "hsmkeyctl: cannot read %s: %m\n", path);
		return NULL;
	}
	if (fstat(fd, &st) == 0 && st.st_size < (1 << 20)) {
		text = calloc(1, (size_t)st.st_size + 1);
		if (text && read_full(fd, text, (size_t)st.st_size) < 0) {
			free(text);
			text = NULL;
		}
	}
	close(fd);
	if (!text)
		fprintf(stderr, "hsmkeyctl: cannot read %s\n", path);
	return text;
}

static bool has_volume(const char *text, const char *map)
{
	for (const char *l = text; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] ? 1 : 0)) {
		size_t w = strcspn(l, " \t\n");

		if (w == strlen(map) && !strncmp(l, map, w))
			return true;
	}
	return false;
}

/* Write @text as @dir/@name, atomically: 0 or -errno. */
static int write_in(const char *dir, const char *name, const char *text)
{
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = dirfd < 0 ? -errno : write_file_atomic(dirfd, name, text, strlen(text), 0644);

	if (dirfd >= 0)
		close(dirfd);
	if (r)
		fprintf(stderr, "hsmkeyctl: cannot write %s/%s: %s\n", dir, name, strerror(-r));
	return r;
}

static int add_line(const struct crypttab_args *a, const char *uuid)
{
	char dir[PATH_MAX], path[PATH_MAX + 16], line[PATH_MAX + 256], *old, *text;
	size_t len;
	int r;

	snprintf(dir, sizeof(dir), "%s/etc", a->root);
	snprintf(path, sizeof(path), "%s/crypttab", dir);
	old = read_text(path);
	if (!old)
		return -EIO;
	if (has_volume(old, a->map)) {
		fprintf(stderr, "hsmkeyctl: %s already has a volume named %s\n", path, a->map);
		free(old);
		return -EEXIST;
	}
	len = strlen(old);
	snprintf(line, sizeof(line), "%s%s UUID=%s %s luks\n",
		 len && old[len - 1] != '\n' ? "\n" : "", a->map, uuid,
		 a->passfile ? a->passfile : "none");
	if (asprintf(&text, "%s%s", old, line) < 0) {
		free(old);
		return -ENOMEM;
	}
	r = write_in(dir, "crypttab", text);
	free(text);
	free(old);
	return r;
}

/* The drop-in of the volume's unit; @dir gets its directory. */
static int add_dropin(const struct crypttab_args *a, const char *key, char *dir, size_t dsize)
{
	char unit[4 * HSMKEY_NAME_MAX + 64], text[1024];
	size_t u = 0;
	int r;

	/* The unit's instance name, escaped as systemd-escape does it. */
	for (const char *c = a->map; *c; c++)
		u += (size_t)snprintf(unit + u, sizeof(unit) - u, *c == '-' ? "\\x2d" : "%c", *c);
	snprintf(dir, dsize, "%s/etc/systemd/system/systemd-cryptsetup@%s.service.d", a->root, unit);
	{
		char *const v[] = { "mkdir", "-p", dir, NULL };

		r = run(v);
	}
	if (r) {
		fprintf(stderr, "hsmkeyctl: cannot make %s\n", dir);
		return -EIO;
	}
	snprintf(text, sizeof(text),
		 "# Written by hsmkeyctl luks crypttab: volume %s needs key %s,\n"
		 "# which hsmkeyd provisions into the kernel before it reports ready.\n"
		 "# Wants=, not Requires=: restarting hsmkeyd must not stop this unit.\n"
		 "[Unit]\nWants=hsmkeyd.service\nAfter=hsmkeyd.service\n", a->map, key);
	return write_in(dir, "hsmkey.conf", text);
}

int luks_crypttab(int argc, char **argv)
{
	char uuid[128], name[HSMKEY_NAME_MAX + 1], id[2 * HSMKEY_ID_LEN + 1], dir[PATH_MAX];
	struct crypttab_args a;
	int r = parse(argc, argv, &a);

	if (r)
		return PARSED(r);
	r = luks_key_of(a.device, name, sizeof(name), id, sizeof(id));
	if (r)
		return r;
	{
		char *const v[] = { "cryptsetup", "luksUUID", (char *)a.device, NULL };

		if (run_capture(v, uuid, sizeof(uuid)) || !*uuid) {
			fprintf(stderr, "hsmkeyctl: cannot read the UUID of %s\n", a.device);
			return EXIT_FAILED;
		}
		uuid[strcspn(uuid, "\n")] = '\0';
	}
	r = check_loaded_at_start(name);
	if (r)
		return r;
	if (add_line(&a, uuid) || add_dropin(&a, name, dir, sizeof(dir)))
		return EXIT_FAILED;
	printf("added volume %s (UUID=%s, key %s) to %s/etc/crypttab and %s/hsmkey.conf;\n"
	       "run 'systemctl daemon-reload' (and enable hsmkeyd.service)\n",
	       a.map, uuid, name, a.root, dir);
	return EXIT_OK;
}
