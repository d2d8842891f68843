#!/bin/sh
# Runs inside the VM (Debian's 6.1 kernel, pure cgroup v2, or v1 only with
# BERTH_VM_CGROUP=v1): the
# checkpoint/restore tests (tests/checkpoint.rs) with a working CRIU (the
# host's, shared through /usr). BERTH_CRIU_REQUIRED makes a test that
# would skip for want of CRIU fail instead.
#   BERTH_VM_TESTS=checkpoint tests/vm/run --exec tests/vm/checkpoint.sh [FILTER]
set -u
command -v criu >/dev/null || { echo "checkpoint.sh: criu not found (apt-get install criu)" >&2; exit 125; }
if ! out=$(criu check 2>&1); then
    echo "checkpoint.sh: criu check fails in the VM: $out" >&2
    exit 125
fi
echo "=== criu $(criu --version | sed -n 's/^Version: //p'): $out"
bins=
while [ $# -gt 0 ] && [ "$1" != -- ]; do bins="$bins $1"; shift; done
[ "${1:-}" = -- ] && shift
rc=0
for b in $bins; do
    echo "=== $(basename "$b") in the checkpoint VM (kernel $(uname -r), $(stat -f -c %T /sys/fs/cgroup))"
    BERTH_CRIU_REQUIRED=1 "$b" --test-threads=2 "$@" || rc=1
done
exit $rc
