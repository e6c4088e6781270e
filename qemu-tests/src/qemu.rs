//! What the test machine is: the one QEMU command line, shared by the driven VMs of the tests
//! and by the demo on a terminal. Disks carry their interface, id and serial, so a scenario can
//! attach several (virtio, SCSI, NVMe, SATA, USB) and hot-plug more through the monitor.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where the serial console goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Console {
    /// Piped to the harness, which reads and types. `panic=-1` makes a panic reboot, which
    /// `-no-reboot` turns into QEMU exiting, so a driven test never hangs on a dead guest.
    Driven,
    /// This terminal, with QEMU's monitor on Ctrl-A C (the demo). No `panic=`: a person reads it.
    Terminal,
}

/// The bus a disk sits on, as the guest's drivers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interface {
    /// virtio-blk on PCI: `/dev/vdX`.
    Virtio,
    /// A disk on a virtio-scsi controller: `/dev/sdX`.
    Scsi,
    /// An NVMe controller with this disk as its namespace: `/dev/nvmeXn1`.
    Nvme,
    /// A disk on an AHCI (SATA) controller: `/dev/sdX`.
    Sata,
    /// A disk on the machine's own PIIX IDE controller (master, then slave of each channel):
    /// `/dev/sdX`.
    Ide,
    /// USB mass storage on an xHCI controller: `/dev/sdX`.
    Usb,
}

impl Interface {
    /// The controller this interface needs, added once per machine: (device, id).
    fn controller(self) -> Option<(&'static str, &'static str)> {
        match self {
            Interface::Virtio | Interface::Nvme | Interface::Ide => None,
            Interface::Scsi => Some(("virtio-scsi-pci", "scsi0")),
            Interface::Sata => Some(("ahci", "ahci0")),
            Interface::Usb => Some(("qemu-xhci", "usbdisks")),
        }
    }
}

/// A disk image attached to the machine.
#[derive(Clone, Debug)]
pub struct Disk {
    pub path: PathBuf,
    pub interface: Interface,
    /// QEMU's name for the device (`-device …,id=`), needed to hot-plug or unplug it; the
    /// drive is `drive-<id>`.
    pub id: Option<String>,
    /// The serial number the guest reads (`/dev/disk/by-id/…`).
    pub serial: Option<String>,
    /// `raw` or `qcow2`.
    pub format: &'static str,
}

impl Disk {
    /// A raw image on virtio-blk.
    pub fn virtio(path: &Path) -> Disk {
        Disk { path: path.into(), interface: Interface::Virtio, id: None, serial: None, format: "raw" }
    }
    pub fn on(mut self, interface: Interface) -> Disk {
        self.interface = interface;
        self
    }
    pub fn id(mut self, id: &str) -> Disk {
        self.id = Some(id.into());
        self
    }
    pub fn serial(mut self, serial: &str) -> Disk {
        self.serial = Some(serial.into());
        self
    }
    pub fn format(mut self, format: &'static str) -> Disk {
        self.format = format;
        self
    }

    /// A plain virtio disk is given as `-drive if=virtio`, as the harness always has; any other
    /// gets a named drive and its own `-device`.
    fn is_plain(&self) -> bool {
        self.interface == Interface::Virtio && self.id.is_none() && self.serial.is_none()
    }

    /// The `-drive` value with `if=none` (also what the monitor's `drive_add` takes).
    pub(crate) fn drive(&self, id: &str) -> String {
        format!("file={},if=none,id=drive-{id},format={}", self.path.display(), self.format)
    }

