//! The benchmark: rdbreak against stock dracut on the same kernel, disk and QEMU flags, in one
//! run, rounds interleaved. Every time is read from the guest's clock (kernel log timestamps and
//! /proc/uptime), never from the host's.
//!
//!   cargo run --release -p rdbreak-qemu-tests --bin rdbreak-bench -- [--rounds N] [--out DIR]
//!       [--suites standard,storage,scale,handoff|images] [--storage-rounds N] [--scale-rounds N]
//!       [--scale-disks 0,64,256] [--scale-lvs 1,200,1000] [--handoff-rounds N] [--clock wall|icount]
//!
//! Writes DIR/results.json and DIR/results.md (default target/bench); `./run bench` also draws
//! DIR/timeline.png. The storage suite (LVM, MD RAID, LVM on LUKS roots: `storage.rs`) adds
//! its table to results.md and DIR/results-storage.json; the scale suite (`scale.rs`) its table
//! and DIR/results-scale.json (drawn as DIR/scale.png); the hand-off suite (`handoff.rs`) its
//! table.

#[path = "bench/handoff.rs"]
mod handoff;
#[path = "bench/scale.rs"]
mod scale;
#[path = "bench/storage.rs"]
mod storage;

use std::path::{Path, PathBuf};
use std::process::Command;

use rdbreak_qemu_tests::assets::{self, Assets, DracutVariant};
use rdbreak_qemu_tests::{vm, workdir, Config, Modules, Root, Vm};

const UUID: &str = "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d";
/// Written to /dev/kmsg as soon as a break prompt shows. Short: every character typed at a
/// serial console costs the guest a few milliseconds under TCG, in every variant alike.
const PROMPT_MARK: &str = "BENCH";

struct Variant {
    name: &'static str,
    image: PathBuf,
}

#[derive(Default, Clone)]
struct Sample {
    run_init: Option<f64>,
    prompt: Option<f64>,
    exit_to_init: Option<f64>,
    plain_init: Option<f64>,
    vm_hwm_kib: Option<u64>,
    modules: Option<u64>,
}

fn uptime_after(text: &str) -> Option<f64> {
    // The first number that looks like /proc/uptime's first field after our command.
    text.lines().filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok()).next()
}

/// Waits for the shell prompt a variant shows at a break, answering systemd's sulogin, and
/// returns that prompt: dracut's `switch_root:/# `, or the prompt of the shell sulogin starts
/// (`# `, or bash's default `sh-5.2# `, Debian 12's).
fn reach_prompt(vm: &mut Vm) -> &'static str {
    const PROMPTS: [&str; 5] =
        ["switch_root:/# ", "Press Enter for maintenance", "password for maintenance", "\n# ", "sh-5.2# "];
    loop {
        let (i, _) = vm.expect_any(&PROMPTS, 300);
        match i {
            1 | 2 => vm.send(b"\r"),
            _ => return PROMPTS[i],
        }
    }
}

fn measure_break(name: &str, image: &Path, kernel: &Path, disk: &Path) -> Sample {
    let mut vm = Vm::boot(name, &Config::new(kernel, image, &format!("root=UUID={UUID} ro rd.break")).disk(disk));
    let shell = reach_prompt(&mut vm);
    // The prompt's time on the kernel log's clock, the one "Run /init" is stamped with
    // (/proc/uptime runs on another clock, tens of milliseconds apart under TCG).
    vm.send_line(&format!("echo {PROMPT_MARK}>/dev/kmsg"));
    let logged = format!("] {PROMPT_MARK}");
    let t = vm.expect(&logged, 30);
    let prompt = vm::kernel_time(&t, &logged);
    vm.expect(shell, 30);
    vm.send_line("cat /proc/1/status");
    let status = vm.expect(shell, 30);
    let hwm = status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok());
    vm.send_line("cat /proc/modules");
    let mods = vm.expect(shell, 30);
    let modules = Some(mods.lines().filter(|l| l.contains(" Live ")).count() as u64);
    vm.send_line("cat /proc/uptime; exit");
    let t = vm.expect("RDBREAK-TEST-INIT pid=", 300);
    let left = uptime_after(t.split("exit").nth(1).unwrap_or(""));
    let rest = vm.expect("\n", 10);
    let init_at = rest.split("uptime=").nth(1).and_then(|u| u.split_whitespace().next()?.parse::<f64>().ok());
    let transcript = vm.wait_exit(120);
    Sample {
        run_init: vm::kernel_time(&transcript, "Run /init as init process"),
        prompt,
        exit_to_init: init_at.zip(left).map(|(i, l)| i - l),
        vm_hwm_kib: hwm,
        modules,
        ..Default::default()
    }
}

