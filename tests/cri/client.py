"""A minimal CRI client for the CRI caller test (the role kubelet plays).

Usage: client.py SOCKET HANDLER IMAGE CGROUP_PARENT
(CGROUP_PARENT a path, or a slice `a-b.slice` with the systemd driver)
Compiles cri.proto (beside this file) with grpcio-tools into a temporary
directory, then, through containerd's CRI plugin with runtime handler
HANDLER (berth): runs a host-network pod sandbox, creates and starts a
container from IMAGE, execs in it, sets its memory limit to 64 MiB with
UpdateContainerResources, stops and removes both. Prints one JSON
object with what it observed; exits non-zero on the first failed call.
Every call has a deadline, and each step is logged to stderr (with the
seconds since the start) so a hang shows where it happened.
"""
import importlib
import json
import os
import sys
import tempfile
import time

import grpc
from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))


START = time.time()


def step(what):
    print(f"client.py: {time.time() - START:6.1f} s: {what}", file=sys.stderr, flush=True)


def load_api(out_dir):
    proto_include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main([
        "protoc", f"-I{HERE}", f"-I{proto_include}",
        f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
        os.path.join(HERE, "cri.proto"),
    ])
    if rc != 0:
        sys.exit(f"protoc failed: {rc}")
    sys.path.insert(0, out_dir)
    return importlib.import_module("cri_pb2"), importlib.import_module("cri_pb2_grpc")


# The memory limit as the container sees it (its cgroup, mounted at
# /sys/fs/cgroup/memory on v1 or /sys/fs/cgroup on v2).
LIMIT_INSIDE = ("cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null"
                " || cat /sys/fs/cgroup/memory.max")
NEW_LIMIT = 64 << 20


def exec_out(pb, rt, ctr, cmd):
    r = rt.ExecSync(pb.ExecSyncRequest(container_id=ctr, cmd=["sh", "-c", cmd], timeout=30),
                    timeout=180)
    if r.exit_code != 0:
        sys.exit(f"exec {cmd!r}: exit {r.exit_code}: {r.stderr.decode()}")
    return r.stdout.decode().strip()


def container_cgroup(cgroup_parent, ctr):
    """The cgroup containerd names for the container: CGROUP_PARENT/ID, or
    with the systemd driver (a parent `a-b.slice`) the unit
    cri-containerd-ID.scope below the slice's nested cgroup
    (/a.slice/a-b.slice, systemd's dash rule)."""
    if not cgroup_parent.endswith(".slice"):
        return os.path.join(cgroup_parent, ctr)
    parts = cgroup_parent[:-len(".slice")].split("-")
    slices = ["-".join(parts[:i + 1]) + ".slice" for i in range(len(parts))]
    return "/" + "/".join(slices + [f"cri-containerd-{ctr}.scope"])


def host_limit(cgroup, ctr):
    """The container's memory limit read on the host, in CGROUP under the
    v1 memory hierarchy, or under the cgroup2 root when there is no v1
    memory."""
    for base, name in (("/sys/fs/cgroup/memory", "memory.limit_in_bytes"),
                       ("/sys/fs/cgroup", "memory.max")):
        path = os.path.join(base, cgroup.lstrip("/"), name)
        if os.path.exists(path):
            with open(path) as f:
                return f.read().strip()
    sys.exit(f"no memory cgroup for {ctr} at {cgroup}")


def update_memory(pb, rt, ctr, cgroup_parent):
    """UpdateContainerResources on the running container (containerd runs
    `berth update --resources - ID` with the new LinuxResources on stdin),
    then the limit read inside the container and on the host."""
    seen = {"before": exec_out(pb, rt, ctr, LIMIT_INSIDE)}
    rt.UpdateContainerResources(pb.UpdateContainerResourcesRequest(
        container_id=ctr,
        linux=pb.LinuxContainerResources(memory_limit_in_bytes=NEW_LIMIT),
    ), timeout=180)
    seen["inside"] = exec_out(pb, rt, ctr, LIMIT_INSIDE)
    seen["host_cgroup"] = container_cgroup(cgroup_parent, ctr)
    seen["host"] = host_limit(seen["host_cgroup"], ctr)
    return seen


