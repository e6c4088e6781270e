//! What the chroot's SELinux label snapshot costs: `cargo run --release -p rdbreak-init --example
//! labels -- [FILES] [ROOT]`. Times `selinux::snapshot` (medians of 9 walks, warm cache) on a
//! made-up /etc of FILES labelled files (default 3000, 50 to a directory, labelled through a
//! `user.` xattr, which costs the kernel the same path as `security.selinux`), then on ROOT's own
//! /etc and /root (default /) with `security.selinux`, and the snapshot + plan of a session end.

use std::path::Path;
use std::time::{Duration, Instant};

use rdbreak_init::selinux::{self, Snapshot, TREES};

/// This thread's time on a CPU (the host is shared: wall time mostly measures the neighbours).
fn on_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(text.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0))
}

/// Medians of 9 runs: (wall, on CPU).
fn median(mut f: impl FnMut() -> Snapshot) -> (Duration, Duration, Snapshot) {
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    let mut last = Snapshot::default();
    for _ in 0..9 {
        let (start, start_cpu) = (Instant::now(), on_cpu());
        last = f();
        wall.push(start.elapsed());
        cpu.push(on_cpu().saturating_sub(start_cpu));
    }
    wall.sort();
    cpu.sort();
    (wall[wall.len() / 2], cpu[cpu.len() / 2], last)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let files: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3000);
    let root = args.get(2).map_or("/", String::as_str);
    let label = b"system_u:object_r:etc_t:s0\0";
    let xattr = "user.rdbreak-bench";

    let dir = tempfile::tempdir().expect("temp dir");
    let made = dir.path();
    for i in 0..files {
        let sub = made.join(format!("etc/d{}", i / 50));
        if i % 50 == 0 {
            std::fs::create_dir_all(&sub).expect("mkdir");
            rustix::fs::lsetxattr(&sub, xattr, label, rustix::fs::XattrFlags::empty()).expect("label dir");
        }
        let f = sub.join(format!("f{i}"));
        std::fs::write(&f, "x").expect("write");
        rustix::fs::lsetxattr(&f, xattr, label, rustix::fs::XattrFlags::empty()).expect("label file");
    }
    let (wall, cpu, snap) = median(|| selinux::snapshot(made, TREES, xattr));
    let per = cpu.as_nanos() / snap.len().max(1) as u128;
    println!(
        "made-up /etc: {} entries, {} labelled: snapshot {cpu:.1?} on CPU ({per} ns per file), {wall:.1?} wall",
        snap.len(),
        snap.labelled()
    );
    let (wall, cpu, _) = median(|| {
        let after = selinux::snapshot(made, TREES, xattr);
        let _ = selinux::plan(&snap, &after, &|_| None);
        after
    });
    println!("made-up /etc: session end with nothing changed (snapshot + plan): {cpu:.1?} on CPU, {wall:.1?} wall");

    let (wall, cpu, snap) = median(|| selinux::snapshot(Path::new(root), TREES, selinux::XATTR));
    println!(
        "{root}: {} entries under /etc and /root (depth-limited), {} labelled: snapshot {cpu:.1?} on CPU, {wall:.1?} wall{}",
        snap.len(),
        snap.labelled(),
        if snap.truncated { " (stopped at the limit)" } else { "" }
    );
}