fn measure_plain(name: &str, image: &Path, kernel: &Path, disk: &Path) -> Option<f64> {
    let mut vm = Vm::boot(name, &Config::new(kernel, image, &format!("root=UUID={UUID} ro")).disk(disk));
    vm.expect("RDBREAK-TEST-INIT pid=", 300);
    let rest = vm.expect("\n", 10);
    vm.wait_exit(120);
    rest.split("uptime=").nth(1).and_then(|u| u.split_whitespace().next()?.parse().ok())
}

/// Size of /init in an image (following a symlink such as systemd's).
fn init_size(a: &Assets, image: &Path) -> u64 {
    let out = Command::new(&a.cli).arg("ls").arg(image).output().expect("rdbreak ls");
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    let find = |name: &str| -> Option<(u64, Option<String>)> {
        listing.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(5) == Some(&name)).then(|| (f[4].parse().unwrap_or(0), f.get(7).map(|t| t.to_string())))
        })
    };
    let mut name = "init".to_string();
    for _ in 0..8 {
        match find(&name) {
            Some((_, Some(target))) => {
                let base = Path::new(&name).parent().unwrap_or(Path::new(""));
                let joined = match target.strip_prefix('/') {
                    Some(abs) => PathBuf::from(abs),
                    None => base.join(&target),
                };
                name = normalize(&joined);
            }
            Some((size, None)) => return size,
            None => return 0,
        }
    }
    0
}

fn normalize(p: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(n) => parts.push(n.to_string_lossy().to_string()),
            _ => {}
        }
    }
    parts.join("/")
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some(v[v.len() / 2])
}

fn spread(v: &[f64]) -> Option<f64> {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min.is_finite() && max.is_finite()).then_some(max - min)
}

