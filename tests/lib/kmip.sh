# PyKMIP's server on loopback for the KMIP tests, with mutual-TLS
# certificates made here by openssl.  Source it; then:
#
#   kmip_certs DIR          a CA, the server's certificate (DNS:localhost
#                           only), this host's (CN hsmkey-host, clientAuth),
#                           and for the attacks: a rogue CA with a client
#                           certificate of the same name, and a certificate
#                           of the right CA without clientAuth
#   kmip_server_start DIR [NAME [DB]]
#                           pykmip-server NAME (default "server") on a free
#                           port of 127.0.0.1 (KMIP_PORT), its files
#                           DIR/NAME.*, its database DB (default
#                           DIR/pykmip.db: two servers on one database are
#                           a cluster's two nodes)
#                           (KMIP_PORT_WANTED: that port instead, to
#                           bring a stopped server back where it was)
#   kmip_server_stop DIR [NAME]
#                           that server and its children stopped (TERM; about
#                           10 s), waited for
#   kmip_group_left PID     true while PID or a process of its group is left
#
#   kmip_conf DIR FILE [LINE...]
#                           hsmkeyd.conf for backend = kmip on that server
#                           (KMIP_PORT) with DIR's certificates, then LINEs
#   kmip_ref ARGS           the reference client on that server
#   kmip_ref_bytes UID FILE the object's bytes, as the reference client's
#                           Get gives them, into FILE
#   wait_revoked NAME       seconds until hsmkeyctl shows key NAME revoked
#                           (at most 10; fails after), for daemon.sh's ctl
#
# The reference client (tests/host/kmip/ref.py) uses this host's
# certificate: PyKMIP's server lets only an object's owner, named by the
# certificate's CN, use a symmetric key.

KMIP_PORT=

_kmip_cert() {	# DIR NAME CA SUBJECT EXTENSIONS
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1/$2.key" \
		-out "$1/$2.csr" -subj "$4" 2>/dev/null &&
	printf '%b' "$5" > "$1/$2.ext" &&
	openssl x509 -req -in "$1/$2.csr" -CA "$1/$3.pem" -CAkey "$1/$3.key" -CAcreateserial \
		-out "$1/$2.pem" -days 2 -extfile "$1/$2.ext" 2>/dev/null
}

kmip_certs() {
	local d=$1 ca
	mkdir -p "$d"
	for ca in ca rogue-ca; do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$d/$ca.key" -out "$d/$ca.pem" -days 2 \
			-subj "/CN=hsmkey test $ca" 2>/dev/null || return 1
	done
	_kmip_cert "$d" server ca /CN=localhost \
		'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' &&
	_kmip_cert "$d" client ca /CN=hsmkey-host 'extendedKeyUsage=clientAuth\n' &&
	_kmip_cert "$d" rogue-client rogue-ca /CN=hsmkey-host 'extendedKeyUsage=clientAuth\n' &&
	_kmip_cert "$d" noauth-client ca /CN=hsmkey-host 'extendedKeyUsage=serverAuth\n'
}

# A port nothing is bound to now: from 10000 up to the start of the
# ephemeral range when that leaves at least 10000 ports, else one the kernel
# picks.  A port the kernel picks may be given again meanwhile as the source
# port of another test's connection, and a server started on it later would
# not bind: the kernel never picks a source port below the range.
kmip_free_port() {
	/usr/bin/python3 - <<'EOP'
import random, socket
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    low = 0
for _ in range(100):
    port = random.randrange(10000, low) if low >= 20000 else 0
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    print(s.getsockname()[1])
    break
else:
    raise SystemExit("no free port")
EOP
}

_kmip_dir=
kmip_server_start() {
	local d=$1 n=${2:-server} db=${3:-$1/pykmip.db} i
	_kmip_dir=$d
	KMIP_PORT=${KMIP_PORT_WANTED:-$(kmip_free_port)}
	cat > "$d/$n.conf" <<EOC
[server]
hostname=127.0.0.1
port=$KMIP_PORT
certificate_path=$d/server.pem
key_path=$d/server.key
ca_path=$d/ca.pem
auth_suite=TLS1.2
enable_tls_client_auth=True
database_path=$db
logging_level=INFO
EOC
	setsid /usr/bin/python3 -W ignore /usr/bin/pykmip-server -f "$d/$n.conf" -l "$d/$n.log" \
		> "$d/$n.out" 2>&1 < /dev/null &
	echo $! > "$d/$n.pid"
	for ((i = 0; i < 300; i++)); do
		grep -q "Starting connection service" "$d/$n.log" 2>/dev/null &&
			(exec 3<> "/dev/tcp/127.0.0.1/$KMIP_PORT") 2>/dev/null && return 0
		kill -0 "$(cat "$d/$n.pid")" 2>/dev/null || break
		sleep 0.1
	done
	echo "pykmip-server did not start:" >&2
	tail -n 5 "$d/$n.out" "$d/$n.log" >&2
	return 1
}

# The server's whole process group (setsid made it; PyKMIP's children are
# in it) is sent TERM and waited for.  PyKMIP's server stops once its
# accept() times out, about 10 s later: a KILL before that could cut its
# shutdown short, so it comes only after 30 s, and is waited for too.
kmip_server_stop() {
	local pid n=${2:-server} i
	pid=$(cat "$1/$n.pid" 2>/dev/null) || return 0
	kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null
	for ((i = 0; i < 300; i++)); do
		kmip_group_left "$pid" || break
		sleep 0.1
	done
	if ((i == 300)); then
		kill -KILL -- -"$pid" "$pid" 2>/dev/null
		for ((i = 0; i < 50; i++)); do
			kmip_group_left "$pid" || break
			sleep 0.1
		done
	fi
	rm -f "$1/$n.pid"
}
# kmip_group_left PID: PID, or a process of its group, is still there.
kmip_group_left() { kill -0 "$1" 2>/dev/null || pgrep -g "$1" > /dev/null; }

kmip_conf() {
	local d=$1 f=$2
	shift 2
	printf '%s\n' "backend = kmip" "kmip_server = localhost:$KMIP_PORT" "kmip_ca = $d/ca.pem" \
		"kmip_cert = $d/client.pem" "kmip_key = $d/client.key" "$@" > "$f"
}

# wait_revoked NAME: seconds until hsmkeyctl shows NAME revoked (at most 10).
wait_revoked() {
	local t0=$SECONDS
	while ((SECONDS - t0 < 10)); do
		[[ $(state_of "$1" 2>/dev/null) == revoked ]] && { echo $((SECONDS - t0)); return 0; }
		sleep 0.2
	done
	return 1
}

kmip_ref() {
	/usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/../host/kmip/ref.py" "$_kmip_dir" "$KMIP_PORT" "$@"
}

kmip_ref_bytes() {
	kmip_ref get "$1" |
		/usr/bin/python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.stdin.read().strip()))' > "$2"
}
