//! `linux.netDevices`: the parent moves each host link into the init's
//! network namespace, renamed, with its permanent global addresses, and
//! brings it up there (runtime-spec "Network Devices"). Nothing is moved
//! back: the kernel returns physical links when the namespace dies and
//! destroys virtual ones.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use super::LaunchError;
use crate::netlink::{Link, Netlink};
use crate::spec::NetDevice;

fn err(d: &NetDevice, step: &str) -> impl FnOnce(Errno) -> LaunchError {
    let what = format!("linux.netDevices.{}: {step}", d.host_name);
    move |source| LaunchError::Sys { what, source }
}

fn open_ns(path: &str) -> Result<OwnedFd, Errno> {
    nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
}

/// A route socket inside the network namespace `ns` (the calling thread
/// enters it for the `socket` call only).
fn netlink_in(ns: &OwnedFd) -> Result<Netlink, LaunchError> {
    let own = open_ns("/proc/thread-self/ns/net")
        .map_err(LaunchError::sys("open /proc/thread-self/ns/net"))?;
    nix::sched::setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)
        .map_err(LaunchError::sys("enter the container's network namespace"))?;
    let nl = Netlink::open();
    nix::sched::setns(own.as_fd(), CloneFlags::CLONE_NEWNET).map_err(LaunchError::sys(
        "return to the runtime's network namespace",
    ))?;
    nl.map_err(LaunchError::sys("netlink socket in the container"))
}

/// Moves every device into the network namespace of `pid`.
pub fn move_all(devices: &[NetDevice], pid: Pid) -> Result<(), LaunchError> {
    if devices.is_empty() {
        return Ok(());
    }
    let ns = open_ns(&format!("/proc/{pid}/ns/net"))
        .map_err(LaunchError::sys(format!("open /proc/{pid}/ns/net")))?;
    let mut host = Netlink::open().map_err(LaunchError::sys("netlink socket"))?;
    let mut inside = netlink_in(&ns)?;
    for d in devices {
        move_one(&mut host, &mut inside, &ns, d)?;
    }
    Ok(())
}

fn move_one(
    host: &mut Netlink,
    inside: &mut Netlink,
    ns: &OwnedFd,
    d: &NetDevice,
) -> Result<(), LaunchError> {
    let link = host
        .link(&d.host_name)
        .map_err(err(d, "find the device in the runtime's network namespace"))?;
    // The kernel moves first and renames after: a taken name would fail
    // with the device already moved. Check it here, while it is still ours.
    if !d.name.contains("%d") && inside.link(&d.name).is_ok() {
        return Err(err(
            d,
            &format!(
                "a device named {:?} already exists in the container",
                d.name
            ),
        )(Errno::EEXIST));
    }
    // Down first, so the host sees no half-moved device; the addresses are
    // read before the move, which drops them.
    host.set_up(link.index, false)
        .map_err(err(d, "set link down"))?;
    let addrs: Vec<_> = host
        .addresses(link.index)
        .map_err(err(d, "list addresses"))?
        .into_iter()
        .filter(|a| a.is_permanent_global())
        .collect();
    host.move_to(link.index, &d.name, ns.as_fd()).map_err(err(
        d,
        &format!(
            "move into the container's network namespace as {:?}",
            d.name
        ),
    ))?;
    let moved = find_moved(inside, &link, &d.name).map_err(err(d, "find the moved device"))?;
    for a in &addrs {
        inside
            .add_address(moved.index, a)
            .map_err(err(d, "restore an address"))?;
    }
    inside
        .set_up(moved.index, true)
        .map_err(err(d, &format!("set {} up", moved.name)))
}

/// The moved link inside: same index if it was free, else the one with the
/// same hardware address and the requested name (or template).
fn find_moved(nl: &mut Netlink, was: &Link, name: &str) -> Result<Link, Errno> {
    let links = nl.links()?;
    let matches_name = |l: &Link| match name.split_once("%d") {
        Some((pre, post)) => l.name.starts_with(pre) && l.name.ends_with(post),
        None => l.name == name,
    };
    links
        .iter()
        .find(|l| l.index == was.index && matches_name(l))
        .or_else(|| {
            links
                .iter()
                .find(|l| matches_name(l) && (l.mac == was.mac || !name.contains("%d")))
        })
        .cloned()
        .ok_or(Errno::ENODEV)
}