const USAGE: &str = "rdbreak-bench [--rounds N] [--out DIR] [--suites LIST|images] [--storage-rounds N]
              [--scale-rounds N] [--scale-disks LIST] [--scale-lvs LIST] [--handoff-rounds N]
              [--clock wall|icount]

  --rounds N          rounds of the standard suite (default 5)
  --storage-rounds N  rounds of the storage suite (default 3)
  --scale-rounds N    rounds of the scale suite (default 3)
  --scale-disks LIST  blank SCSI disks beside the root, per point (default 0,64,256)
  --scale-lvs LIST    LVs in the root's VG, per point (default 1,200,1000)
  --handoff-rounds N  rounds of the hand-off suite (default 5)
  --clock wall|icount the scale and hand-off suites' guest clock: TCG's wall clock (default),
                      or instructions counted (-icount shift=0), where boots agree within ms
  --suites LIST       of standard, storage, scale, handoff (default all four); `images` only
                      builds the storage suite's dracut images, with no VM
  --out DIR           where results.json, results.md and results-storage.json go
                      (default target/bench)";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Asked for help, or given what it does not know: the usage, and no VM started.
    let known = [
        "--rounds",
        "--out",
        "--suites",
        "--storage-rounds",
        "--scale-rounds",
        "--scale-disks",
        "--scale-lvs",
        "--handoff-rounds",
        "--clock",
    ];
    let mut rest = args.iter().skip(1);
    while let Some(a) = rest.next() {
        if a == "--help" || a == "-h" {
            println!("{USAGE}");
            return;
        }
        if !known.contains(&a.as_str()) || rest.next().is_none() {
            eprintln!("rdbreak-bench: unknown option or missing value: {a}\n\n{USAGE}");
            std::process::exit(2);
        }
    }
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let rounds: usize = value("--rounds").and_then(|r| r.parse().ok()).unwrap_or(5);
    let storage_rounds: usize = value("--storage-rounds").and_then(|r| r.parse().ok()).unwrap_or(3);
    let scale_rounds: usize = value("--scale-rounds").and_then(|r| r.parse().ok()).unwrap_or(3);
    let handoff_rounds: usize = value("--handoff-rounds").and_then(|r| r.parse().ok()).unwrap_or(5);
    let list = |flag: &str, default: &str| -> Vec<usize> {
        value(flag).unwrap_or_else(|| default.into()).split(',').filter_map(|n| n.trim().parse().ok()).collect()
    };
    let (scale_disks, scale_lvs) = (list("--scale-disks", "0,64,256"), list("--scale-lvs", "1,200,1000"));
    let icount = match value("--clock").as_deref() {
        None | Some("wall") => false,
        Some("icount") => true,
        Some(other) => {
            eprintln!("rdbreak-bench: --clock is wall or icount, not {other}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let suites = value("--suites").unwrap_or_else(|| "standard,storage,scale,handoff".into());
    let wants = |name: &str| suites.split(',').any(|s| s == name);
    let a = assets::get();
    let out = value("--out").map_or_else(|| a.workspace.join("target/bench"), PathBuf::from);
    std::fs::create_dir_all(&out).expect("output directory");
    if suites == "images" {
        // Only the storage suite's dracut images (no VM): they can be made while another job
        // holds the VM lock.
        for i in storage::images(a) {
            println!("{}: {}", i.name, i.path.display());
        }
        return;
    }
    // The storage suite runs first (its disks come from the builder VM), its table goes last.
    let storage_md = wants("storage").then(|| storage_suite(a, storage_rounds, &out));
    let mut md = String::new();
    if wants("standard") {
        md += &standard(a, rounds, &out);
    }
    md += storage_md.as_deref().unwrap_or("");
    if wants("scale") {
        md += &scale::suite(a, scale_rounds, &scale_disks, &scale_lvs, &out, icount);
    }
    if wants("handoff") {
        md += &handoff::suite(handoff_rounds, icount);
    }
    std::fs::write(out.join("results.md"), &md).expect("write md");
    println!("{md}");
    println!("written to {}", out.display());
}

/// The storage roots, stock dracut's shell init against the same image with rdbreak, rounds
/// interleaved. Returns the markdown table.
fn storage_suite(a: &Assets, rounds: usize, out: &Path) -> String {
    eprintln!("building the storage images (dracut with lvm2, mdadm, cryptsetup) and disks…");
    let images = storage::images(a);
    let dir = workdir("bench-storage");
    let layouts = storage::layouts(&dir);
    // samples[layout][image]
    let mut samples = vec![vec![Vec::<storage::Sample>::new(); images.len()]; layouts.len()];
    for round in 0..rounds {
        for (li, l) in layouts.iter().enumerate() {
            for (ii, img) in images.iter().enumerate() {
                let tag = format!("bench-storage-{li}-{ii}-{round}");
                // A boot that goes wrong (a timeout panics) is an empty sample, said here, and its
                // log kept in target/qemu-logs; the other boots still count.
                let tried = |f: &dyn Fn() -> storage::Sample| {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
                        eprintln!("{tag}: {} with {} failed, see target/qemu-logs/", l.name, img.name);
                        storage::Sample::default()
                    })
                };
                let mut s = tried(&|| storage::measure_break(&tag, &img.path, l, false));
                if l.plain {
                    s.plain_init = tried(&|| storage::Sample {
                        plain_init: storage::measure_plain(&format!("{tag}-plain"), &img.path, l),
                        ..Default::default()
                    })
                    .plain_init;
                }
                eprintln!(
                    "round {} {:<28} {:<20} /init at {:?}  prompt at {:?}  Enter→prompt {:?}  plain init at {:?}",
                    round + 1,
                    l.name,
                    img.name,
                    s.run_init,
                    s.prompt,
                    s.enter_to_prompt,
                    s.plain_init
                );
                samples[li][ii].push(s);
            }
        }
    }
    let fmt = |v: &[f64]| match (median(v), spread(v)) {
        (Some(m), Some(s)) => format!("{m:.2} [{s:.2}]"),
        (Some(m), None) => format!("{m:.2}"),
        _ => "–".into(),
    };
    let mut md = format!(
        "\n## Storage roots\n\nStock dracut's shell init (`--omit` systemd) and the same image with `-a rdbreak`, both with dracut's lvm, mdraid and crypt modules; {rounds} rounds interleaved; medians, spread in brackets, guest seconds (Enter → prompt: host seconds).\n\n| root | variant | kernel ran /init | /init → break prompt | plain boot: real init | passphrase's Enter → break prompt |\n|---|---|---|---|---|---|\n"
    );
    let mut json = String::from("[\n");
    for (li, l) in layouts.iter().enumerate() {
        for (ii, img) in images.iter().enumerate() {
            let col = |f: &dyn Fn(&storage::Sample) -> Option<f64>| {
                samples[li][ii].iter().filter_map(f).collect::<Vec<f64>>()
            };
            let run_init = col(&|s| s.run_init);
            let to_prompt = col(&|s| s.prompt.zip(s.run_init).map(|(p, r)| p - r));
            let plain = col(&|s| s.plain_init);
            let enter = col(&|s| s.enter_to_prompt);
            md += &format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                l.name,
                img.name,
                fmt(&run_init),
                fmt(&to_prompt),
                fmt(&plain),
                fmt(&enter)
            );
            json += &format!(
                "  {{\"root\": \"{}\", \"variant\": \"{}\", \"run_init\": {run_init:?}, \"to_prompt\": {to_prompt:?}, \"plain_init\": {plain:?}, \"enter_to_prompt\": {enter:?}}}{}\n",
                l.name,
                img.name,
                if li + 1 < layouts.len() || ii + 1 < images.len() { "," } else { "" }
            );
        }
    }
    json += "]\n";
    md += "\nrdbreak against stock dracut's shell init (medians): ";
    for (li, l) in layouts.iter().enumerate() {
        let med = |ii: usize, f: &dyn Fn(&storage::Sample) -> Option<f64>| {
            median(&samples[li][ii].iter().filter_map(f).collect::<Vec<f64>>())
        };
        let to_prompt = |s: &storage::Sample| s.prompt.zip(s.run_init).map(|(p, r)| p - r);
        let r = med(0, &to_prompt).zip(med(1, &to_prompt)).map_or("–".into(), |(b, t)| format!("{:.1}×", b / t));
        md += &format!("{}: /init → prompt {r} sooner", l.name);
        if let Some((b, t)) = med(0, &|s| s.enter_to_prompt).zip(med(1, &|s| s.enter_to_prompt)) {
            md += &format!(", Enter → prompt {:.1}×", b / t);
        }
        md += "; ";
    }
    md.push('\n');
    std::fs::write(out.join("results-storage.json"), json).expect("write json");
    md
}

