#!/bin/sh
# Runs inside the VM booted with "security=selinux selinux=1 enforcing=0":
# loads Debian's policy (selinux-policy-default, through the shared /etc
# and /usr; nothing on the host changes) with load_policy, sets the mode
# (berth_selinux=enforcing on the kernel command line, else permissive) and
# runs the SELinux tests (tests/selinux.rs) with --include-ignored. In
# enforcing mode it loads instead the policy tests/vm/selinux-policy.sh
# built on the host: Debian's plus the few rules the test VM needs
# (tests/vm/selinux/berth_test.cil).
#   BERTH_VM_TESTS=selinux BERTH_VM_APPEND="security=selinux selinux=1 enforcing=0" \
#       tests/vm/run --exec tests/vm/selinux.sh [FILTER]
#   tests/vm/selinux-policy.sh && BERTH_VM_TESTS=selinux \
#       BERTH_VM_APPEND="security=selinux selinux=1 enforcing=0 berth_selinux=enforcing" \
#       tests/vm/run --exec tests/vm/selinux.sh [FILTER]
set -u
grep -qw selinux /sys/kernel/security/lsm 2>/dev/null ||
    { echo "selinux.sh: SELinux is not active (boot with security=selinux selinux=1); LSMs: $(cat /sys/kernel/security/lsm 2>/dev/null)" >&2; exit 125; }
[ -e /sys/fs/selinux/enforce ] || mount -t selinuxfs selinuxfs /sys/fs/selinux ||
    { echo "selinux.sh: cannot mount selinuxfs" >&2; exit 125; }
command -v load_policy >/dev/null ||
    { echo "selinux.sh: load_policy not found (apt-get install policycoreutils selinux-policy-default)" >&2; exit 125; }
mode=permissive
for a in $(cat /proc/cmdline); do case $a in berth_selinux=*) mode=${a#berth_selinux=} ;; esac; done
t0=$(date +%s)
if [ "$mode" = enforcing ]; then
    # Debian's policy plus the test rules (tests/vm/selinux/berth_test.cil),
    # built on the host by tests/vm/selinux-policy.sh.
    pol=$(dirname "$0")/../../target/selinux-policy/policy.33
    [ -f "$pol" ] || { echo "selinux.sh: $pol missing (run tests/vm/selinux-policy.sh first)" >&2; exit 125; }
    # selinuxfs takes a policy in one write(2) (cat's chunks get EINVAL):
    # load_policy does that, from the guest's writable /etc layer.
    cp "$pol" /etc/selinux/default/policy/policy.33 && load_policy ||
        { echo "selinux.sh: loading $pol failed" >&2; exit 125; }
else
    load_policy || { echo "selinux.sh: load_policy failed" >&2; exit 125; }
fi
case $mode in
    permissive) echo 0 >/sys/fs/selinux/enforce ;;
    enforcing) echo 1 >/sys/fs/selinux/enforce ;;
    *) echo "selinux.sh: berth_selinux= must be permissive or enforcing" >&2; exit 125 ;;
esac || { echo "selinux.sh: cannot set $mode mode" >&2; exit 125; }
echo "selinux.sh: policy loaded in $(( $(date +%s) - t0 )) s; mode $(cat /sys/fs/selinux/enforce) ($mode); we run as $(cat /proc/self/attr/current | tr -d '\0')"
bins=
while [ $# -gt 0 ] && [ "$1" != -- ]; do bins="$bins $1"; shift; done
[ "${1:-}" = -- ] && shift
rc=0
for b in $bins; do
    echo "=== $(basename "$b") in the SELinux VM (kernel $(uname -r), LSMs $(cat /sys/kernel/security/lsm))"
    "$b" --include-ignored --test-threads=1 "$@" || rc=1
done
# What the policy would have denied (permissive) or denied (enforcing).
dmesg | grep -E 'avc: +denied' | sed 's/^.*avc: /avc: /' | sort | uniq -c | sort -rn | head -40
# The harness's init (kernel_t, like us) may create nothing on the
# unlabelled 9p and control files once enforcing: back to permissive so
# it can report our exit status.
echo 0 >/sys/fs/selinux/enforce
exit $rc
