//! A software TPM for the tests: Debian's swtpm with a manufactured state (EK, certificates,
//! the sha256 bank), served on loopback TCP for enrolling with the real `systemd-cryptenroll`
//! and for rdbreak-init's unseal on the host, or on a UNIX socket for QEMU's `tpm-crb`, from
//! the same state directory: a VM then boots with the TPM a disk was enrolled against.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A manufactured TPM state in `dir` (emptied first), as a new machine's TPM comes.
pub fn manufacture(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let out = Command::new("swtpm_setup")
        .args(["--tpm2", "--createek", "--create-ek-cert", "--create-platform-cert", "--lock-nvram", "--overwrite"])
        .arg("--tpmstate")
        .arg(dir)
        .args(["--pcr-banks", "sha256"])
        .output()
        .expect("swtpm_setup (Debian's swtpm-tools) must be installed: ./run setup installs it");
    assert!(out.status.success(), "swtpm_setup failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// swtpm running on a state directory; killed on drop (its state is saved as it goes).
pub struct Swtpm {
    child: Child,
    /// The TCP port of its command channel (its control channel is the next one), if on TCP.
    pub port: Option<u16>,
    /// The control socket QEMU's `-chardev socket,path=` connects to, if for a VM.
    pub socket: Option<PathBuf>,
}

fn free_port() -> u16 {
    // Two adjacent ports: swtpm's TCTI takes the command port's next one for control.
    loop {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        if p < u16::MAX && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ready() {
        assert!(t.elapsed() < Duration::from_secs(10), "swtpm did not come up: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Swtpm {
    /// On loopback TCP, started (TPM2_Startup done): for systemd-cryptenroll and the host tests.
    pub fn tcp(state: &Path) -> Swtpm {
        let port = free_port();
        let child = Command::new("swtpm")
            .args(["socket", "--tpm2", "--flags", "not-need-init,startup-clear"])
            .arg("--tpmstate")
            .arg(format!("dir={}", state.canonicalize().unwrap().display()))
            .args(["--server", &format!("type=tcp,port={port},bindaddr=127.0.0.1")])
            .args(["--ctrl", &format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1)])
            .stdin(Stdio::null())
            .spawn()
            .expect("swtpm must be installed: ./run setup installs it");
        wait_for("its TCP port", || TcpStream::connect(("127.0.0.1", port)).is_ok());
        Swtpm { child, port: Some(port), socket: None }
    }

    /// On a UNIX control socket for QEMU (`-tpmdev emulator`): the VM's firmware starts it.
    pub fn for_vm(state: &Path, socket: &Path) -> Swtpm {
        let _ = std::fs::remove_file(socket);
        let child = Command::new("swtpm")
            .args(["socket", "--tpm2"])
            .arg("--tpmstate")
            .arg(format!("dir={}", state.canonicalize().unwrap().display()))
            .args(["--ctrl", &format!("type=unixio,path={}", socket.display())])
            .stdin(Stdio::null())
            .spawn()
            .expect("swtpm must be installed: ./run setup installs it");
        wait_for("its control socket", || socket.exists());
        Swtpm { child, port: None, socket: Some(socket.to_path_buf()) }
    }

    /// QEMU's arguments for a CRB TPM on this swtpm.
    pub fn qemu_args(&self) -> Vec<String> {
        let sock = self.socket.as_ref().expect("a TPM for a VM");
        vec![
            "-chardev".into(),
            format!("socket,id=chrtpm,path={}", sock.display()),
            "-tpmdev".into(),
            "emulator,id=tpm0,chardev=chrtpm".into(),
            "-device".into(),
            "tpm-crb,tpmdev=tpm0".into(),
        ]
    }

    /// `--tpm2-device=` for systemd-cryptenroll (libtss2's swtpm TCTI).
    pub fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port.expect("a TPM on TCP"))
    }

    /// Flushes every transient object and session the TPM holds: swtpm on TCP has no resource
    /// manager, and systemd's tools leave their sessions behind.
    pub fn flush_all(&self) {
        use rdbreak_init::storage::tpm2::unseal::{flush_context, Transport};
        use rdbreak_init::storage::tpm2::{get_capability, parse_get_capability, Capability};
        let mut c = self.connect();
        for first in [0x8000_0000u32, 0x0200_0000, 0x0300_0000] {
            let r = c.call(&get_capability(1, first, 64)).unwrap();
            if let Ok((_, Capability::Handles(h))) = parse_get_capability(&r) {
                for h in h.into_iter().filter(|x| x >> 24 == first >> 24) {
                    let _ = c.call(&flush_context(h));
                }
            }
        }
    }

    /// A connection for rdbreak-init's unseal.
    pub fn connect(&self) -> Tcp {
        Tcp(TcpStream::connect(("127.0.0.1", self.port.expect("a TPM on TCP"))).unwrap())
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// swtpm's command channel: a command's bytes in, the response's bytes out.
pub struct Tcp(TcpStream);

impl rdbreak_init::storage::tpm2::unseal::Transport for Tcp {
    fn call(&mut self, cmd: &[u8]) -> std::io::Result<Vec<u8>> {
        self.0.write_all(cmd)?;
        let mut head = [0u8; 10];
        self.0.read_exact(&mut head)?;
        let size = u32::from_be_bytes([head[2], head[3], head[4], head[5]]) as usize;
        if !(10..=4096).contains(&size) {
            return Err(std::io::Error::other(format!("swtpm answered a size of {size}")));
        }
        let mut resp = head.to_vec();
        resp.resize(size, 0);
        self.0.read_exact(&mut resp[10..])?;
        Ok(resp)
    }
}

/// The real `systemd-cryptenroll` against this TPM on a LUKS2 image (a file), unlocking with
/// `passphrase`; `args` are its enrollment options, `env` e.g. `NEWPIN`. Returns its output.
pub fn enroll(tpm: &Swtpm, image: &Path, passphrase: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut all = vec![format!("--tpm2-device={}", tpm.tcti())];
    all.extend(args.iter().map(|a| a.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    cryptenroll(image, passphrase, &all, env)
}

/// `clevis luks bind -d IMAGE tpm2 CONFIG` (clevis 19 and tpm2-tools, through libtss2's swtpm
/// TCTI), unlocking with `passphrase`: a keyslot and a `clevis` token, as RHEL's tools bind a
/// disk to its TPM.
pub fn clevis_bind(tpm: &Swtpm, image: &Path, passphrase: &str, config: &str) {
    let mut c = Command::new("clevis")
        .args(["luks", "bind", "-y", "-k", "-", "-d"])
        .arg(image)
        .args(["tpm2", config])
        .env("TPM2TOOLS_TCTI", tpm.tcti())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("clevis (clevis, clevis-luks, clevis-tpm2) must be installed: ./run setup installs it");
    c.stdin.take().expect("stdin").write_all(passphrase.as_bytes()).expect("the passphrase");
    let out = c.wait_with_output().expect("clevis luks bind");
    assert!(out.status.success(), "clevis luks bind failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// What `clevis luks pass` unseals for keyslot `slot` (the keyslot's passphrase); None when the
/// TPM refuses.
pub fn clevis_pass(tpm: &Swtpm, image: &Path, slot: u32) -> Option<Vec<u8>> {
    let out = Command::new("clevis")
        .args(["luks", "pass", "-d"])
        .arg(image)
        .args(["-s", &slot.to_string()])
        .env("TPM2TOOLS_TCTI", tpm.tcti())
        .output()
        .expect("clevis luks pass");
    (out.status.success() && !out.stdout.is_empty()).then_some(out.stdout)
}

/// `systemd-cryptenroll` with `args` (a recovery key, a wipe), unlocking with `passphrase`.
pub fn cryptenroll(image: &Path, passphrase: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new("systemd-cryptenroll")
        .args(args)
        .arg(image)
        .env("PASSWORD", passphrase)
        .envs(env.iter().copied())
        .output()
        .expect("systemd-cryptenroll (systemd) must be installed");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "systemd-cryptenroll {args:?} failed: {text}");
    text
}

/// What the systemd 257 tree is made of; part of its cache key.
const SYSTEMD_257: &str = "systemd,systemd-cryptsetup,cryptsetup-bin,libtss2-tcti-swtpm0t64,libtss2-esys-3.0.2-0t64,\
                           libtss2-rc0t64,libtss2-mu-4.0.1-0t64";

/// A Debian 13 tree with systemd 257's `systemd-cryptenroll` and the TSS libraries (debootstrap,
/// once per cache): its tokens carry the persistent SRK (`tpm2_srk`), salted PINs (`tpm2_salt`)
/// and no-DA objects, which Debian 12's systemd 252 does not write.
pub fn systemd_257() -> PathBuf {
    use std::hash::{Hash, Hasher};
    let a = crate::assets::get();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    ("trixie", SYSTEMD_257).hash(&mut h);
    let dir = a.cache.join(format!("systemd257-{:016x}", h.finish()));
    let root = dir.join("root");
    crate::assets::locked(&a.cache, "systemd257", || {
        if dir.join(".ready").exists() {
            return;
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        crate::assets::run(
            Command::new("debootstrap")
                .args(["--variant=minbase", &format!("--include={}", SYSTEMD_257.replace(' ', "")), "trixie"])
                .arg(&root)
                .arg("http://deb.debian.org/debian"),
        );
        std::fs::write(dir.join(".ready"), "").unwrap();
    });
    root
}

/// systemd 257's `systemd-cryptenroll` (in [`systemd_257`]'s tree, chrooted) against this TPM
/// on the LUKS2 image, as [`enroll`] does with the host's.
pub fn enroll_257(tpm: &Swtpm, image: &Path, passphrase: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let root = systemd_257();
    let inside = format!("tmp/enroll-{}.img", std::process::id());
    std::fs::copy(image, root.join(&inside)).unwrap();
    let mut script = format!("PASSWORD='{passphrase}' ");
    for (k, v) in env {
        script += &format!("{k}='{v}' ");
    }
    script += &format!("systemd-cryptenroll --tpm2-device={} {} /{inside}", tpm.tcti(), args.join(" "));
    let r = root.display();
    let setup = format!(
        "mount -t proc proc {r}/proc && mount -t sysfs sysfs {r}/sys && mount --rbind /dev {r}/dev && exec chroot {r} /bin/sh -ec \"$0\""
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--fork", "sh", "-ec", &setup, &script])
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .expect("unshare");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "systemd 257's systemd-cryptenroll {args:?} failed: {text}");
    std::fs::copy(root.join(&inside), image).unwrap();
    let _ = std::fs::remove_file(root.join(&inside));
    text
}

/// The tests' LUKS2 root ([`crate::layouts::luks2_root`]) copied into `dir` and enrolled by the
/// host's systemd-cryptenroll (`args`, `env`) against a fresh TPM state in `dir/tpm-state`;
/// `before` runs on that TPM first. Returns the disk and the state. The host's cheap keyslot
/// authorizes the enrollment (the passphrase's is Argon2id).
pub fn enrolled_root(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    before: impl FnOnce(&Swtpm),
) -> (PathBuf, PathBuf) {
    let disk = crate::layouts::luks2_root().copy_to(dir).remove(0);
    let state = dir.join("tpm-state");
    manufacture(&state);
    let t = Swtpm::tcp(&state);
    before(&t);
    let out = enroll(&t, &disk, crate::layouts::luks::HOST_KEY, args, env);
    drop(t);
    std::fs::write(dir.join("enroll.txt"), out).unwrap();
    (disk, state)
}

/// Boots `s` with `disk` and a CRB TPM on `state`. The bzImage: the PVH entry the other
/// scenarios boot through leaves the kernel without ACPI, so without the TPM's ACPI device.
pub fn boot(s: crate::Scenario, disk: &Path, state: &Path, cmdline: &str) -> (crate::Vm, Swtpm) {
    let t = Swtpm::for_vm(state, &s.dir().join("tpm.sock"));
    let args = t.qemu_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let vm =
        s.disk(crate::Disk::virtio(disk)).kernel(&crate::assets::get().kernel).qemu_args(&args).append(cmdline).boot();
    (vm, t)
}

/// `dracut -a rdbreak` with dracut's systemd, crypt and tpm2-tss modules: the image where
/// systemd-cryptsetup unlocks a TPM2-bound root when the command line asks it to (rdbreak hands
/// off) and rdbreak unlocks it when not. Checked for what that takes.
pub fn systemd_tpm2_image() -> PathBuf {
    let a = crate::assets::get();
    let v = crate::assets::DracutVariant { tpm2: true, ..Default::default() };
    let image = a.dracut_image_variant(crate::Modules::Plain, v);
    let out = Command::new(&a.cli).arg("ls").arg(&image).output().expect("rdbreak ls");
    let listing = String::from_utf8_lossy(&out.stdout);
    for want in
        ["lib/systemd/systemd-cryptsetup", "libcryptsetup-token-systemd-tpm2.so", "libtss2-esys.so", "init.dracut"]
    {
        assert!(
            listing.contains(want),
            "{want} is not in {}: dracut left out its tpm2-tss module? It needs `tpm2` (apt-get install tpm2-tools; ./run setup installs it)",
            image.display()
        );
    }
    image
}

/// The command line's words (after [`boot`]'s root and `rd.luks.uuid=`) that have systemd
/// unlock the root: `tpm2-device=` makes rdbreak hand off in an image with systemd's TPM2 token
/// plugin. systemd logs to kmsg, so its lines carry the kernel's timestamps, unthrottled.
pub const SYSTEMD_UNLOCKS: &str = "rd.luks.options=tpm2-device=auto systemd.log_target=kmsg printk.devkmsg=on";
/// The same line without the TPM request: rdbreak boots and unseals the root's key itself.
pub const RDBREAK_UNLOCKS: &str = "systemd.log_target=kmsg printk.devkmsg=on";

/// The kernel timestamp of the first kmsg line holding every one of `needles` (console lines
/// without one, as systemd's `[  OK  ]`, are skipped).
fn stamp(transcript: &str, needles: &[&str]) -> Option<f64> {
    transcript.lines().filter(|l| needles.iter().all(|n| l.contains(n))).find_map(|l| {
        let l = l.trim_start_matches(|c: char| c != '[');
        l.strip_prefix('[')?.split(']').next()?.trim().parse().ok()
    })
}

/// Milliseconds from systemd's "Starting systemd-cryptsetup@…" to its "Finished …" (PID 1's
/// kmsg lines): the unit's fork and exec, libcryptsetup and the token plugin loaded, the
/// header read, tpm2-tss loaded, the unseal, the keyslot and the dm-crypt mapping.
pub fn systemd_cryptsetup_span(transcript: &str) -> Option<f64> {
    let unit = "systemd-cryptsetup@";
    let start = stamp(transcript, &["Starting", unit])?;
    let end = stamp(transcript, &["Finished", unit])?;
    Some((end - start) * 1000.0)
}

/// rdbreak's own count on its line "unlocked with its TPM2 token in N ms (unsealed in M ms …)":
/// from the header's read to the dm-crypt mapping, and the unseal alone.
pub fn rdbreak_span(transcript: &str) -> Option<(f64, f64)> {
    let line = transcript.lines().find(|l| l.contains("unlocked with its TPM2 token in "))?;
    let number = |after: &str| -> Option<f64> { line.split(after).nth(1)?.split(" ms").next()?.trim().parse().ok() };
    Some((number("TPM2 token in ")?, number("unsealed in ")?))
}
