//! The kernel's device announcements: the netlink socket udevd listens to, the datagrams it
//! carries, the `uevent` files of sysfs, and coldplug's replay of them (`udevadm trigger`).

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use rustix::fd::OwnedFd;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

/// `KEY=value` lines of a sysfs `uevent` file.
pub fn parse_uevent(text: &str) -> HashMap<String, String> {
    text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A sysfs attribute, trimmed. One read of up to a page (what sysfs returns at most), without
/// the size query and the read to EOF of `read_to_string`: coldplug reads hundreds of them.
pub fn read_attr(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut buf = [0u8; 4096];
    let n = File::open(path).ok()?.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).trim().to_string())
}

/// A netlink socket receiving the kernel's uevents (what udev listens to).
pub struct Uevents {
    fd: OwnedFd,
    /// Written to end a `wait` early.
    wake: OwnedFd,
    /// The kernel's last event number once the socket listened: events up to it never arrive.
    pub opened_at: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Uevent {
    pub action: String,
    pub devpath: String,
    pub vars: HashMap<String, String>,
}

/// Parses one kernel uevent datagram: `ACTION@DEVPATH\0KEY=VALUE\0…`. Datagrams from udev
/// (`libudev` header) are ignored.
pub fn parse_datagram(buf: &[u8]) -> Option<Uevent> {
    let mut parts = buf.split(|&b| b == 0).filter(|p| !p.is_empty());
    let head = std::str::from_utf8(parts.next()?).ok()?;
    let (action, devpath) = head.split_once('@')?;
    let vars = parts
        .filter_map(|p| std::str::from_utf8(p).ok())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Some(Uevent { action: action.to_string(), devpath: devpath.to_string(), vars })
}

impl Uevents {
    pub fn open() -> rustix::io::Result<Self> {
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            Some(rustix::net::netlink::KOBJECT_UEVENT),
        )?;
        // A big receive buffer: coldplug of a large machine produces bursts (256 SCSI disks
        // send some 2,000 events in a few seconds). SO_RCVBUF is capped at net.core.rmem_max
        // (208 KiB by default, which 256 disks overflowed); PID 1 may force past it, as udevd
        // does (128 MiB there; the kernel charges only what is queued).
        let sock = rustix::net::sockopt::set_socket_recv_buffer_size_force(&fd, 64 << 20);
        if sock.is_err() {
            let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&fd, 4 << 20);
        }
        rustix::net::bind(&fd, &rustix::net::netlink::SocketAddrNetlink::new(0, 1))?;
        let opened_at = read_attr(Path::new("/sys/kernel/uevent_seqnum")).and_then(|n| n.parse().ok()).unwrap_or(0);
        let wake =
            rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK)?;
        Ok(Uevents { fd, wake, opened_at })
    }

    /// Blocks until events are queued, `timeout` passes or `interrupt` is called; whether
    /// events are queued.
    pub fn wait(&self, timeout: Option<std::time::Duration>) -> bool {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        // A timeout past what a timespec holds is no timeout.
        let ts = timeout.and_then(|t| Timespec::try_from(t).ok());
        loop {
            let mut fds = [PollFd::new(&self.fd, PollFlags::IN), PollFd::new(&self.wake, PollFlags::IN)];
            match poll(&mut fds, ts.as_ref()) {
                Err(rustix::io::Errno::INTR) => continue,
                Ok(_) => {
                    if !fds[1].revents().is_empty() {
                        let _ = rustix::io::read(&self.wake, &mut [0u8; 8]);
                    }
                    return fds[0].revents().contains(PollFlags::IN);
                }
                Err(_) => return false,
            }
        }
    }

    /// Every queued event, without blocking. After an overflow, every device is announced again.
    pub fn drain(&self) -> Vec<Uevent> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 8192];
        loop {
            match rustix::net::recv(&self.fd, &mut buf[..], rustix::net::RecvFlags::DONTWAIT) {
                Ok((n, _)) => out.extend(parse_datagram(&buf[..n.min(buf.len())])),
                Err(rustix::io::Errno::INTR) => {}
                // The queue overflowed and events were lost: what udevd does, look at every device.
                Err(rustix::io::Errno::NOBUFS) => {
                    log::warn!("uevents were lost (queue overflow); announcing every device in sysfs again");
                    // What is lost is covered by the replay: it counts as everything sent by now.
                    let sent = read_attr(Path::new("/sys/kernel/uevent_seqnum")).unwrap_or_default();
                    out.extend(replay(Path::new("/sys")).into_iter().map(|mut ev| {
                        ev.vars.insert("SEQNUM".into(), sent.clone());
                        ev
                    }));
                }
                Err(_) => return out,
            }
        }
    }

    /// Wakes a `wait`.
    pub fn interrupt(&self) {
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }
}

