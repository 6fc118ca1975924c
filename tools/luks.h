/* SPDX-License-Identifier: GPL-2.0 */
/* What luks.c shares with crypttab.c. */
#ifndef HSMKEY_LUKS_H
#define HSMKEY_LUKS_H

#include <stddef.h>

#define LUKS_USAGE \
	"luks format DEVICE --key NAME [--passphrase-file FILE] [--yes] [-- CRYPTSETUP-OPTIONS]\n" \
	"       luks open DEVICE MAPNAME [--passphrase-file FILE] [-- CRYPTSETUP-OPTIONS]\n" \
	"       luks close MAPNAME\n" \
	"       luks crypttab DEVICE MAPNAME [--passphrase-file FILE] [--root DIR]"

/* The "hsmkey" LUKS2 token of @device: its key's name and id; reports failure. */
int luks_key_of(const char *device, char *name, size_t nsize, char *id, size_t isize);

#endif
