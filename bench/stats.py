#!/usr/bin/env python3
"""Summarise bench/run.sh's measurements (stdin: "WORKLOAD SIDE PAIR VALUE").

Throughput workloads have sides hsm, stock and aa (stock under its capi:
name or driver name; for pkcs11-provision, hsmkeyd's provisioning rate, the
token's own rate for the same calls and that rate measured again); the bind
workload has k10, k10aa and k100k.  For each
workload print the medians, the median of the per-pair ratios hsm/stock
(k100k/k10 for binds) and the A/A control's, and a verdict that counts only
when the A/A spread is tighter than the margin (for OWN_SPREAD's workloads,
the per-pair ratios' own spread too)."""
import statistics
import sys
from collections import defaultdict

MIN_PAIRS = 5
# Workloads whose hsm side scatters far more than its baseline (a whole
# daemon start-up): the per-pair ratios' own spread must be under the margin
# too, not only the A/A control's.
OWN_SPREAD = {"pkcs11-provision"}
# Rows measured for what they tell, with no goal of their own.
INFORMATION = {
    "pkcs11-provision-1cpu": "token, daemon and kernel on one CPU",
}


def half_width(values):
    """The ~95 % confidence half-width of VALUES' median: 1.58·IQR/√n (half
    the range for fewer than 4 values)."""
    if len(values) < 4:
        return (max(values) - min(values)) / 2
    q = statistics.quantiles(values, n=4)
    return 1.58 * (q[2] - q[0]) / len(values) ** 0.5


data = defaultdict(lambda: defaultdict(dict))
units = {}
for line in sys.stdin:
    f = line.split()
    if len(f) >= 3 and f[0] == "unit":
        units[f[1]] = " ".join(f[2:])
        continue
    if len(f) != 4:
        continue
    workload, side, pair, value = f[0], f[1], int(f[2]), float(f[3])
    data[workload][side][pair] = value

failed = False
print(f"{'workload':24} {'hsmkey':>10} {'stock':>10} {'ratio':>7} {'A/A':>7} {'ci95':>7}  verdict")
for workload, sides in data.items():
    bind = "k10" in sides
    a, b, c = ("k100k", "k10", "k10aa") if bind else ("hsm", "stock", "aa")
    pairs = sorted(p for p in set(sides[a]) & set(sides[b]) & set(sides[c])
                   if sides[b][p] > 0)
    if not pairs:
        print(f"{workload:24} no complete pair")
        failed = True
        continue
    ratios = [sides[a][p] / sides[b][p] for p in pairs]
    ratio = statistics.median(ratios)
    aa = [sides[c][p] / sides[b][p] for p in pairs]
    aa_med = statistics.median(aa)
    spread = half_width(aa)
    if bind:
        # Latency: lower is better; the goal is within 10 % of 10 keys.
        margin, ok = 0.10, ratio <= 1.10
        goal = "<= 1.10"
    elif workload == "tls-handshake":
        # Handshakes through hsmkeyd against OpenSSL's in-process server.
        margin, ok = 0.10, ratio >= 0.70
        goal = ">= 0.70"
    elif workload == "pkcs11-provision":
        # Keys delivered from an HSM against the token's own rate for the same calls.
        margin, ok = 0.10, ratio >= 0.90
        goal = ">= 0.90"
    elif workload.startswith("gcm-raw"):
        # Every gcm(aes) user's raw keys, through gcm-aes-hsmkey (ktls=1).
        margin, ok = 0.02, ratio >= 0.98
        goal = ">= 0.98"
    else:
        margin, ok = 0.03, ratio >= 0.97
        goal = ">= 0.97"
    noise = max(spread, abs(1 - aa_med))
    own = half_width(ratios) if workload in OWN_SPREAD else 0.0
    if workload in INFORMATION:
        verdict = f"for information: {INFORMATION[workload]}"
    elif len(pairs) < MIN_PAIRS:
        verdict = f"inconclusive: {len(pairs)} pairs, {MIN_PAIRS} needed"
    elif noise >= margin:
        verdict = (f"inconclusive: A/A noise {noise:.3f} >= margin {margin:.2f}; "
                   "run more pairs (BENCH_PAIRS) on a quieter machine")
    elif own >= margin:
        verdict = (f"inconclusive: the per-pair ratios' own spread {own:.3f} >= margin "
                   f"{margin:.2f}; run more pairs (BENCH_PAIRS)")
    else:
        verdict = f"{'meets' if ok else 'MISSES'} goal {goal}"
        if workload in OWN_SPREAD:
            verdict += f" (the ratios' own spread {own:.3f})"
    unit = units.get(workload, "")
    print(f"{workload:24} {statistics.median(sides[a].values()):10.1f} "
          f"{statistics.median(sides[b].values()):10.1f} {ratio:7.3f} {aa_med:7.3f} "
          f"{spread:7.3f}  {verdict}" + (f"  [{unit}]" if unit else ""))
sys.exit(1 if failed else 0)
