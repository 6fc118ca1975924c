// SPDX-License-Identifier: GPL-2.0
/*
 * The embedded keystore: sealing, persistence, locking, and files that are
 * corrupted or tampered with, which must be refused without harming others.
 *
 * The tests are in tests/host/keystore/, a file per concept, built here as
 * one translation unit: kselftest_harness.h keeps its list of tests static
 * per file, so the parts are included rather than linked.
 */
#include "keystore/common.h"
#include "keystore/basics.c"
#include "keystore/states.c"
#include "keystore/master.c"
#include "keystore/integrity.c"
#include "keystore/format.c"
#include "keystore/damage.c"
#include "keystore/refs.c"

TEST_HARNESS_MAIN
