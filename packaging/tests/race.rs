//! `rdbreak unpack` against a racing attacker: while it runs, another process that can write in
//! the target keeps swapping a directory of the archive for a symlink to a directory of its
//! choice. Nothing may ever be written there.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use rdbreak::cpio::{self, Entry};

/// Files in `d` and `e`, interleaved so that every entry walks its parent again.
fn image(files: usize) -> Vec<u8> {
    let mut entries = vec![Entry::dir("d", 0o755), Entry::dir("e", 0o755)];
    for i in 0..files {
        entries.push(Entry::file(&format!("d/f{i}"), 0o644, b"root's data\n".to_vec()));
        entries.push(Entry::file(&format!("e/f{i}"), 0o644, b"root's data\n".to_vec()));
    }
    cpio::write(&entries, 0)
}

/// Swaps `target/d` for a symlink to `outside` and back, atomically (RENAME_EXCHANGE: the
/// name always exists), as fast as it can until `stop`.
fn swap(target: &Path, outside: &Path, stop: &AtomicBool, swaps: &AtomicUsize) {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    let (d, link) = (target.join("d"), target.join("d.link"));
    std::os::unix::fs::symlink(outside, &link).unwrap();
    while !stop.load(Ordering::Relaxed) {
        if renameat_with(CWD, &d, CWD, &link, RenameFlags::EXCHANGE).is_err() {
            std::thread::yield_now();
            continue;
        }
        for _ in 0..200 {
            std::hint::spin_loop();
        }
        renameat_with(CWD, &d, CWD, &link, RenameFlags::EXCHANGE).unwrap();
        swaps.fetch_add(1, Ordering::Relaxed);
    }
}

const ROUNDS: usize = 6;

#[test]
fn a_directory_swapped_for_a_symlink_while_unpacking_leads_nowhere() {
    // tmpfs when there is one: thousands of files, made fast.
    let tmp = |_| tempfile::Builder::new().tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()).unwrap();
    let (work, outside) = (tmp(0), tmp(1));
    let img = work.path().join("race.img");
    std::fs::write(&img, image(3000)).unwrap();
    let mut refused = 0;
    for round in 0..ROUNDS {
        let target = work.path().join(format!("t{round}"));
        std::fs::create_dir(&target).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let swaps = Arc::new(AtomicUsize::new(0));
        let attacker = {
            let (t, o, stop, swaps) = (target.clone(), outside.path().to_path_buf(), stop.clone(), swaps.clone());
            std::thread::spawn(move || swap(&t, &o, &stop, &swaps))
        };
        let out = Command::new(env!("CARGO_BIN_EXE_rdbreak"))
            .args(["unpack", "--force"])
            .arg(&img)
            .arg(&target)
            .output()
            .unwrap();
        stop.store(true, Ordering::Relaxed);
        attacker.join().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        refused += stderr.matches("d is a symlink (not followed)").count();
        let leaked: Vec<_> = std::fs::read_dir(outside.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(leaked.is_empty(), "round {round}: written outside the target through the symlink: {leaked:?}");
        assert!(swaps.load(Ordering::Relaxed) > 0, "the attacker never got to swap");
        eprintln!("round {round}: {} swaps, exit {:?}", swaps.load(Ordering::Relaxed), out.status.code());
    }
    // The attack did reach the walk (the test is not vacuous): some entries met the symlink.
    assert!(refused > 0, "no entry ever met the swapped-in symlink");
}
