#!/usr/bin/env bash
# Builds, on the host, Debian's selinux-policy-default plus the test rules
# (tests/vm/selinux/berth_test.cil) into target/selinux-policy/policy.33,
# for tests/vm/selinux.sh to load in the guest in enforcing mode. It works
# on copies of /etc/selinux and /var/lib/selinux (semodule -p/-S on a
# private root; -N: nothing is loaded): the host's policy, store and LSMs
# are unchanged. About 40 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=target/selinux-policy
[ -f /etc/selinux/default/policy/policy.33 ] && [ -d /var/lib/selinux/default ] ||
    { echo "selinux-policy: Debian's policy is missing (apt-get install selinux-policy-default)" >&2; exit 1; }
work=$(mktemp -d /tmp/berth-selinux-policy.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/etc" "$work/var/lib" "$out"
cp -a /etc/selinux "$work/etc/"
cp -a /var/lib/selinux "$work/var/lib/"
# Warnings about the host's users (home directories) are irrelevant here.
semodule -N -p "$work" -S /var/lib/selinux -i tests/vm/selinux/berth_test.cil 2>"$work/log" ||
    { cat "$work/log" >&2; exit 1; }
cp "$work/etc/selinux/default/policy/policy.33" "$out/policy.33.tmp"
mv "$out/policy.33.tmp" "$out/policy.33"
echo "selinux-policy: $out/policy.33"
