#!/bin/sh
# Runs inside the VM (root, pure cgroup v2): each test binary given, with the
# tests that need a pure v2 host (#[ignore]d on the host) included.
#   guest-tests.sh BIN... [-- ARGS...]
set -u
fs=$(stat -f -c %T /sys/fs/cgroup)
[ "$fs" = cgroup2fs ] || { echo "guest-tests: /sys/fs/cgroup is $fs, not cgroup2" >&2; exit 125; }
# A block device for the io.max tests.
modprobe loop 2>/dev/null || true
bins=
while [ $# -gt 0 ] && [ "$1" != -- ]; do bins="$bins $1"; shift; done
[ "${1:-}" = -- ] && shift
rc=0
for b in $bins; do
    echo "=== $(basename "$b") in the cgroup v2 VM (kernel $(uname -r))"
    "$b" --include-ignored --test-threads=2 "$@" || rc=1
done
exit $rc
