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
#include "keys.h"
#include "netlink.h"
#include "skcipher.h"

/*
 * A hibernation image would write the key table, material and expanded
 * schedules included, to disk: refuse it while any key is loaded.
 */
static int hsmkey_pm_notify(struct notifier_block *nb, unsigned long action,
			    void *data)
{
	if (action != PM_HIBERNATION_PREPARE || !hsmkey_keys_count())
		return NOTIFY_DONE;
	pr_warn("hibernation refused: %u key versions are loaded\n",
		hsmkey_keys_count());
	return notifier_from_errno(-EBUSY);
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
	err = hsmkey_skcipher_register();
	if (err)
		goto err_pm;
	err = hsmkey_aead_register();
	if (err)
		goto err_skcipher;
	err = hsmkey_netlink_init();
	if (err)
		goto err_aead;
	err = hsmkey_dev_init();
	if (err)
		goto err_netlink;
	pr_info("version %s loaded\n", HSMKEY_VERSION);
	return 0;

err_netlink:
	hsmkey_netlink_exit();
err_aead:
	hsmkey_aead_unregister();
err_skcipher:
	hsmkey_skcipher_unregister();
err_pm:
	unregister_pm_notifier(&hsmkey_pm_nb);
err_keys:
	hsmkey_keys_exit();
	return err;
}

static void __exit hsmkey_exit(void)
{
	hsmkey_dev_exit();
	hsmkey_netlink_exit();
	hsmkey_aead_unregister();
	hsmkey_skcipher_unregister();
	unregister_pm_notifier(&hsmkey_pm_nb);
	hsmkey_keys_exit();
}

module_init(hsmkey_init);
module_exit(hsmkey_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Kernel crypto algorithms keyed by HSM- and KMS-held keys");
MODULE_VERSION(HSMKEY_VERSION);
MODULE_ALIAS_GENL_FAMILY(HSMKEY_GENL_NAME);
