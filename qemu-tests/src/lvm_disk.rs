//! LVM test disks made by the real lvm2 tools on the host, whether or not this host has lvm2
//! (the same version everywhere, and no host lvm.conf) and without device-mapper (the host
//! kernel has none): Debian's lvm2 packages are unpacked into the cache and run on loop devices
//! with activation off and a private configuration. The filesystems are made as files by the real mkfs and written where lvm
//! placed each LV's extents, which `lvs` reports.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::assets::{locked, run};

/// The lvm2 tools from Debian's packages, unpacked once into the cache.
fn tools(cache: &Path) -> PathBuf {
    let dir = cache.join("lvm2-tools");
    locked(cache, "lvm2-tools", || {
        if !dir.join(".ready").exists() {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("debs")).expect("lvm2 tools dir");
            run(Command::new("apt-get")
                .args([
                    "download",
                    "-q",
                    "lvm2",
                    "dmsetup",
                    "libdevmapper1.02.1",
                    "libdevmapper-event1.02.1",
                    "libaio1",
                ])
                .current_dir(dir.join("debs")));
            for deb in std::fs::read_dir(dir.join("debs")).expect("debs").flatten() {
                run(Command::new("dpkg-deb").arg("-x").arg(deb.path()).arg(dir.join("root")));
            }
            std::fs::write(dir.join(".ready"), "").expect("stamp");
        }
    });
    dir
}

/// One LV: its name, size, and the filesystem image (or `None`: a swap area) written into it.
pub struct Lv<'a> {
    pub name: &'a str,
    pub size_mib: u64,
    pub content: Content<'a>,
}

