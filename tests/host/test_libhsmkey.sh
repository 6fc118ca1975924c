#!/bin/bash
# libhsmkey as an application's developer gets it: "make install-lib" into
# a staging directory, then what is there (the shared object under its
# soname, the headers, the pkg-config file, a man page for every exported
# call), and a program built only from the installed header with what
# pkg-config says (tests/lib/libhsmkey_consumer.c), run against hsmkeyd:
# each output sized by the two-call length query (-ENOBUFS and the size
# needed, then the call again).
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/daemon.sh"

inst=$work/inst
multiarch=$(cc -print-multiarch)
libdir=$inst/usr/lib/$multiarch
man3=$inst/usr/share/man/man3
check "make install-lib DESTDIR=... installs without root's paths" \
	quiet make -s -C "$top" install-lib DESTDIR="$inst"
check "the library under its soname, libhsmkey.so naming it" bash -c \
	"test -f '$libdir/libhsmkey.so.0' && test \"\$(readlink '$libdir/libhsmkey.so')\" = libhsmkey.so.0 &&
	 readelf -d '$libdir/libhsmkey.so.0' | grep -q 'SONAME.*\\[libhsmkey.so.0\\]'"
check "the headers, and the pkg-config file" bash -c \
	"test -f '$inst/usr/include/hsmkey/kms.h' && test -f '$inst/usr/include/hsmkey/tls.h' &&
	 test -f '$libdir/pkgconfig/hsmkey.pc'"

# has_page SYMBOL: man3/SYMBOL.3 (a file, or a link to one) names SYMBOL,
# as a whole word, in its NAME section.
has_page() {
	local page=$man3/$1.3
	[[ -e $page ]] || return 1
	sed -n '/^\.SH NAME/,/^\.SH [^N]/p' "$page" | grep -qE "(^|[^a-z0-9_])$1([^a-z0-9_]|\$)"
}
nm -D --defined-only "$libdir/libhsmkey.so.0" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' |
	sort > "$work/exported"
check "it exports calls (at least 20)" test "$(wc -l < "$work/exported")" -ge 20
missing=()
while read -r sym; do
	has_page "$sym" || missing+=("$sym")
done < "$work/exported"
check "every exported call has a man page naming it (missing: ${missing[*]:-none})" \
	test ${#missing[@]} -eq 0
check "... and the controls: a name no page has, and one only part of a name, are missing" \
	bash -c "$(declare -f has_page); man3='$man3'; ! has_page hsmkey_no_such_call &&
		ln -s hsmkey_generate_mac.3 '$man3/hsmkey_generate.3' && ! has_page hsmkey_generate"

export PKG_CONFIG_SYSROOT_DIR=$inst
export PKG_CONFIG_LIBDIR=$libdir/pkgconfig:/usr/lib/$multiarch/pkgconfig:/usr/share/pkgconfig
cflags=$(pkg-config --cflags hsmkey) libs=$(pkg-config --libs hsmkey)
names_staged() {
	[[ " $cflags " == *" -I$inst/usr/include "* && " $libs " == *" -L$libdir "* &&
		" $libs " == *" -lhsmkey "* ]]
}
check "pkg-config names the staged headers and library ($cflags $libs)" names_staged
# shellcheck disable=SC2086
check "an application builds from the installed header alone (C11, -Wall -Wextra -Werror)" \
	cc -std=c11 -Wall -Wextra -Werror $cflags -o "$work/consumer" \
	"$top/tests/lib/libhsmkey_consumer.c" $libs
check "... and needs libhsmkey.so.0 at run time" bash -c \
	"readelf -d '$work/consumer' | grep -q 'NEEDED.*\\[libhsmkey.so.0\\]'"
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR

daemon_start || { fail "hsmkeyd starts"; tap_done; }
quiet ctl create kc --type kms-aes-256
quiet ctl policy kc --grant encrypt,decrypt:root
quiet ctl create ic --type ecdsa-p256
LD_LIBRARY_PATH=$libdir "$work/consumer" "$sock" kc ic > "$work/consumer.out" 2>&1
rc=$?
while read -r line; do
	case $line in
	ok:*) ok "${line#ok: }" ;;
	*) fail "$line" ;;
	esac
done < "$work/consumer.out"
check "the application ran its 10 checks and exited 0" bash -c \
	"test $rc -eq 0 && test \"\$(grep -c '^ok: ' '$work/consumer.out')\" -eq 10"
check "... on the staged library, not another" bash -c \
	"LD_LIBRARY_PATH='$libdir' ldd '$work/consumer' | grep -q '$libdir/libhsmkey.so.0'"
tap_done
