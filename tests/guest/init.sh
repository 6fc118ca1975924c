#!/bin/bash
# PID 1 in the test guest: mount what a booted system has, load the CPU's
# crypto drivers as udev would, run $hsmkey_cmd, save the kernel log, stop.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm
ln -sf /proc/self/fd /dev/fd
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mkdir -p /results
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results /results
hostname hsmkey-guest
ip link set lo up 2>/dev/null
# What udev's CPU modalias matching does on a booted Debian system.
modprobe -q aesni_intel
modprobe -q loop
modprobe -q dm_crypt
modprobe -q algif_skcipher
echo "guest: kernel $(uname -r), $(nproc) CPUs" >&2

# /tmp stays the host's, under the overlay: the tree may live there.
if cd "$(dirname "$0")/../.."; then
	"$hsmkey_cmd" "$hsmkey_arg" > /results/output.txt 2>&1
	echo "$?" > /results/cmd-rc.txt
else
	echo "guest: the source tree is not visible" > /results/output.txt
	echo 1 > /results/cmd-rc.txt
fi
# Flush pending kmemleak-style reports and RCU callbacks before reading.
sleep 1
dmesg -r > /results/dmesg.txt
date > /results/done.txt
sync
poweroff -f