pub enum Content<'a> {
    /// A filesystem image file exactly `size_mib` large.
    Image(&'a Path),
    /// `mkswap` with this UUID.
    Swap(&'a str),
    /// Nothing written: the LV's extents stay as they are (zeros on a new image).
    Empty,
}

/// A loop device on `file`, detached when dropped.
struct Loop(String);

impl Loop {
    fn attach(file: &Path) -> Loop {
        let dev = run(Command::new("losetup").args(["-f", "--show"]).arg(file));
        Loop(dev.trim().to_string())
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

/// An lvm command on `devices` only, with activation off and nothing kept on the host.
fn lvm(tools: &Path, conf_dir: &Path, devices: &[String], args: &[&str]) -> String {
    let filter: String = devices.iter().map(|d| format!("\"a|^{d}$|\", ")).collect();
    std::fs::create_dir_all(conf_dir.join("lock")).expect("lvm conf dir");
    std::fs::write(
        conf_dir.join("lvm.conf"),
        format!(
            "devices {{ use_devicesfile = 0 obtain_device_list_from_udev = 0 filter = [ {filter}\"r|.*|\" ] }}\n\
             activation {{ udev_sync = 0 udev_rules = 0 monitoring = 0 }}\n\
             global {{ activation = 0 locking_dir = \"{}\" use_lvmpolld = 0 }}\n\
             backup {{ backup = 0 archive = 0 }}\n",
            conf_dir.join("lock").display()
        ),
    )
    .expect("lvm.conf");
    let root = tools.join("root");
    let libs = format!("{}/lib/x86_64-linux-gnu:{}/usr/lib/x86_64-linux-gnu", root.display(), root.display());
    run(Command::new(root.join("sbin/lvm"))
        .args(args)
        .env("LD_LIBRARY_PATH", libs)
        .env("LVM_SYSTEM_DIR", conf_dir)
        .env("LVM_SUPPRESS_FD_WARNINGS", "1"))
}

/// A VG on the partitions (or whole disks) given: `pvs` are (disk image, partition number or
/// 0 for the whole disk). LVs are created in order, linear, or striped over every PV when
/// `stripes` is set; each LV's content is written where lvm put it.
pub struct Vg<'a> {
    pub name: &'a str,
    pub pvs: Vec<(&'a Path, u32)>,
    pub lvs: Vec<Lv<'a>>,
    pub stripes: bool,
}

/// Where a linear LV's bytes are: the disk image and the byte range.
#[derive(Clone, Debug)]
pub struct Placed {
    pub lv: String,
    pub disk: PathBuf,
    pub offset: u64,
    pub len: u64,
}

/// Makes the VG with the real tools; returns where each LV that sits on one PV landed. `work`
/// is a scratch directory.
pub fn make_vg(cache: &Path, work: &Path, vg: &Vg<'_>) -> Vec<Placed> {
    let tools = tools(cache);
    let conf = work.join("lvm-conf");
    // A partition's PV is made on a file of its own (lvm needs no partition table, and loop
    // partitions need udev to appear), then copied into the disk.
    let offsets: Vec<u64> =
        vg.pvs.iter().map(|(disk, part)| if *part == 0 { 0 } else { partition_offset(disk, *part) }).collect();
    let files: Vec<PathBuf> = vg
        .pvs
        .iter()
        .enumerate()
        .map(|(i, (disk, part))| {
            if *part == 0 {
                return disk.to_path_buf();
            }
            let f = work.join(format!("pv{i}.part"));
            let file = std::fs::File::create(&f).expect("partition file");
            file.set_len(partition_size(disk, *part)).expect("partition size");
            f
        })
        .collect();
    let loops: Vec<Loop> = files.iter().map(|f| Loop::attach(f)).collect();
    let devices: Vec<String> = loops.iter().map(|l| l.0.clone()).collect();
    let lvm = |args: &[&str]| lvm(&tools, &conf, &devices, args);
    for d in &devices {
        lvm(&["pvcreate", "-q", "-y", "-ff", d]);
    }
    let mut create = vec!["vgcreate", "-q", "-s", "4M", vg.name];
    create.extend(devices.iter().map(String::as_str));
    lvm(&create);
    for lv in &vg.lvs {
        let size = format!("{}M", lv.size_mib);
        let stripes = devices.len().to_string();
        let mut args = vec!["lvcreate", "-q", "-an", "-Zn", "-y", "-n", lv.name, "-L", &size];
        if vg.stripes {
            args.extend(["-i", &stripes, "-I", "64k"]);
        }
        args.push(vg.name);
        lvm(&args);
    }
    // Where each extent landed: the PVs' data start, and each LV's segments per stripe.
    let pe_start: Vec<u64> = lvm(&["pvs", "--noheadings", "--nosuffix", "--units", "b", "-o", "pe_start"])
        .lines()
        .map(|l| l.trim().parse().expect("pe_start"))
        .collect();
    let mut placed = Vec::new();
    for lv in &vg.lvs {
        let data = match &lv.content {
            Content::Empty => continue,
            Content::Image(p) => std::fs::read(p).expect("LV content image"),
            Content::Swap(uuid) => {
                let swap = work.join(format!("{}.swap", lv.name));
                let f = std::fs::File::create(&swap).expect("swap file");
                f.set_len(lv.size_mib << 20).expect("swap size");
                run(Command::new("mkswap").args(["-q", "-U", uuid]).arg(&swap));
                std::fs::read(&swap).expect("swap file")
            }
        };
        let full = format!("{}/{}", vg.name, lv.name);
        let seg = lvm(&[
            "lvs",
            "--noheadings",
            "-o",
            "seg_pe_ranges,stripes,stripe_size",
            "--units",
            "b",
            "--nosuffix",
            &full,
        ]);
        let fields: Vec<&str> = seg.split_whitespace().collect();
        let extent = 4u64 << 20;
        let ranges: Vec<(usize, u64)> = fields
            .iter()
            .filter(|f| f.contains(':'))
            .map(|r| {
                let (dev, span) = r.split_once(':').expect("pe range");
                let first: u64 = span.split('-').next().expect("pe range").parse().expect("first pe");
                (devices.iter().position(|d| d == dev).expect("pe range device"), first)
            })
            .collect();
        let stripe_size: u64 = fields.last().and_then(|s| s.parse().ok()).filter(|&s| s > 0).unwrap_or(extent);
        for (i, chunk) in data.chunks(stripe_size as usize).enumerate() {
            let stripe = i % ranges.len();
            let (pv, first) = ranges[stripe];
            let at = pe_start[pv] + first * extent + (i / ranges.len()) as u64 * stripe_size;
            write_at(&files[pv], at, chunk);
        }
        if let [(pv, first)] = ranges.as_slice() {
            placed.push(Placed {
                lv: lv.name.to_string(),
                disk: vg.pvs[*pv].0.to_path_buf(),
                offset: offsets[*pv] + pe_start[*pv] + first * extent,
                len: lv.size_mib << 20,
            });
        }
    }
    drop(loops);
    for (i, (disk, part)) in vg.pvs.iter().enumerate() {
        if *part != 0 {
            write_at(disk, offsets[i], &std::fs::read(&files[i]).expect("partition file"));
            let _ = std::fs::remove_file(&files[i]);
        }
    }
    placed
}

/// Reads a file from the filesystem in a placed LV: the range attached as a loop device and
/// mounted (the host kernel has xfs and ext4, not device-mapper). Not read-only: a guest that
/// powered off without unmounting leaves its last changes in the journal, which the mount
/// replays.
pub fn read_file(lv: &Placed, path: &str) -> Option<String> {
    let dev = run(Command::new("losetup")
        .args(["-f", "--show", "-o", &lv.offset.to_string(), "--sizelimit", &lv.len.to_string()])
        .arg(&lv.disk));
    let dev = Loop(dev.trim().to_string());
    let mnt = tempfile_dir();
    let ok = Command::new("mount").arg(&dev.0).arg(&mnt).status().is_ok_and(|s| s.success());
    let text = ok.then(|| std::fs::read_to_string(mnt.join(path.trim_start_matches('/'))).ok()).flatten();
    if ok {
        let _ = Command::new("umount").arg(&mnt).status();
    }
    let _ = std::fs::remove_dir(&mnt);
    text
}

fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("rdbreak-lv-{}-{:?}", std::process::id(), std::thread::current().id()));
    let _ = std::fs::create_dir_all(&d);
    d
}

/// The byte offset of partition `n` on a disk image.
fn partition_offset(disk: &Path, n: u32) -> u64 {
    sfdisk_field(disk, n, "start") * 512
}

/// A field (`start`, `size`, in sectors) of partition `n` in sfdisk's dump.
fn sfdisk_field(disk: &Path, n: u32, field: &str) -> u64 {
    let dump = run(Command::new("sfdisk").arg("-d").arg(disk));
    let name = format!("{}{n} ", disk.display());
    let line = dump.lines().find(|l| l.starts_with(&name)).expect("partition in sfdisk dump");
    let rest = &line[line.find(':').expect("sfdisk line") + 1..];
    rest.split(',')
        .find_map(|f| f.trim().strip_prefix(field)?.trim_start().strip_prefix('=').map(|v| v.trim().to_string()))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field}= in {line}"))
}