    /// The `-device` value (also what the monitor's `device_add` takes); `port` numbers the
    /// AHCI ports, or the IDE units (two per channel).
    pub(crate) fn device(&self, id: &str, port: usize) -> String {
        let mut d = match self.interface {
            Interface::Virtio => format!("virtio-blk-pci,drive=drive-{id}"),
            Interface::Scsi => format!("scsi-hd,drive=drive-{id},bus=scsi0.0"),
            // An NVMe controller needs a serial; the id serves when none is given.
            Interface::Nvme => format!("nvme,drive=drive-{id},serial={}", self.serial.as_deref().unwrap_or(id)),
            Interface::Sata => format!("ide-hd,drive=drive-{id},bus=ahci0.{port}"),
            Interface::Ide => format!("ide-hd,drive=drive-{id},bus=ide.{},unit={}", port / 2, port % 2),
            Interface::Usb => format!("usb-storage,drive=drive-{id},bus=usbdisks.0"),
        };
        d.push_str(&format!(",id={id}"));
        if let (Some(s), false) = (&self.serial, self.interface == Interface::Nvme) {
            d.push_str(&format!(",serial={s}"));
        }
        d
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    /// Added after the console's own arguments (`console=ttyS0 panic=-1` when driven).
    pub append: String,
    pub disks: Vec<Disk>,
    pub mem_mib: u32,
    /// Boot from the first disk (firmware + bootloader) instead of -kernel.
    pub bios_boot: bool,
    /// A QEMU monitor socket (for hot-plugging devices while the guest runs).
    pub monitor: Option<PathBuf>,
    /// Controllers to add even when no disk at boot uses them (for disks hot-plugged later).
    pub controllers: Vec<Interface>,
    /// More `-device` arguments (`qemu-xhci,id=xhci`, `usb-kbd,bus=xhci.0`).
    pub devices: Vec<String>,
    /// More QEMU arguments as they are (`-nic none`).
    pub args: Vec<String>,
    pub console: Console,
}

impl Config {
    pub fn new(kernel: &Path, initrd: &Path, append: &str) -> Config {
        Config {
            kernel: kernel.into(),
            initrd: Some(initrd.into()),
            append: append.into(),
            disks: Vec::new(),
            mem_mib: 768,
            bios_boot: false,
            monitor: None,
            controllers: Vec::new(),
            devices: Vec::new(),
            args: Vec::new(),
            console: Console::Driven,
        }
    }

    /// A raw virtio disk.
    pub fn disk(mut self, d: &Path) -> Config {
        self.disks.push(Disk::virtio(d));
        self
    }

    /// The kernel command line.
    pub fn cmdline(&self) -> String {
        match self.console {
            Console::Driven => format!("console=ttyS0 panic=-1 {}", self.append),
            Console::Terminal => format!("console=ttyS0 {}", self.append),
        }
    }

    /// The `qemu-system-x86_64` command for this machine, its stdio set for the console kind.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("qemu-system-x86_64");
        // `RDBREAK_QEMU_CPU=qemu64`: QEMU's default model, as a plain `qemu-system-x86_64` run has
        // (the benchmark compares the two).
        let cpu = std::env::var("RDBREAK_QEMU_CPU").unwrap_or_else(|_| "max".into());
        cmd.args(["-machine", "accel=tcg", "-cpu", &cpu, "-m", &self.mem_mib.to_string(), "-smp", "1"]);
        cmd.args(["-nodefaults", "-display", "none", "-no-reboot", "-serial"]);
        cmd.arg(match self.console {
            Console::Driven => "stdio",
            Console::Terminal => "mon:stdio",
        });
        if !self.bios_boot {
            cmd.arg("-kernel").arg(&self.kernel);
            if let Some(i) = &self.initrd {
                cmd.arg("-initrd").arg(i);
            }
            cmd.arg("-append").arg(self.cmdline());
        }
        cmd.args(self.disk_args());
        for d in &self.devices {
            cmd.arg("-device").arg(d);
        }
        cmd.args(&self.args);
        if let Some(m) = &self.monitor {
            cmd.arg("-monitor").arg(format!("unix:{},server=on,wait=off", m.display()));
        }
        if self.console == Console::Driven {
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        cmd
    }

    /// The disks' arguments, in order (the guest names virtio disks in PCI order), with each
    /// controller they need once, before the first disk on it.
    fn disk_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut controllers: Vec<Interface> = Vec::new();
        let (mut sata_port, mut ide_unit) = (0, 0);
        for want in self.controllers.iter().copied().chain(self.disks.iter().map(|d| d.interface)) {
            if let (Some((device, id)), false) = (want.controller(), controllers.contains(&want)) {
                controllers.push(want);
                args.extend(["-device".to_string(), format!("{device},id={id}")]);
            }
        }
        for (i, d) in self.disks.iter().enumerate() {
            if d.is_plain() {
                args.extend(["-drive".to_string(), format!("file={},if=virtio,format={}", d.path.display(), d.format)]);
                continue;
            }
            let id = d.id.clone().unwrap_or_else(|| format!("disk{i}"));
            let port = if d.interface == Interface::Ide { ide_unit } else { sata_port };
            args.extend(["-drive".to_string(), d.drive(&id), "-device".to_string(), d.device(&id, port)]);
            match d.interface {
                Interface::Sata => sata_port += 1,
                Interface::Ide => ide_unit += 1,
                _ => {}
            }
        }
        args
    }
}
