//! The TPM2 unlock's cost beside systemd's.
//!
//! On the host, against one swtpm: a LUKS2 container enrolled by the real systemd-cryptenroll
//! (PCR 7), unsealed by rdbreak-init's own code (in this process, over swtpm's socket) and by
//! systemd's (`systemd-creds decrypt` of a credential sealed to the same PCR through the same
//! `tpm2_unseal`, whose process start is timed apart with `systemd-creds --version`); rounds
//! interleaved, medians and minimums.
//!
//! With `--vm`, in QEMU (TCG) with swtpm behind tpm-crb: one image with rdbreak and dracut's
//! systemd, crypt and tpm2-tss modules, one disk enrolled by the host's systemd-cryptenroll with
//! no PCRs, one TPM state, copied afresh for every boot. Boot A asks systemd to unlock with the
//! TPM (rdbreak hands off, systemd-cryptsetup unseals), boot B does not (rdbreak unseals itself);
//! A and B alternate, which goes first too.
//!
//!   cargo run --release -p rdbreak-qemu-tests --bin rdbreak-bench-tpm -- [ROUNDS]
//!   cargo run -p rdbreak-qemu-tests --bin rdbreak-bench-tpm -- --vm [ROUNDS]

use std::os::unix::fs::FileExt;
use std::process::Command;
use std::time::{Duration, Instant};

use rdbreak_init::storage::luks;
use rdbreak_init::storage::luks_open::tpm as boot_tpm;
use rdbreak_qemu_tests::tpm::{self, Swtpm};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn stats(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0])
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--vm") {
        return in_vm(args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5));
    }
    let rounds: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(20);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench/tpm");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    tpm::manufacture(&dir.join("state"));
    let img = dir.join("luks.img");
    std::fs::File::create(&img).unwrap().set_len(32 << 20).unwrap();
    let pass = dir.join("pass");
    std::fs::write(&pass, "bench").unwrap();
    run(Command::new("cryptsetup")
        .args(["luksFormat", "-q", "--type", "luks2", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"])
        .arg(&img)
        .arg(&pass));
    let t = Swtpm::tcp(&dir.join("state"));
    tpm::enroll(&t, &img, "bench", &["--tpm2-pcrs=7"], &[]);
    let secret = dir.join("secret");
    std::fs::write(&secret, [7u8; 32]).unwrap();
    let cred = dir.join("bench.cred");
    run(Command::new("systemd-creds")
        .args(["encrypt", "--with-key=tpm2", "--tpm2-pcrs=7", "--name=bench"])
        .arg(&secret)
        .arg(&cred)
        .env("SYSTEMD_TPM2_DEVICE", t.tcti()));

    let f = std::fs::File::open(&img).unwrap();
    let size = f.metadata().unwrap().len();
    let mut read = |at: u64, buf: &mut [u8]| f.read_at(buf, at);
    let h = luks::read_header(&mut read, size).unwrap();
    let (token, slots) = boot_tpm::tpm2_tokens(&h.tokens)[0];
    let mut only = h.clone();
    only.keyslots.retain(|k| slots.contains(&k.id));

    let (mut ours, mut ours_open, mut systemd, mut start) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        t.flush_all();
        let t0 = Instant::now();
        let p = boot_tpm::unseal_token(&mut t.connect(), token, None).expect("rdbreak's unseal");
        ours.push(ms(t0.elapsed()));
        only.unlock(&mut read, &p, 1 << 30).expect("the token's keyslot");
        ours_open.push(ms(t0.elapsed()));

        let t0 = Instant::now();
        run(Command::new("systemd-creds")
            .args(["decrypt", "--name=bench"])
            .arg(&cred)
            .arg(dir.join("out"))
            .env("SYSTEMD_TPM2_DEVICE", t.tcti()));
        systemd.push(ms(t0.elapsed()));
        t.flush_all();

        let t0 = Instant::now();
        run(Command::new("systemd-creds").arg("--version"));
        start.push(ms(t0.elapsed()));
    }
    let rows = [
        ("rdbreak: unseal (tpm2::unseal)", stats(&mut ours)),
        ("rdbreak: unseal + the token's keyslot (PBKDF2, 1000 rounds)", stats(&mut ours_open)),
        ("systemd 252: `systemd-creds decrypt` (its tpm2_unseal)", stats(&mut systemd)),
        ("systemd 252: `systemd-creds --version` (the process alone)", stats(&mut start)),
    ];
    println!("| {rounds} rounds, swtpm on loopback | median ms | min ms |\n|---|---:|---:|");
    for (name, (med, min)) in rows {
        println!("| {name} | {med:.1} | {min:.1} |");
    }
}

