// SPDX-License-Identifier: GPL-2.0
/*
 * hsmkey: crypto algorithms keyed by references to keys the module holds,
 * provisioned by hsmkeyd over generic netlink.
 */
#include <linux/module.h>
#include <net/genetlink.h>
#include "keys.h"
#include "netlink.h"
#include "skcipher.h"

static int __init hsmkey_init(void)
{
	int err;

	err = hsmkey_keys_init();
	if (err)
		return err;
	err = hsmkey_skcipher_register();
	if (err)
		goto err_keys;
	err = hsmkey_netlink_init();
	if (err)
		goto err_skcipher;
	pr_info("version %s loaded\n", HSMKEY_VERSION);
	return 0;

err_skcipher:
	hsmkey_skcipher_unregister();
err_keys:
	hsmkey_keys_exit();
	return err;
}

static void __exit hsmkey_exit(void)
{
	hsmkey_netlink_exit();
	hsmkey_skcipher_unregister();
	hsmkey_keys_exit();
}

module_init(hsmkey_init);
module_exit(hsmkey_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Kernel crypto algorithms keyed by HSM- and KMS-held keys");
MODULE_VERSION(HSMKEY_VERSION);
MODULE_ALIAS_GENL_FAMILY(HSMKEY_GENL_NAME);
