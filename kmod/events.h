/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _HSMKEY_EVENTS_H
#define _HSMKEY_EVENTS_H

#include <net/genetlink.h>
#include "keys.h"

void hsmkey_event(u32 type, const struct hsmkey_kid *kid, int err);
void hsmkey_event_unknown_key(void);
u64 hsmkey_events_sent(void);
u64 hsmkey_events_suppressed(void);
u64 hsmkey_events_unknown(void);
void hsmkey_events_start(const struct genl_family *family);
void hsmkey_events_stop(void);

#endif
