/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _HSMKEY_SESSION_H
#define _HSMKEY_SESSION_H

#include <linux/types.h>

int hsmkey_session_init(void);
void hsmkey_session_exit(void);
bool hsmkey_session_ready(void);
int hsmkey_session_add(const u8 *material, unsigned int len, unsigned int ttl,
		       u8 *token, u32 *handle);
int hsmkey_session_take(const u8 *buf, unsigned int len, u8 *material);
void hsmkey_session_flush(void);
int hsmkey_session_state(u32 handle);
int hsmkey_session_freeze(void);
void hsmkey_session_thaw(void);
void hsmkey_session_prune_hold(bool hold);
unsigned int hsmkey_session_count(void);

#endif
