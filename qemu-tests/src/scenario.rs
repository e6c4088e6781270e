//! A VM scenario as a builder: a root tree on a filesystem on a disk, more disks, an initramfs
//! and a kernel command line, then a running [`Vm`]. Root images that no scenario customizes are
//! built once into the cache and copied, so scenarios share them.
//!
//! ```no_run
//! use rdbreak_qemu_tests::{Root, Scenario};
//! let s = Scenario::new("example").root(Root::recovery("0b4e2f1e-7d1c-4c8e-9a55-1f2e3d4c5b6a")).quiet();
//! let mut vm = s.append("root=LABEL=root ro rd.break").boot();
//! let mut sh = vm.at_prompt("switch_root:/# ", 240);
//! assert!(sh.run("cat /proc/cmdline").contains("rd.break"));
//! sh.continue_to_real_init();
//! ```

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::assets::{self, run, DracutVariant, Modules};
use crate::disk::{self, FsSpec, Part, Tree};
use crate::qemu::{Config, Disk, Interface};
use crate::vm::Vm;

/// Which root tree to start from.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum TreeKind {
    /// The usual layout with the test init as /sbin/init ([`Tree::standard`]).
    Standard,
    /// A real shell, coreutils and `passwd` from this host, usr-merged ([`Tree::recovery`]).
    Recovery,
}

#[derive(Clone, Debug, Hash)]
enum Layout {
    /// The filesystem is the whole disk.
    Whole,
    /// One GPT partition.
    Gpt { partuuid: String, partlabel: String },
    /// An MBR disk with GRUB 2 for BIOS and this grub.cfg.
    BiosGrub { cfg: String },
}

type Customize = Box<dyn FnOnce(&Tree)>;

/// A root filesystem image: a tree, a filesystem, a disk layout.
pub struct Root {
    tree: TreeKind,
    fstype: &'static str,
    uuid: String,
    label: String,
    size_mib: Option<u64>,
    layout: Layout,
    customize: Vec<Customize>,
}

impl Root {
    /// The standard tree on ext4, the filesystem filling the disk.
    pub fn standard(uuid: &str) -> Root {
        Root {
            tree: TreeKind::Standard,
            fstype: "ext4",
            uuid: uuid.into(),
            label: "root".into(),
            size_mib: None,
            layout: Layout::Whole,
            customize: Vec::new(),
        }
    }

    /// The recovery tree on ext4, the filesystem filling the disk.
    pub fn recovery(uuid: &str) -> Root {
        Root { tree: TreeKind::Recovery, ..Root::standard(uuid) }
    }

    /// `ext4`, `ext3`, `ext2`, `xfs` or `btrfs`.
    pub fn fs(mut self, fstype: &'static str) -> Root {
        self.fstype = fstype;
        self
    }
    pub fn label(mut self, label: &str) -> Root {
        self.label = label.into();
        self
    }
    /// The filesystem's size (default: 128 MiB for the standard tree, 256 for the recovery
    /// tree, 300 for xfs, its minimum).
    pub fn size_mib(mut self, size: u64) -> Root {
        self.size_mib = Some(size);
        self
    }
    /// The filesystem in one GPT partition.
    pub fn gpt(mut self, partuuid: &str, partlabel: &str) -> Root {
        self.layout = Layout::Gpt { partuuid: partuuid.into(), partlabel: partlabel.into() };
        self
    }
    /// A BIOS-bootable disk (MBR, GRUB 2 with `cfg` as /boot/grub/grub.cfg); see
    /// [`disk::bios_grub_disk`].
    pub fn bios_grub(mut self, cfg: &str) -> Root {
        self.layout = Layout::BiosGrub { cfg: cfg.into() };
        self
    }
    /// Changes the tree before the filesystem is made (such a root is built afresh, not cached).
    pub fn customize(mut self, f: impl FnOnce(&Tree) + 'static) -> Root {
        self.customize.push(Box::new(f));
        self
    }

    fn size(&self) -> u64 {
        self.size_mib.unwrap_or(match (self.fstype, self.tree) {
            ("xfs", _) => 300,
            (_, TreeKind::Standard) => 128,
            (_, TreeKind::Recovery) => 256,
        })
    }

    /// Makes the disk image `dir/<name>.img` and returns its path.
    pub fn build(self, dir: &Path, name: &str) -> PathBuf {
        let image = dir.join(format!("{name}.img"));
        if self.customize.is_empty() {
            let cached = self.cached();
            run(Command::new("cp").arg("--sparse=always").arg(&cached).arg(&image));
        } else {
            self.make(dir, name, &image);
        }
        image
    }

