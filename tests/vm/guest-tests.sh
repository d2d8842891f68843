#!/bin/sh
# Runs inside the VM (root; pure cgroup v2, or pure v1 with berth_cgroup=v1):
# each test binary given; on v2 with the tests that need a pure v2 host
# (#[ignore]d on the host) included.
#   guest-tests.sh BIN... [-- ARGS...]
set -u
fs=$(stat -f -c %T /sys/fs/cgroup)
if grep -qw berth_cgroup=v1 /proc/cmdline; then
    # Legacy v1: the host's own tests, as on a hybrid host (no --include-ignored:
    # the ignored ones need a pure v2 host).
    mode="cgroup v1"; extra=
    [ "$fs" = tmpfs ] && [ -d /sys/fs/cgroup/memory ] && ! grep -q " cgroup2 " /proc/self/mountinfo ||
        { echo "guest-tests: not a pure cgroup v1 layout" >&2; exit 125; }
else
    mode="cgroup v2"; extra=--include-ignored
    [ "$fs" = cgroup2fs ] || { echo "guest-tests: /sys/fs/cgroup is $fs, not cgroup2" >&2; exit 125; }
fi
# A block device for the io.max tests.
modprobe loop 2>/dev/null || true
bins=
while [ $# -gt 0 ] && [ "$1" != -- ]; do bins="$bins $1"; shift; done
[ "${1:-}" = -- ] && shift
rc=0
for b in $bins; do
    echo "=== $(basename "$b") in the $mode VM (kernel $(uname -r))"
    "$b" $extra --test-threads=2 "$@" || rc=1
done
exit $rc