def main():
    socket, handler, image, cgroup_parent = sys.argv[1:5]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        step("compiling cri.proto")
        pb, rpc = load_api(tmp)
        step("Version")
        channel = grpc.insecure_channel(f"unix://{socket}")
        rt = rpc.RuntimeServiceStub(channel)
        out["runtime"] = rt.Version(pb.VersionRequest(version="v1"), timeout=30).runtime_name

        sandbox = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name="berth-pod", uid="berth-pod-uid", namespace="default"),
            # No hostname: a host-network pod shares the node's UTS
            # namespace (kubelet leaves it empty there too).
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=cgroup_parent,
                security_context=pb.LinuxSandboxSecurityContext(
                    namespace_options=pb.NamespaceOption(network=pb.NODE)),
            ),
        )
        step("RunPodSandbox")
        pod = rt.RunPodSandbox(
            pb.RunPodSandboxRequest(config=sandbox, runtime_handler=handler), timeout=180
        ).pod_sandbox_id
        out["pod"] = pod
        step("CreateContainer")
        ctr = rt.CreateContainer(pb.CreateContainerRequest(
            pod_sandbox_id=pod,
            config=pb.ContainerConfig(
                metadata=pb.ContainerMetadata(name="app"),
                image=pb.ImageSpec(image=image),
                command=["sh", "-c"],
                # The container's AppArmor label, as its init has it (the
                # pod's PID 1 is the sandbox's pause process).
                args=["cat /proc/self/attr/current > /tmp/label 2>/dev/null; "
                      "echo started > /tmp/marker; exec sleep 100000"],
                envs=[pb.KeyValue(key="GREETING", value="hello-cri")],
            ),
            sandbox_config=sandbox,
        ), timeout=180).container_id
        out["container"] = ctr
        step("StartContainer")
        rt.StartContainer(pb.StartContainerRequest(container_id=ctr), timeout=180)
        out["state_after_start"] = pb.ContainerState.Name(
            rt.ContainerStatus(pb.ContainerStatusRequest(container_id=ctr), timeout=30).status.state)

        step("ExecSync")
        deadline = time.time() + 30
        while True:
            r = rt.ExecSync(pb.ExecSyncRequest(
                container_id=ctr, cmd=["sh", "-c", "cat /tmp/marker && echo $GREETING && exit 3"],
                timeout=30), timeout=180)
            if r.exit_code != 1 or time.time() > deadline:
                break
            time.sleep(0.1)  # the marker file may not be written yet
        out["exec"] = {"stdout": r.stdout.decode(), "stderr": r.stderr.decode(), "exit_code": r.exit_code}

        # The AppArmor labels of the container's init and of an exec
        # process ("" where the kernel has no AppArmor: reading fails).
        out["label"] = exec_out(pb, rt, ctr, "cat /tmp/label")
        out["exec_label"] = exec_out(pb, rt, ctr, "cat /proc/self/attr/current 2>/dev/null; true")

        step("UpdateContainerResources")
        out["memory"] = update_memory(pb, rt, ctr, cgroup_parent)
        step("StopContainer")

        # A grace period long enough that TERM, not KILL, ends it, and a
        # deadline for the slow test VM (TCG), where containerd's own
        # task deletion after the exit takes minutes under load.
        rt.StopContainer(pb.StopContainerRequest(container_id=ctr, timeout=30), timeout=300)
        st = rt.ContainerStatus(pb.ContainerStatusRequest(container_id=ctr), timeout=30).status
        out["state_after_stop"] = pb.ContainerState.Name(st.state)
        out["exit_after_stop"] = st.exit_code
        step("RemoveContainer, StopPodSandbox, RemovePodSandbox")
        rt.RemoveContainer(pb.RemoveContainerRequest(container_id=ctr), timeout=180)
        rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=180)
        rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=180)
        out["removed"] = True
        step("done")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
