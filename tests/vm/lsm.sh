#!/bin/sh
# Runs inside the VM booted with "apparmor=1 security=apparmor": the
# AppArmor tests (tests/lsm.rs, with Docker's docker-default) and the CRI
# caller test (tests/caller_cri.rs, under containerd's
# cri-containerd.apparmor.d), which load the profiles they need with the
# host's apparmor_parser (shared /usr) and remove them again. Loading all
# of Debian's profiles (apparmor.service) would take minutes under TCG.
# Each binary runs under timeout(1) with --nocapture, so the console shows
# how far a hanging test got.
#   BERTH_VM_TESTS=lsm,caller_cri BERTH_VM_APPEND="apparmor=1 security=apparmor" \
#       tests/vm/run --exec tests/vm/lsm.sh [FILTER]
set -u
enabled=$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)
[ "$enabled" = Y ] ||
    { echo "lsm.sh: AppArmor is not enabled (boot with apparmor=1 security=apparmor)" >&2; exit 125; }
[ -d /sys/kernel/security/apparmor ] || mount -t securityfs securityfs /sys/kernel/security ||
    { echo "lsm.sh: cannot mount securityfs" >&2; exit 125; }
command -v apparmor_parser >/dev/null ||
    { echo "lsm.sh: apparmor_parser not found (apt-get install apparmor)" >&2; exit 125; }
bins=
while [ $# -gt 0 ] && [ "$1" != -- ]; do bins="$bins $1"; shift; done
[ "${1:-}" = -- ] && shift
rc=0
for b in $bins; do
    echo "=== $(basename "$b") in the AppArmor VM (kernel $(uname -r), LSMs $(cat /sys/kernel/security/lsm))"
    t0=$(date +%s)
    timeout -k 10 "${BERTH_LSM_TIMEOUT:-1200}" "$b" --include-ignored --test-threads=2 --nocapture "$@"
    r=$?
    [ $r = 0 ] || { rc=1; echo "=== $(basename "$b") failed (rc $r; 124: timed out)"; }
    echo "=== $(basename "$b"): $(( $(date +%s) - t0 )) s"
done
exit $rc