    /// The image in the cache, made on first use; keyed by everything that goes into it.
    fn cached(self) -> PathBuf {
        let a = assets::get();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (self.tree, self.fstype, &self.uuid, &self.label, self.size(), &self.layout).hash(&mut h);
        std::fs::read(&a.test_init).expect("test init").hash(&mut h);
        // And the code that lays out the trees and makes the filesystems. Not the host's
        // programs a recovery tree copies: any working copy of them serves (and the package
        // test changes the host's package list on every run).
        (include_str!("disk.rs"), include_str!("scenario.rs")).hash(&mut h);
        let key = format!("root-{:016x}", h.finish());
        a.cached_file(&format!("disks/{key}.img"), |tmp| {
            let work = tmp.with_extension("work");
            let _ = std::fs::remove_dir_all(&work);
            std::fs::create_dir_all(&work).expect("cache work dir");
            self.make(&work, "root", tmp);
            let _ = std::fs::remove_dir_all(&work);
        })
    }

    fn make(self, dir: &Path, name: &str, image: &Path) {
        let a = assets::get();
        let tree_dir = dir.join(format!("tree-{name}"));
        let tree = match self.tree {
            TreeKind::Standard => Tree::standard(tree_dir, &a.test_init),
            TreeKind::Recovery => Tree::recovery(tree_dir, &a.test_init),
        };
        let size_mib = self.size();
        for f in self.customize {
            f(&tree);
        }
        let spec = FsSpec { fstype: self.fstype, uuid: &self.uuid, label: &self.label, size_mib };
        match &self.layout {
            Layout::Whole => disk::make_fs(&tree, &spec, image),
            Layout::Gpt { partuuid, partlabel } => {
                let fs = dir.join(format!("{name}.fs"));
                disk::make_fs(&tree, &spec, &fs);
                disk::gpt_disk(&[Part { image: &fs, partuuid, partlabel }], image);
                let _ = std::fs::remove_file(&fs);
            }
            Layout::BiosGrub { cfg } => disk::bios_grub_disk(&tree, &spec, cfg, image),
        }
    }
}

/// The initramfs a scenario boots.
#[derive(Clone, Debug)]
pub enum Initrd {
    /// `dracut --no-hostonly -a rdbreak`, with the modules in this form.
    Dracut(Modules),
    /// `rdbreak build` with these options.
    RdbreakBuild(Vec<String>),
    /// `dracut --no-hostonly -a rdbreak` with plain modules and these dracut options.
    DracutVariant(DracutVariant),
    /// Debian's dracut without rdbreak, with or without its systemd modules.
    StockDracut { systemd: bool },
    /// An image made by the scenario itself.
    File(PathBuf),
}

impl Initrd {
    /// `rdbreak build` with these options (none: the default drivers).
    pub fn rdbreak_build(options: &[&str]) -> Initrd {
        Initrd::RdbreakBuild(options.iter().map(|o| o.to_string()).collect())
    }

    /// The image file, built (and cached) if need be.
    pub fn path(&self) -> PathBuf {
        let a = assets::get();
        match self {
            Initrd::Dracut(form) => a.dracut_image(*form),
            Initrd::DracutVariant(v) => a.dracut_image_variant(Modules::Plain, *v),
            Initrd::RdbreakBuild(options) => {
                a.rdbreak_build_image_with(&options.iter().map(String::as_str).collect::<Vec<_>>())
            }
            Initrd::StockDracut { systemd } => a.stock_dracut_image(*systemd, false),
            Initrd::File(p) => p.clone(),
        }
    }
}

/// One VM scenario: its work directory, disks, initramfs and command line.
pub struct Scenario {
    name: String,
    dir: PathBuf,
    initrd: Initrd,
    quiet: bool,
    append: Vec<String>,
    disks: Vec<Disk>,
    controllers: Vec<Interface>,
    devices: Vec<String>,
    qemu_args: Vec<String>,
    monitor: bool,
    screen: bool,
    kernel: Option<PathBuf>,
    bios_boot: bool,
    mem_mib: u32,
}

