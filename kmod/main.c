// SPDX-License-Identifier: GPL-2.0
/*
 * hsmkey: crypto algorithms keyed by references to keys the module holds,
 * provisioned by hsmkeyd over generic netlink.
 */
#include <linux/module.h>
#include <linux/suspend.h>
#include <net/genetlink.h>
#include "aead.h"
#include "dev.h"
#include "e2e.h"
#include "keys.h"
#include "ktls.h"
#include "netlink.h"
#include "session.h"
#include "skcipher.h"

/*
 * A hibernation image would write the key table, material and expanded
 * schedules included, to disk: refuse it while any key is loaded or a
 * daemon holds a transport key, and refuse new keys from then until it is
 * over.
 */
static int hsmkey_pm_notify(struct notifier_block *nb, unsigned long action,
			    void *data)
{
	switch (action) {
	case PM_HIBERNATION_PREPARE:
		/* The transport key's schedule would reach the image too. */
		if (hsmkey_dev_holder_pid()) {
			pr_warn("hibernation refused: a daemon is registered on /dev/hsmkey\n");
			return notifier_from_errno(-EBUSY);
		}
		/* Session keys outlive the daemon's registration by seconds. */
		if (hsmkey_session_freeze()) {
			pr_warn("hibernation refused: %u kTLS session keys are waiting in the table\n",
				hsmkey_session_count(NULL));
			return notifier_from_errno(-EBUSY);
		}
		if (!hsmkey_keys_freeze())
			return NOTIFY_DONE;
		hsmkey_session_thaw();
		pr_warn("hibernation refused: %u key versions are loaded\n",
			hsmkey_keys_count());
		return notifier_from_errno(-EBUSY);
	case PM_POST_HIBERNATION:
		hsmkey_keys_thaw();
		hsmkey_session_thaw();
		return NOTIFY_DONE;
	default:
		return NOTIFY_DONE;
	}
}

static struct notifier_block hsmkey_pm_nb = {
	.notifier_call = hsmkey_pm_notify,
};

static int __init hsmkey_init(void)
{
	int err;

	err = hsmkey_keys_init();
	if (err)
		return err;
	err = register_pm_notifier(&hsmkey_pm_nb);
	if (err)
		goto err_keys;
	err = hsmkey_netlink_init();
	if (err)
		goto err_pm;
	err = hsmkey_dev_init();
	if (err)
		goto err_netlink;
	/* Last: once visible, the algorithms can be bound at any moment. */
	err = hsmkey_skcipher_register();
	if (err)
		goto err_dev;
	err = hsmkey_aead_register();
	if (err)
		goto err_skcipher;
	err = hsmkey_ktls_register();
	if (err)
		goto err_aead;
	/* Nothing can fail any more: let the daemon in. */
	hsmkey_netlink_enable();
	hsmkey_dev_enable();
	pr_info("version %s loaded\n", HSMKEY_VERSION);
	return 0;

err_aead:
	hsmkey_aead_unregister();
err_skcipher:
	hsmkey_skcipher_unregister();
err_dev:
	hsmkey_dev_exit();
err_netlink:
	hsmkey_netlink_exit();
err_pm:
	unregister_pm_notifier(&hsmkey_pm_nb);
err_keys:
	hsmkey_keys_exit();
	/* 6.1 runs the KUnit suites before init: they may have used e2e. */
	hsmkey_e2e_exit();
	return err;
}

static void __exit hsmkey_exit(void)
{
	hsmkey_ktls_unregister();
	hsmkey_aead_unregister();
	hsmkey_skcipher_unregister();
	hsmkey_dev_exit();
	hsmkey_e2e_exit();
	hsmkey_netlink_exit();
	unregister_pm_notifier(&hsmkey_pm_nb);
	hsmkey_keys_exit();
}

module_init(hsmkey_init);
module_exit(hsmkey_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Kernel crypto algorithms keyed by HSM- and KMS-held keys");
MODULE_VERSION(HSMKEY_VERSION);
MODULE_ALIAS_GENL_FAMILY(HSMKEY_GENL_NAME);