/// What the kernel may have said that was lost (udevd's answer to an overflow: trigger
/// everything): an `add` for every bus device's modalias, so its driver is loaded, and for every
/// block device in sysfs, so it counts as announced (an `add` lost in the overflow would hide it
/// from every scan; the bench's 256 SCSI disks overflowed the default-sized queue).
pub fn replay(sysfs: &Path) -> Vec<Uevent> {
    let mut out: Vec<Uevent> = modaliases(sysfs)
        .into_iter()
        .map(|m| Uevent {
            action: "add".into(),
            vars: HashMap::from([("MODALIAS".to_string(), m)]),
            ..Default::default()
        })
        .collect();
    for e in std::fs::read_dir(sysfs.join("class/block")).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        out.push(Uevent {
            action: "add".into(),
            devpath: format!("/class/block/{name}"),
            vars: HashMap::from([
                ("SUBSYSTEM".to_string(), "block".to_string()),
                // The node's path: the kernel's `!` is a `/` (cciss!c0d0).
                ("DEVNAME".to_string(), name.replace('!', "/")),
            ]),
        });
    }
    out
}

/// The modalias of every device on a bus, as `udevadm trigger` announces them (coldplug).
/// Only bus devices have one, so `/sys/bus/*/devices/*` is read rather than all of
/// `/sys/devices`, whose walk visits every attribute directory too.
pub fn modaliases(sysfs: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for bus in std::fs::read_dir(sysfs.join("bus")).into_iter().flatten().flatten() {
        for dev in std::fs::read_dir(bus.path().join("devices")).into_iter().flatten().flatten() {
            if let Some(m) = read_attr(&dev.path().join("modalias")).filter(|m| !m.is_empty()) {
                out.push(m);
            }
        }
    }
    crate::sort::sort(&mut out);
    out.dedup();
    out
}

/// One fuzzing run (`rdbreak-fuzzing`, fuzz/): any bytes as a netlink datagram and as a sysfs
/// `uevent` file; never panics.
pub fn fuzz_one(data: &[u8]) {
    let _ = parse_datagram(data);
    let _ = parse_uevent(&String::from_utf8_lossy(data));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coldplug_reads_the_modalias_of_bus_devices() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path();
        for (bus, dev, alias) in [
            ("pci", "0000:00:04.0", "pci:v00001AF4d00001001"),
            ("virtio", "virtio0", "virtio:d00000002v00001AF4"),
            ("pci", "0000:00:01.1", "pci:v00008086d00007010"),
            ("virtio", "virtio1", "virtio:d00000002v00001AF4"),
        ] {
            let d = sys.join("bus").join(bus).join("devices").join(dev);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("modalias"), format!("{alias}\n")).unwrap();
        }
        std::fs::create_dir_all(sys.join("bus/cpu/devices/cpu0")).unwrap(); // no modalias file
        std::fs::create_dir_all(sys.join("bus/serio")).unwrap(); // no devices directory
        assert_eq!(modaliases(sys), ["pci:v00001AF4d00001001", "pci:v00008086d00007010", "virtio:d00000002v00001AF4"]);
    }

    /// After an overflow every block device is announced again, not only the drivers' aliases.
    #[test]
    fn an_overflow_announces_every_block_device_again() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path();
        let d = sys.join("bus/virtio/devices/virtio0");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("modalias"), "virtio:d00000008v00001AF4\n").unwrap();
        std::fs::create_dir_all(sys.join("class/block/sdij")).unwrap();
        std::fs::create_dir_all(sys.join("class/block/cciss!c0d0")).unwrap();
        let evs = replay(sys);
        assert!(evs.iter().any(|e| e.vars.get("MODALIAS").is_some_and(|m| m.starts_with("virtio:d00000008"))));
        let mut blocks: Vec<&str> = evs
            .iter()
            .filter(|e| e.action == "add" && e.vars.get("SUBSYSTEM").is_some_and(|s| s == "block"))
            .filter_map(|e| e.vars.get("DEVNAME").map(String::as_str))
            .collect();
        blocks.sort();
        assert_eq!(blocks, ["cciss/c0d0", "sdij"]);
    }

    #[test]
    fn uevent_datagrams() {
        let ev = parse_datagram(
            b"add@/devices/pci0000:00/0000:00:04.0/virtio1\0ACTION=add\0MODALIAS=virtio:d00000002v00001AF4\0SEQNUM=9\0",
        )
        .unwrap();
        assert_eq!(ev.action, "add");
        assert_eq!(ev.vars["MODALIAS"], "virtio:d00000002v00001AF4");
        assert!(parse_datagram(b"libudev\0\xfe\xed").is_none());
        assert!(parse_datagram(b"").is_none());
    }
}
