#!/usr/bin/env bash
# Runs the OCI runtime-tools validation suite against a runtime, by hand
# (it cannot run in CI: its sources are not part of this repository).
#
#   tests/conformance/run.sh RUNTIME_TOOLS_DIR RUNTIME [NAME...]
#
# RUNTIME_TOOLS_DIR is a checkout of opencontainers/runtime-tools built with
#   GOFLAGS=-mod=vendor GOPROXY=off make tool runtimetest validation-executables
# RUNTIME is the runtime binary (absolute path). Each validation/NAME/NAME.t
# runs as root in its own mount namespace (`unshare -m`: some tests leak
# shared mounts) and cgroup namespace (`-C`: most configs have no
# cgroupsPath or a relative one, which runtimes resolve below the caller's
# own cgroup; in a fresh cgroup namespace that is the hierarchy's root, not
# the cgroup of whatever session runs this script), with a time limit.
# Containers a failed test leaves in the runtime's default root are deleted
# after it, and the cgroups runtime-tools names (testdir, cgrouptest) at the
# end. The TAP output is parsed here: a file
# passes when it exited 0, printed no `not ok` (TODO excepted) and, if it
# printed a plan, at least as many results as planned. (The *_fail files
# print nothing at all when the runtime rightly refuses their config.)
# Logs go to $OUT (default /tmp/conformance).
set -uo pipefail
[ "$#" -ge 2 ] || { sed -n 2,14p "$0"; exit 2; }
tools=$(cd "$1" && pwd)
runtime=$2
shift 2
out=${OUT:-/tmp/conformance}
mkdir -p "$out"
cd "$tools"
if [ "$#" -gt 0 ]; then names=("$@"); else
    names=(); for t in validation/*/*.t; do names+=("$(basename "$t" .t)"); done
fi
# Containers that exist before the run are not ours to delete.
before=" $("$runtime" list -q 2>/dev/null | tr '\n' ' ') "
pass=0; fail=0; failed=()
for n in "${names[@]}"; do
    t=validation/$n/$n.t
    log=$out/$n.log
    RUNTIME=$runtime timeout 120 unshare -m -C "$t" >"$log" 2>&1
    rc=$?
    for id in $("$runtime" list -q 2>/dev/null); do
        case "$before" in *" $id "*) ;; *)
            echo "# left by the test, deleted: $id" >>"$log"
            "$runtime" delete --force "$id" >>"$log" 2>&1 ;;
        esac
    done
    plan=$(grep -m1 -E '^1\.\.[0-9]+' "$log" | sed 's/^1\.\.//')
    oks=$(grep -cE '^ok [0-9]+' "$log")
    nots=$(grep -E '^not ok [0-9]+' "$log" | grep -vc '# TODO')
    if [ "$rc" = 0 ] && [ "$nots" = 0 ] && { [ -z "$plan" ] || [ "$oks" -ge "$plan" ]; }; then
        pass=$((pass + 1)); echo "PASS $n"
    else
        fail=$((fail + 1)); failed+=("$n"); echo "FAIL $n (exit $rc, plan ${plan:-none}, ok $oks, not ok $nots)"
    fi
done
# The cgroups runtime-tools' own tests name, left by failed runs (empty).
for top in /sys/fs/cgroup/*/testdir /sys/fs/cgroup/*/cgrouptest; do
    [ -d "$top" ] && find "$top" -depth -type d -exec rmdir {} + 2>/dev/null
done
echo "passed $pass of $((pass + fail)) files"
[ "$fail" = 0 ] || echo "failed: ${failed[*]}"
