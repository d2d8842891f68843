#!/bin/sh
# Runs inside the VM booted with "apparmor=1 security=apparmor": the
# AppArmor tests (tests/lsm.rs), which load the profiles they need with the
# host's apparmor_parser (shared /usr) and remove them again. Loading all
# of Debian's profiles (apparmor.service) would take minutes under TCG.
#   BERTH_VM_TESTS=lsm BERTH_VM_APPEND="apparmor=1 security=apparmor" \
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
    "$b" --include-ignored --test-threads=2 "$@" || rc=1
done
exit $rc
