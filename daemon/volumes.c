// SPDX-License-Identifier: GPL-2.0
/*
 * dm open and dm close: plain dm-crypt volumes keyed by a key's token.
 */
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "provision.h"
#include "proto.h"
#include "request.h"
#include "util.h"
#include "volume.h"

/*
 * Before the mutation lock: open the device without waiting (a FIFO or a
 * device that blocks on open holds up no change) and keep its number.
 */
int open_device(struct request *rq)
{
	const char *device = proto_str(rq->req, "device");
	uint64_t bytes = 0;
	struct stat st;
	int fd, r = 0;

	if (!device || device[0] != '/')
		return fail(rq, EINVAL, "dm open needs the absolute path of a block device");
	fd = open(device, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISBLK(st.st_mode) ||
	    ioctl(fd, BLKGETSIZE64, &bytes) < 0)
		r = fd < 0 ? -errno : -ENOTBLK;
	if (fd >= 0)
		close(fd);
	if (r)
		return fail(rq, r, "%s is not a block device that can be opened: %s", device,
			    strerror(-r));
	if (bytes < 512)
		return fail(rq, EINVAL, "%s is empty", device);
	rq->device = st.st_rdev;
	rq->device_bytes = bytes;
	return 0;
}

int op_dm_open(struct request *rq)
{
	const char *device = proto_str(rq->req, "device"), *map, *name;
	_cleanup_kernel_ struct kernel *k = NULL;
	_cleanup_key_ struct ks_key key = { 0 };
	int r;

	if ((r = get_name(rq, "map", &map)) || (r = get_name(rq, "key", &name)) ||
	    (r = open_kernel(rq, &k)))
		return r;
	r = get_key(rq, name, true, &key);
	if (!r && (key.state == KS_DISABLED || key.state == KS_PENDING_DELETION))
		r = fail(rq, EPERM, "key '%s' is %s: it opens no new volumes", name,
			 ks_state_name(key.state));
	else if (!r && key.state != KS_ACTIVE)
		r = fail(rq, EKEYREVOKED, "key '%s' is revoked", name);
	if (!r && !is_xts(key.type))
		r = fail(rq, EKEYREJECTED, "key '%s' is %s; dm-crypt volumes need an aes-128-xts or aes-256-xts key",
			 name, key_type_name(key.type));
	if (!r)
		r = provision(rq, k, &key);
	if (!r) {
		r = volume_open(rq->device, rq->device_bytes, map, &key, rq->err,
				sizeof(rq->err));
		if (!r)
			log_info("opened volume %s on %s with key %s", map, device, name);
	}
	if (!r) {
		char path[128];

		snprintf(path, sizeof(path), "/dev/mapper/%s", map);
		json_object_object_add(rq->reply, "path", json_object_new_string(path));
	}
	return r;
}

int op_dm_close(struct request *rq)
{
	const char *map;
	int r;

	if ((r = get_name(rq, "map", &map)))
		return r;
	r = volume_close(map, rq->err, sizeof(rq->err));
	if (!r)
		log_info("closed volume %s", map);
	return r;
}
