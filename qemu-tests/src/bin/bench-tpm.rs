//! The TPM2 unlock's cost beside systemd's, on the host against one swtpm: a LUKS2 container
//! enrolled by the real systemd-cryptenroll (PCR 7), unsealed by rdbreak-init's own code (in
//! this process, over swtpm's socket) and by systemd's (`systemd-creds decrypt` of a credential
//! sealed to the same PCR through the same `tpm2_unseal`, whose process start is timed apart
//! with `systemd-creds --version`); rounds interleaved, medians and minimums.
//!
//!   cargo run --release -p rdbreak-qemu-tests --bin rdbreak-bench-tpm -- [ROUNDS]

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
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
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
