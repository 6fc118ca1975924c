/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _HSMKEY_SESSION_H
#define _HSMKEY_SESSION_H

#include <linux/types.h>

int hsmkey_session_init(void);
void hsmkey_session_exit(void);
bool hsmkey_session_ready(void);
struct hsmkey_session;

int hsmkey_session_add(const u8 *material, unsigned int len, unsigned int ttl,
		       u8 *token, u32 *handle);
int hsmkey_session_take(const u8 *buf, unsigned int len, u8 *material,
			struct hsmkey_session **bound);
int hsmkey_session_use(struct hsmkey_session *s);
void hsmkey_session_unbind(struct hsmkey_session *s);
int hsmkey_session_revoke(u32 handle);
void hsmkey_session_flush(void);
int hsmkey_session_state(u32 handle, u64 *records);
int hsmkey_session_freeze(void);
void hsmkey_session_thaw(void);
void hsmkey_session_prune_hold(bool hold);
void hsmkey_session_records_set(struct hsmkey_session *s, u64 n);
unsigned int hsmkey_session_count(unsigned int *bound);

#endif