impl Scenario {
    /// A scenario with an empty work directory `target/qemu-work/<name>`, the `dracut -a
    /// rdbreak` image, no disks and an empty command line.
    pub fn new(name: &str) -> Scenario {
        Scenario {
            name: name.into(),
            dir: crate::workdir(name),
            initrd: Initrd::Dracut(Modules::Plain),
            quiet: false,
            append: Vec::new(),
            disks: Vec::new(),
            controllers: Vec::new(),
            devices: Vec::new(),
            qemu_args: Vec::new(),
            monitor: false,
            screen: false,
            kernel: None,
            bios_boot: false,
            mem_mib: 768,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The work directory, for images the scenario makes itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Builds `root` now and attaches it as the next virtio disk (the first is `/dev/vda`).
    pub fn root(self, root: Root) -> Scenario {
        let image = root.build(&self.dir, &format!("disk{}", self.disks.len()));
        self.disk(Disk::virtio(&image))
    }

    /// Attaches a disk (in order: the guest names virtio disks in the order given).
    pub fn disk(mut self, disk: Disk) -> Scenario {
        self.disks.push(disk);
        self
    }

    /// A sparse, all-zero image `dir/<file>` of `size_mib`, not attached (for `mkswap`,
    /// `mkfs` over several disks, or a disk to hot-plug).
    pub fn blank_disk(&self, file: &str, size_mib: u64) -> PathBuf {
        let path = self.dir.join(file);
        std::fs::File::create(&path).and_then(|f| f.set_len(size_mib << 20)).expect("blank disk image");
        path
    }

    /// The image of the `i`th disk attached.
    pub fn image(&self, i: usize) -> &Path {
        &self.disks.get(i).unwrap_or_else(|| panic!("[{}] no disk {i}", self.name)).path
    }

    pub fn initrd(mut self, initrd: Initrd) -> Scenario {
        self.initrd = initrd;
        self
    }

    /// `quiet` first on the command line.
    pub fn quiet(mut self) -> Scenario {
        self.quiet = true;
        self
    }

    /// Adds to the kernel command line.
    pub fn append(mut self, args: &str) -> Scenario {
        self.append.push(args.into());
        self
    }

    /// A VGA screen and the PS/2 keyboard a person types on ([`crate::screen`]), with the
    /// monitor that presses the keys. The kernel is then started through its real-mode entry
    /// (`vmlinuz`), which takes the BIOS's text screen over; the PVH entry leaves the kernel
    /// only a dummy console.
    pub fn screen(mut self) -> Scenario {
        self.screen = true;
        self.monitor()
    }

    /// Another kernel than the test kernel (Debian 13's, for its own images).
    pub fn kernel(mut self, kernel: &Path) -> Scenario {
        self.kernel = Some(kernel.to_path_buf());
        self
    }

    /// A QEMU monitor, for [`Vm::monitor`] and [`Vm::hot_plug`].
    pub fn monitor(mut self) -> Scenario {
        self.monitor = true;
        self
    }

    /// A disk controller present from boot, for disks hot-plugged onto it later.
    pub fn controller(mut self, interface: Interface) -> Scenario {
        self.controllers.push(interface);
        self
    }

    /// Another `-device` (`qemu-xhci,id=xhci`).
    pub fn device(mut self, device: &str) -> Scenario {
        self.devices.push(device.into());
        self
    }

    /// More QEMU arguments as they are (`-nic none`).
    pub fn qemu_args(mut self, args: &[&str]) -> Scenario {
        self.qemu_args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// With `on`, the guest clock counts instructions (`-icount shift=0,sleep=off`: a nanosecond
    /// each, idle time skipped), so that boots compare without TCG's translation and device costs.
    pub fn instruction_counted(self, on: bool) -> Scenario {
        if on {
            self.qemu_args(&["-icount", "shift=0,sleep=off"])
        } else {
            self
        }
    }

    /// Boot from the first disk through its bootloader, not with -kernel.
    pub fn bios_boot(mut self) -> Scenario {
        self.bios_boot = true;
        self
    }

    pub fn mem_mib(mut self, mem: u32) -> Scenario {
        self.mem_mib = mem;
        self
    }

    /// The machine this scenario describes.
    pub fn config(&self) -> Config {
        let a = assets::get();
        let mut append = self.append.join(" ");
        if self.quiet {
            append = format!("quiet {append}");
        }
        let mut cfg = Config::new(&a.boot_kernel, &a.boot_kernel, &append);
        cfg.initrd = (!self.bios_boot).then(|| self.initrd.path());
        cfg.bios_boot = self.bios_boot;
        cfg.disks = self.disks.clone();
        cfg.controllers = self.controllers.clone();
        cfg.devices = self.devices.clone();
        cfg.args = self.qemu_args.clone();
        if let Some(k) = &self.kernel {
            cfg.kernel = k.clone();
        }
        if self.screen {
            cfg.kernel = a.kernel.clone();
            // vgacon scrolls by moving the card's start address; without that the visible
            // screen stays the first 4000 bytes of text memory, which `screen::read` reads.
            cfg.append.push_str(" no-scroll");
            cfg.args.extend(crate::screen::VGA.iter().map(|s| s.to_string()));
        }
        cfg.mem_mib = self.mem_mib;
        cfg.monitor = self
            .monitor
            .then(|| std::env::temp_dir().join(format!("rdbreak-{}-{}.monitor", self.name, std::process::id())));
        cfg
    }

    /// Starts the machine.
    pub fn boot(&self) -> Vm {
        Vm::boot(&self.name, &self.config())
    }
}
