#!/bin/bash
# A guest command for the harness's own tests: "warn" puts a kernel warning
# line into the log, "hang" never returns.
case ${1:-} in
warn) echo "<4>WARNING: hsmkey harness positive control" > /dev/kmsg ;;
hang) sleep 100000 ;;
esac
