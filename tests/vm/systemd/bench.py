#!/usr/bin/env python3
"""Create + start + wait + delete of a /bin/true container under the systemd
cgroup driver: berth, runc and crun, each with --systemd-cgroup, side by
side in one run, alternated run by run (berth, runc, crun, berth, ...).
Runs in the systemd VM (PID 1 systemd, cgroup v2; crun 1.8.1 refuses
hybrid):

    BERTH_VM_INIT=systemd tests/vm/run-in-vm.sh . -- \
        python3 tests/vm/systemd/bench.py \
        target/x86_64-unknown-linux-gnu/release/berth [RUNS] [REPORT.md]

Each container is a transient scope `sdbench-<id>.scope` in system.slice
(cgroupsPath `system.slice:sdbench:<id>`), from runc's default config.json.
The script is a child subreaper, so it waits for each container's init.
The three binaries run from copies in the guest's tmpfs (see main()).
Reports median, min and max (ms) and the berth/runc and berth/crun ratios
of the medians; asserts no time. Fails if a unit is left behind.
"""
import ctypes
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PR_SET_CHILD_SUBREAPER = 36


def sh(*args):
    """Runs a command (at most 60 s) and returns its stdout. Output goes to
    files, not pipes: a container's init inherits `create`'s stdio, so a
    pipe would not reach EOF before `start`."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            r = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=60)
        except subprocess.TimeoutExpired:
            sys.exit(f"bench: {' '.join(args)}: no exit within 60 s")
        out.seek(0)
        err.seek(0)
        if r.returncode != 0:
            sys.exit(f"bench: {' '.join(args)}: exit {r.returncode}: {err.read().decode().strip()}")
        return out.read().decode()


def child_cpu():
    """User + sys seconds of the waited-for children so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def wait_init(pid):
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        while os.path.exists(f"/proc/{pid}"):
            time.sleep(0.001)


def main():
    berth = os.path.abspath(sys.argv[1])
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    report = sys.argv[3] if len(sys.argv) > 3 else None
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("bench: prctl(PR_SET_CHILD_SUBREAPER) failed")
    work = tempfile.mkdtemp(prefix="sdbench-", dir="/tmp")
    rootfs = os.path.join(work, "rootfs")
    os.makedirs(os.path.join(rootfs, "bin"))
    shutil.copy("/bin/busybox", os.path.join(rootfs, "bin/busybox"))
    os.symlink("busybox", os.path.join(rootfs, "bin/true"))
    sh("/usr/sbin/runc", "spec", "--bundle", work)
    with open(os.path.join(work, "config.json")) as f:
        cfg = json.load(f)
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["/bin/true"]
    runtimes = [("berth", berth), ("runc", "/usr/sbin/runc"), ("crun", "/usr/bin/crun")]
    for n, b in runtimes:
        if not os.access(b, os.X_OK):
            sys.exit(f"bench: {n}: no executable {b}")
    # Every runtime runs from a copy in the guest's tmpfs: berth's build
    # lives on the read-write 9p share (cache=mmap), where each exec pays
    # for its page faults over 9p (measured: berth's CPU 3.3 s there,
    # 0.95 s from tmpfs), while runc and crun come from the page-cached
    # read-only /usr share. The same medium for all three.
    os.makedirs(os.path.join(work, "bin"))
    for k, (n, b) in enumerate(runtimes):
        copy = os.path.join(work, "bin", n)
        shutil.copy(b, copy)
        runtimes[k] = (n, copy)
    versions = {n: sh(b, "--version").splitlines()[0] for n, b in runtimes}
    times = {n: [] for n, _ in runtimes}
    # Per phase: wall time of create, start (+ wait), delete, and the CPU
    # time (user + sys) of the runtime's own processes in the three
    # commands; systemd's work on the unit (PID 1) is not in it.
    phases = {n: {"create": [], "start": [], "delete": [], "cpu": []} for n, _ in runtimes}
    pidfile = os.path.join(work, "pid")
    for i in range(runs + 1):  # round 0 warms the caches, untimed
        for name, b in runtimes:
            cid = f"{name}{i}"
            cfg["linux"]["cgroupsPath"] = f"system.slice:sdbench:{cid}"
            with open(os.path.join(work, "config.json"), "w") as f:
                json.dump(cfg, f)
            g = [b, "--root", os.path.join(work, "root-" + name), "--systemd-cgroup"]
            cpu = 0.0
            t0 = time.perf_counter()
            cpu -= child_cpu()
            sh(*g, "create", "--bundle", work, "--pid-file", pidfile, cid)
            cpu += child_cpu()
            t1 = time.perf_counter()
            with open(pidfile) as f:
                pid = int(f.read().strip())
            cpu -= child_cpu()
            sh(*g, "start", cid)
            cpu += child_cpu()
            wait_init(pid)
            t2 = time.perf_counter()
            cpu -= child_cpu()
            sh(*g, "delete", cid)
            cpu += child_cpu()
            t3 = time.perf_counter()
            if i > 0:
                times[name].append((t3 - t0) * 1000)
                p = phases[name]
                p["create"].append((t1 - t0) * 1000)
                p["start"].append((t2 - t1) * 1000)
                p["delete"].append((t3 - t2) * 1000)
                p["cpu"].append(cpu * 1000)
        print(f"bench: round {i}/{runs} done", file=sys.stderr, flush=True)
    left = sh("systemctl", "list-units", "--all", "--no-legend", "sdbench-*")
    shutil.rmtree(work)
    med = {n: statistics.median(v) for n, v in times.items()}
    lines = [
        f"systemd cgroup driver, cgroup v2, create + start + wait + delete of /bin/true, "
        f"{runs} runs each, alternated (ms):",
        "",
        "| runtime | median | min | max |",
        "| --- | --- | --- | --- |",
    ]
    for n, v in times.items():
        lines.append(f"| {n} (`{versions[n]}`) | {med[n]:.1f} | {min(v):.1f} | {max(v):.1f} |")
    lines += [
        "",
        "Medians per phase (ms): create, start + wait, delete, and the CPU time",
        "(user + sys) of the runtime's processes in the three commands:",
        "",
        "| runtime | create | start | delete | CPU |",
        "| --- | --- | --- | --- | --- |",
    ]
    for n, p in phases.items():
        m = [statistics.median(p[k]) for k in ("create", "start", "delete", "cpu")]
        lines.append(f"| {n} | " + " | ".join(f"{x:.1f}" for x in m) + " |")
    lines.append("")
    for other in ("runc", "crun"):
        if other in med and "berth" in med:
            cpu = {n: statistics.median(phases[n]["cpu"]) for n in ("berth", other)}
            lines.append(f"berth/{other} (medians): {med['berth'] / med[other]:.2f}, "
                         f"CPU {cpu['berth'] / cpu[other]:.2f}")
    text = "\n".join(lines) + "\n"
    print(text)
    if report:
        with open(report, "w") as f:
            f.write(text)
    if left.strip():
        sys.exit(f"bench: units left behind:\n{left}")


if __name__ == "__main__":
    main()
