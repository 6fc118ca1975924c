/* SPDX-License-Identifier: GPL-2.0 */
/* Scheduled deletions (deletion.c); the event loop asks when one is due. */
#ifndef HSMKEY_DELETION_H
#define HSMKEY_DELETION_H

#include <stdint.h>

struct daemon;

/* A deletion is due at @at: the loop looks no later than that. */
void note_deletion(struct daemon *d, int64_t at);

#endif
