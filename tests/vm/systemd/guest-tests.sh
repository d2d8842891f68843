#!/bin/sh
# Runs inside the systemd VM (BERTH_VM_INIT=systemd): each test binary given,
# with the tests that need systemd as PID 1 (#[ignore]d elsewhere).
#   guest-tests.sh BIN... [-- ARGS...]
set -u
[ "$(cat /proc/1/comm)" = systemd ] || { echo "guest-tests: PID 1 is not systemd" >&2; exit 125; }
[ -d /run/systemd/system ] || { echo "guest-tests: no /run/systemd/system" >&2; exit 125; }
fs=$(stat -f -c %T /sys/fs/cgroup)
bins=
while [ $# -gt 0 ] && [ "$1" != -- ]; do bins="$bins $1"; shift; done
[ "${1:-}" = -- ] && shift
rc=0
for b in $bins; do
    echo "=== $(basename "$b") in the systemd VM ($fs, systemd $(systemctl --version | sed -n '1s/systemd \([0-9]*\).*/\1/p'))"
    "$b" --include-ignored --test-threads=2 "$@" || rc=1
done
exit $rc