/// Boots A (systemd-cryptsetup) and B (rdbreak) `rounds` times each and prints the table.
fn in_vm(rounds: usize) {
    use rdbreak_qemu_tests::layouts::luks::{FS_UUID, LUKS_UUID};
    use rdbreak_qemu_tests::{Initrd, Scenario};
    let image = tpm::systemd_tpm2_image();
    let dir = rdbreak_qemu_tests::workdir("bench-tpm-vm");
    let (disk, state) = tpm::enrolled_root(&dir, &["--tpm2-pcrs="], &[], |_| {});
    let (mut systemd, mut ours, mut unseal) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let order = if round % 2 == 0 { [true, false] } else { [false, true] };
        for by_systemd in order {
            let who = if by_systemd { "systemd" } else { "rdbreak" };
            let name = format!("bench-tpm-vm-{who}-{round}");
            let log = format!("see target/qemu-logs/{name}.log");
            let s = Scenario::new(&name).initrd(Initrd::File(image.clone()));
            // Every boot from the same bytes: the enrolled disk and the TPM state as enrolled.
            let (d, st) = (s.dir().join("root.img"), s.dir().join("tpm-state"));
            std::fs::copy(&disk, &d).unwrap();
            run(Command::new("cp").arg("-a").arg(&state).arg(&st));
            let words = if by_systemd { tpm::SYSTEMD_UNLOCKS } else { tpm::RDBREAK_UNLOCKS };
            let line = format!("root=UUID={FS_UUID} ro rd.luks.uuid=luks-{LUKS_UUID} {words}");
            let work = s.dir().to_path_buf();
            let (mut vm, t) = tpm::boot(s, &d, &st, &line);
            let out = vm.runs_real_init(300);
            drop(t);
            // The copies go (the transcript stays in target/qemu-logs).
            let _ = std::fs::remove_dir_all(&work);
            assert!(!out.contains("Please enter passphrase"), "round {round} asked for the passphrase: {log}");
            if by_systemd {
                let ms = tpm::systemd_cryptsetup_span(&out)
                    .unwrap_or_else(|| panic!("no systemd-cryptsetup@ lines in round {round}: {log}"));
                eprintln!("round {} A systemd-cryptsetup@.service {ms:.0} ms", round + 1);
                systemd.push(ms);
            } else {
                let (all, u) =
                    tpm::rdbreak_span(&out).unwrap_or_else(|| panic!("rdbreak did not unseal in round {round}: {log}"));
                eprintln!("round {} B rdbreak {all:.0} ms (unsealed in {u:.0} ms)", round + 1);
                ours.push(all);
                unseal.push(u);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let rows = [
        ("A: systemd 252's systemd-cryptsetup@.service (Starting → Finished)", stats(&mut systemd)),
        ("B: rdbreak, header read → dm-crypt mapping", stats(&mut ours)),
        ("B: rdbreak, of which the unseal", stats(&mut unseal)),
    ];
    println!("| {rounds} boots each, QEMU TCG, swtpm behind tpm-crb | median ms | min ms |\n|---|---:|---:|");
    for (name, (med, min)) in rows {
        println!("| {name} | {med:.0} | {min:.0} |");
    }
}
