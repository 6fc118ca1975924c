// SPDX-License-Identifier: GPL-2.0
/*
 * Opening the key storage (the backend hsmkeyd.conf names) and the audit
 * log, whose keys come from it; and a degraded start: a backend that
 * cannot be reached (an HSM that is down) leaves the daemon running
 * without an audit log, and so without key changes, until it is back,
 * which every worker job looks for first.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include "audit.h"
#include "audit_anchor.h"
#include "backend.h"
#include "config.h"
#include "control.h"
#include "util.h"

static int open_backend(struct daemon *d, unsigned int flags)
{
	if (d->cfg->backend == CONFIG_BACKEND_PKCS11)
		return pkcs11_open(d->state_dir, d->cfg, flags, &d->be);
	if (d->cfg->backend == CONFIG_BACKEND_KMIP)
		return kmip_open(d->state_dir, d->cfg, flags, &d->be);
	return embedded_open(d->state_dir, d->cfg->passphrase ? d->cfg->passphrase_file : NULL,
			     flags, &d->be);
}

/* Whether the backend is unreachable now (an HSM that is down): *@why. */
static bool backend_down(struct daemon *d, char *why, size_t len)
{
	*why = '\0';
	return d->be->ops->health && d->be->ops->health(d->be, why, len);
}

/* The audit log, checked against the kernel's anchor, and its start record. */
static int open_audit(struct daemon *d, const char *detail)
{
	struct audit *a;
	int r = audit_open(d->be, d->statefd, &a);

	if (r) {
		log_error("cannot open the audit log in %s: %s", d->state_dir, strerror(-r));
		return r;
	}
	audit_rotate_at(a, d->cfg->audit_rotate_size);
	d->audit = a;
	audit_anchor_check(d);
	if (control_audit(d, "checkpoint", 0, detail) && !d->cfg->audit_fail_open) {
		log_error("the audit log cannot be written; not starting (audit_fail_closed)");
		d->audit = NULL;
		audit_close(a);
		return -EIO;
	}
	return 0;
}

/*
 * The keystore and the audit log.  A backend that cannot be reached (an
 * HSM that is down: the audit log's keys come from it) starts degraded:
 * no audit log, no reconciliation and every key request failing, until
 * control_storage_resume() finds it back.
 */
int open_storage(struct daemon *d, unsigned int flags)
{
	char why[256];
	int r;

	r = open_backend(d, flags);
	if (r)
		return r;
	d->statefd = open(d->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->statefd < 0) {
		r = -errno;
		log_error("cannot open %s: %m", d->state_dir);
		goto err;
	}
	if (backend_down(d, why, sizeof(why))) {
		log_error("DEGRADED: the key storage is unreachable (%s); keys already in the kernel keep working, requests that need it fail until it is back",
			  why);
		return 0;
	}
	r = open_audit(d, "start");
	if (r)
		goto err;
	return 0;
err:
	if (d->statefd >= 0)
		close(d->statefd);
	d->be->ops->close(d->be);
	return r;
}

/*
 * Before each worker job: a degraded start whose backend is back opens
 * the audit log and asks for a reconciliation (what could not be loaded).
 */
void control_storage_resume(struct daemon *d)
{
	char why[256];

	if (d->audit)
		return;
	pthread_mutex_lock(&d->mutate);
	if (!d->audit && !backend_down(d, why, sizeof(why)) &&
	    !open_audit(d, "start (the key storage is reachable again)")) {
		log_info("the key storage is reachable: no longer degraded (%s)", why);
		notify("STATUS=");
		d->resync = true;
	}
	pthread_mutex_unlock(&d->mutate);
}