/// The byte size of partition `n` on a disk image.
fn partition_size(disk: &Path, n: u32) -> u64 {
    sfdisk_field(disk, n, "size") * 512
}

fn write_at(file: &Path, at: u64, data: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(file).expect("open disk image");
    f.write_all_at(data, at).expect("write LV content");
}

/// An MBR disk of `size_mib` with partitions of the given sizes (MiB, the last takes the rest
/// when 0) and types (`83` Linux, `8e` LVM), the first at 1 MiB.
pub fn mbr_disk(disk: &Path, size_mib: u64, parts: &[(u64, &str)]) {
    let f = std::fs::File::create(disk).expect("disk image");
    f.set_len(size_mib << 20).expect("disk size");
    drop(f);
    let script: String = parts
        .iter()
        .map(|(size, kind)| if *size == 0 { format!(",,{kind}\n") } else { format!(",{size}M,{kind}\n") })
        .collect();
    let mut child = Command::new("sfdisk")
        .args(["-q", "--label", "dos"])
        .arg(disk)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("sfdisk");
    use std::io::Write;
    child.stdin.take().expect("stdin").write_all(script.as_bytes()).expect("sfdisk script");
    assert!(child.wait().expect("sfdisk").success(), "sfdisk failed on {}", disk.display());
}

/// Writes a filesystem image into partition `n`.
pub fn fill_partition(disk: &Path, n: u32, image: &Path) {
    write_at(disk, partition_offset(disk, n), &std::fs::read(image).expect("partition image"));
}