/// `dracut -a rdbreak` as it ships, compressed.
const SHIPPED: DracutVariant = DracutVariant { shell_init: false, handoff_mode: false, compressed: true, tpm2: false };

/// The standard root (one ext4 disk): stock dracut with and without systemd, dracut -a
/// rdbreak, rdbreak build. Writes results.json; returns the markdown table.
fn standard(a: &Assets, rounds: usize, out: &Path) -> String {
    eprintln!(
        "building the images (stock dracut with and without systemd, dracut -a rdbreak, rdbreak build, host-only)…"
    );
    let variants = [
        // The images as dracut ships them: their unpacking is part of the boot measured.
        Variant { name: "dracut (systemd)", image: a.stock_dracut_image(true, true) },
        Variant { name: "dracut (shell init)", image: a.stock_dracut_image(false, true) },
        Variant { name: "dracut -a rdbreak", image: a.dracut_image_variant(Modules::Plain, SHIPPED) },
        Variant { name: "rdbreak build", image: a.rdbreak_build_image() },
        // What a host-only image holds on this VM (as `dracut --hostonly` would keep): the
        // virtio disk's drivers and ext4, no IDE/SATA/NVMe/USB/MMC drivers to load and probe.
        Variant {
            name: "rdbreak build, this VM's drivers",
            image: a.rdbreak_build_image_with(&["--no-default-modules", "--modules", "virtio_pci,virtio_blk,ext4"]),
        },
    ];
    let dir = workdir("bench");
    // A shell for the stock images' break prompt is in the initramfs; the root needs only init.
    let disk_image = Root::standard(UUID).label("bench").size_mib(64).build(&dir, "root");

    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); variants.len()];
    for round in 0..rounds {
        for (i, v) in variants.iter().enumerate() {
            let tag = format!("bench-{i}-{round}");
            // Each boot writes nothing that matters, but start from the same bytes anyway.
            let disk = dir.join(format!("disk-{i}.img"));
            std::fs::copy(&disk_image, &disk).expect("copy disk");
            let mut s = measure_break(&tag, &v.image, &a.kernel, &disk);
            std::fs::copy(&disk_image, &disk).expect("copy disk");
            s.plain_init = measure_plain(&format!("{tag}-plain"), &v.image, &a.kernel, &disk);
            eprintln!(
                "round {} {:<32} /init at {:?}  prompt at {:?}  exit→init {:?}  plain init at {:?}",
                round + 1,
                v.name,
                s.run_init,
                s.prompt,
                s.exit_to_init,
                s.plain_init
            );
            samples[i].push(s);
        }
    }

    let mut json = String::from("[\n");
    let mut md = String::new();
    md += &format!("Kernel {} under QEMU TCG (`-cpu max -m 768 -smp 1`), {rounds} rounds interleaved; medians, spread (max−min) in brackets; times are guest uptime in seconds.\n\n", a.kver);
    md += "| variant | kernel ran /init | break prompt | /init → prompt | exit → real init | plain boot: real init | image | /init | PID 1 VmHWM at prompt | modules at prompt |\n|---|---|---|---|---|---|---|---|---|---|\n";
    let fmt = |m: Option<f64>, s: Option<f64>| match (m, s) {
        (Some(m), Some(s)) => format!("{m:.2} [{s:.2}]"),
        (Some(m), None) => format!("{m:.2}"),
        _ => "–".into(),
    };
    for (i, v) in variants.iter().enumerate() {
        let col = |f: &dyn Fn(&Sample) -> Option<f64>| samples[i].iter().filter_map(f).collect::<Vec<f64>>();
        let run_init = col(&|s| s.run_init);
        let prompt = col(&|s| s.prompt);
        let to_prompt = col(&|s| s.prompt.zip(s.run_init).map(|(p, r)| p - r));
        let exit = col(&|s| s.exit_to_init);
        let plain = col(&|s| s.plain_init);
        let hwm = col(&|s| s.vm_hwm_kib.map(|x| x as f64));
        let mods = col(&|s| s.modules.map(|x| x as f64));
        let image_size = std::fs::metadata(&v.image).map(|m| m.len()).unwrap_or(0);
        let init = init_size(a, &v.image);
        md += &format!(
            "| {} | {} | {} | {} | {} | {} | {:.1} MiB | {} KiB | {} KiB | {} |\n",
            v.name,
            fmt(median(&run_init), spread(&run_init)),
            fmt(median(&prompt), spread(&prompt)),
            fmt(median(&to_prompt), spread(&to_prompt)),
            fmt(median(&exit), spread(&exit)),
            fmt(median(&plain), spread(&plain)),
            image_size as f64 / 1048576.0,
            init / 1024,
            median(&hwm).map_or("–".into(), |h| format!("{h:.0}")),
            median(&mods).map_or("–".into(), |m| format!("{m:.0}")),
        );
        json += &format!(
            "  {{\"variant\": \"{}\", \"run_init\": {:?}, \"prompt\": {:?}, \"exit_to_init\": {:?}, \"plain_init\": {:?}, \"image_bytes\": {image_size}, \"init_bytes\": {init}, \"vm_hwm_kib\": {:?}, \"modules\": {:?}}}{}\n",
            v.name, run_init, prompt, exit, plain, hwm, mods, if i + 1 < variants.len() { "," } else { "" }
        );
    }
    json += "]\n";
    // Ratios against stock dracut's shell init (the baseline the targets name).
    let ratio = |i: usize| {
        let col = |f: &dyn Fn(&Sample) -> Option<f64>| samples[i].iter().filter_map(f).collect::<Vec<f64>>();
        let to_prompt = median(&col(&|s| s.prompt.zip(s.run_init).map(|(p, r)| p - r)));
        let img = std::fs::metadata(&variants[i].image).map(|m| m.len()).unwrap_or(1) as f64;
        (to_prompt, img)
    };
    let (base_t, base_img) = ratio(1);
    md += "\nAgainst stock dracut's shell init: ";
    for i in (0..variants.len()).filter(|&i| i != 1) {
        let (t, img) = ratio(i);
        let speed = base_t.zip(t).map_or("–".into(), |(b, t)| format!("{:.1}×", b / t));
        md += &format!("{}: /init → prompt {speed} as fast, image {:.1}× smaller; ", variants[i].name, base_img / img);
    }
    md.push('\n');
    std::fs::write(out.join("results.json"), json).expect("write json");
    md
}
