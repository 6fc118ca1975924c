// SPDX-License-Identifier: GPL-2.0
/*
 * The token reaches dm-crypt as a logon key in the daemon's thread keyring
 * (":64:logon:hsmkey:<map>" in the table), so neither the token nor any key
 * appears in the dm table, and the logon key is invalidated as soon as
 * dm-crypt has taken it.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <keyutils.h>
#include <libdevmapper.h>
#include <linux/fs.h>
#include "util.h"
#include "volume.h"

#define CIPHER "capi:xts(hsmaes)-plain64"

static int dm_run(struct dm_task *dmt)
{
	uint32_t cookie = 0;
	int ok;

	if (!dm_task_set_cookie(dmt, &cookie, 0))
		return -EIO;
	ok = dm_task_run(dmt);
	dm_udev_wait(cookie);
	return ok ? 0 : -EIO;
}

int volume_open(dev_t device, uint64_t bytes, const char *map, const struct ks_key *key,
		char *err, size_t errlen)
{
	char params[512], desc[HSMKEY_NAME_MAX + 16], uuid[128];
	struct hsmkey_token tok;
	struct dm_task *dmt;
	key_serial_t serial;
	int r;

	if (!valid_name(map)) {
		snprintf(err, errlen, "invalid mapping name '%s'", map);
		return -EINVAL;
	}

	snprintf(desc, sizeof(desc), "hsmkey:%s", map);
	ks_token(key, &tok);
	serial = add_key("logon", desc, &tok, sizeof(tok), KEY_SPEC_THREAD_KEYRING);
	wipe(&tok, sizeof(tok));
	if (serial < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot add the token to the kernel keyring: %s",
			 strerror(errno));
		return r;
	}
	snprintf(params, sizeof(params), "%s :%zu:logon:%s 0 %u:%u 0", CIPHER,
		 sizeof(tok), desc, major(device), minor(device));
	snprintf(uuid, sizeof(uuid), VOLUME_UUID_PREFIX "%s", map);

	r = -ENOMEM;
	dmt = dm_task_create(DM_DEVICE_CREATE);
	if (dmt && dm_task_set_name(dmt, map) && dm_task_set_uuid(dmt, uuid) &&
	    dm_task_add_target(dmt, 0, bytes / 512, "crypt", params))
		r = dm_run(dmt);
	if (dmt)
		dm_task_destroy(dmt);
	keyctl_invalidate(serial);
	if (r)
		snprintf(err, errlen, "device-mapper could not create '%s' (is it in use already? is hsmkey.ko loaded?)",
			 map);
	return r;
}

int volume_close(const char *map, char *err, size_t errlen)
{
	struct dm_task *dmt;
	const char *uuid;
	struct dm_info info;
	int r = -ENOMEM;

	if (!valid_name(map)) {
		snprintf(err, errlen, "invalid mapping name '%s'", map);
		return -EINVAL;
	}
	dmt = dm_task_create(DM_DEVICE_INFO);
	if (!dmt || !dm_task_set_name(dmt, map) || !dm_task_run(dmt) ||
	    !dm_task_get_info(dmt, &info)) {
		snprintf(err, errlen, "cannot query device-mapper for '%s'", map);
		goto out;
	}
	uuid = dm_task_get_uuid(dmt);
	if (!info.exists || !uuid ||
	    strncmp(uuid, VOLUME_UUID_PREFIX, strlen(VOLUME_UUID_PREFIX))) {
		r = -ENOENT;
		snprintf(err, errlen, "'%s' is not a volume opened by hsmkey", map);
		goto out;
	}
	dm_task_destroy(dmt);
	dmt = dm_task_create(DM_DEVICE_REMOVE);
	r = dmt && dm_task_set_name(dmt, map) ? dm_run(dmt) : -ENOMEM;
	if (r)
		snprintf(err, errlen, "cannot remove '%s' (is it mounted or open?)", map);
out:
	if (dmt)
		dm_task_destroy(dmt);
	return r;
}
