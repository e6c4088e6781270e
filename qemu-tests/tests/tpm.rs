//! TPM2-bound disks. On the host: LUKS2 containers enrolled by the real systemd-cryptenroll
//! against swtpm, unsealed by rdbreak-init's own TPM2 code over swtpm's socket, the keyslot
//! opened with what it unsealed; the break-glass extension proven to stop it.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rdbreak_init::storage::luks::{self, tokens};
use rdbreak_init::storage::luks_open::{self, tpm as boot_tpm};
use rdbreak_init::storage::tpm2::unseal::{Failure, Transport};
use rdbreak_qemu_tests::tpm::{self, Swtpm};

const PASS: &str = "rdbreak-test";

/// A small LUKS2 container (a file) with a fast PBKDF2 passphrase keyslot.
pub fn luks2(path: &Path) {
    let _ = std::fs::remove_file(path);
    std::fs::File::create(path).unwrap().set_len(32 << 20).unwrap();
    let mut c = Command::new("cryptsetup")
        .args(["luksFormat", "-q", "--type", "luks2", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"])
        .arg(path)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("cryptsetup (cryptsetup-bin) must be installed: ./run setup installs it");
    use std::io::Write;
    c.stdin.take().unwrap().write_all(PASS.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success());
}

fn header(path: &Path) -> luks::Header {
    let f = std::fs::File::open(path).unwrap();
    let size = f.metadata().unwrap().len();
    let mut read = |at: u64, buf: &mut [u8]| f.read_at(buf, at);
    luks::read_header(&mut read, size).unwrap()
}

fn tpm2_token(h: &luks::Header) -> (tokens::Tpm2, Vec<u32>) {
    let v = boot_tpm::tpm2_tokens(&h.tokens);
    assert_eq!(v.len(), 1, "one systemd-tpm2 token: {:?}", h.tokens);
    (v[0].0.clone(), v[0].1.to_vec())
}

/// A fresh TPM and a container enrolled against it with `args`.
struct Enrolled {
    _dir: PathBuf,
    img: PathBuf,
    tpm: Swtpm,
    token: tokens::Tpm2,
    slots: Vec<u32>,
}

fn enrolled(name: &str, args: &[&str], env: &[(&str, &str)], before: impl FnOnce(&Swtpm)) -> Enrolled {
    let dir = rdbreak_qemu_tests::workdir(name);
    tpm::manufacture(&dir.join("state"));
    let img = dir.join("luks.img");
    luks2(&img);
    let tpm = Swtpm::tcp(&dir.join("state"));
    before(&tpm);
    tpm::enroll(&tpm, &img, PASS, args, env);
    let (token, slots) = tpm2_token(&header(&img));
    Enrolled { _dir: dir, img, tpm, token, slots }
}

/// The passphrase unsealed opens the token's keyslot: the same volume key as the passphrase's.
fn opens(e: &Enrolled, pass: &[u8]) {
    let h = header(&e.img);
    let f = std::fs::File::open(&e.img).unwrap();
    let mut read = |at: u64, buf: &mut [u8]| f.read_at(buf, at);
    let mut only = h.clone();
    only.keyslots.retain(|k| e.slots.contains(&k.id));
    let with_token = only.unlock(&mut read, pass, 1 << 30).unwrap();
    let with_pass = h.unlock(&mut read, PASS.as_bytes(), 1 << 30).unwrap();
    assert_eq!(with_token.bytes(), with_pass.bytes());
}

#[test]
fn a_token_with_no_pcrs_unseals_and_opens_its_keyslot() {
    let e = enrolled("tpm-host-plain", &["--tpm2-pcrs="], &[], |_| {});
    assert_eq!((e.token.pcrs, e.token.pin), (0, false));
    let pass = boot_tpm::unseal_token(&mut e.tpm.connect(), &e.token, None).unwrap();
    assert_eq!(pass.len(), 44, "base64 of 32 bytes");
    opens(&e, &pass);
}

#[test]
fn a_pcr_bound_token_unseals_until_a_shell_opens_then_never_on_this_boot() {
    // systemd-cryptenroll's default: PCR 7 in the sha256 bank, as the TPM has it now.
    let e = enrolled("tpm-host-pcr7", &[], &[], |_| {});
    assert_eq!((e.token.pcrs, e.token.bank.as_deref()), (1 << 7, Some("sha256")));
    let pass = boot_tpm::unseal_token(&mut e.tpm.connect(), &e.token, None).unwrap();
    opens(&e, &pass);
    let h = header(&e.img);
    let pcrs = tokens::pcrs_to_extend(&h.tokens);
    assert_eq!(pcrs, [("sha256".to_string(), 1 << 7)]);
    assert_eq!(boot_tpm::extend(&mut e.tpm.connect(), &pcrs).unwrap(), ["sha256: 7"]);
    let err = boot_tpm::unseal_token(&mut e.tpm.connect(), &e.token, None).unwrap_err();
    assert!(matches!(err, Failure::PolicyMismatch { .. }), "{err}");
    assert!(err.to_string().starts_with("the PCRs (sha256: 7) are not what the disk was sealed to"), "{err}");
}

/// A container bound by the real `clevis luks bind … tpm2` (clevis 19 and tpm2-tools against
/// the same swtpm), as RHEL binds a disk: rdbreak reads its token as a Clevis TPM2 pin sealed to
/// PCR 7; what clevis unseals opens that keyslot; the prompt names the pin and what to add (rdbreak
/// does not unseal Clevis pins itself); and the extension rdbreak makes before any shell leaves
/// clevis itself unable to unseal it again on this boot.
#[test]
fn a_clevis_tpm2_binding_is_named_and_sealed_off_before_a_shell() {
    let dir = rdbreak_qemu_tests::workdir("tpm-host-clevis");
    tpm::manufacture(&dir.join("state"));
    let img = dir.join("luks.img");
    luks2(&img);
    let t = Swtpm::tcp(&dir.join("state"));
    tpm::clevis_bind(&t, &img, PASS, r#"{"pcr_bank":"sha256","pcr_ids":"7"}"#);
    let h = header(&img);
    let clevis = h.tokens.iter().find(|t| t.kind.type_name() == "clevis").expect("a clevis token");
    let slot = clevis.keyslots[0];
    let pcrs = tokens::pcrs_to_extend(&h.tokens);
    assert_eq!(pcrs, [("sha256".to_string(), 1 << 7)], "{clevis}");

    let secret = tpm::clevis_pass(&t, &img, slot).expect("clevis unseals what it bound");
    let f = std::fs::File::open(&img).unwrap();
    let mut read = |at: u64, buf: &mut [u8]| f.read_at(buf, at);
    let mut only = h.clone();
    only.keyslots.retain(|k| k.id == slot);
    let with_clevis = only.unlock(&mut read, &secret, 1 << 30).expect("the clevis keyslot");
    let with_pass = h.unlock(&mut read, PASS.as_bytes(), 1 << 30).unwrap();
    assert_eq!(with_clevis.bytes(), with_pass.bytes());

    let note = luks_open::token_note(2, "/dev/vda2", &h.token_summaries(), &Ok(()), None).expect("a note");
    assert!(note.contains("clevis") && note.contains("tpm2") && note.contains("rdbreak cannot unseal it"), "{note}");

    assert_eq!(boot_tpm::extend(&mut t.connect(), &pcrs).unwrap(), ["sha256: 7"]);
    assert_eq!(tpm::clevis_pass(&t, &img, slot), None, "clevis unsealed after the shell's extension");
}

#[test]
fn a_pin_token_unseals_with_the_pin_and_a_wrong_pin_is_told_apart() {
    let e = enrolled("tpm-host-pin", &["--tpm2-pcrs=7", "--tpm2-with-pin=yes"], &[("NEWPIN", "1234")], |_| {});
    assert!(e.token.pin);
    let err = boot_tpm::unseal_token(&mut e.tpm.connect(), &e.token, Some(b"4321")).unwrap_err();
    assert!(err.wrong_pin(), "{err}");
    assert!(err.to_string().contains("TPM_RC_AUTH_FAIL") || err.to_string().contains("TPM_RC_BAD_AUTH"), "{err}");
    let pass = boot_tpm::unseal_token(&mut e.tpm.connect(), &e.token, Some(b"1234")).unwrap();
    opens(&e, &pass);
}

/// A transport that keeps every exchange.
struct Recording<'a>(&'a mut dyn Transport, Vec<(Vec<u8>, Vec<u8>)>);

impl Transport for Recording<'_> {
    fn call(&mut self, cmd: &[u8]) -> std::io::Result<Vec<u8>> {
        let r = self.0.call(cmd)?;
        self.1.push((cmd.to_vec(), r.clone()));
        Ok(r)
    }
}

#[test]
fn no_handle_is_left_in_the_tpm_whatever_happened() {
    let e = enrolled("tpm-host-flush", &["--tpm2-pcrs=7", "--tpm2-with-pin=yes"], &[("NEWPIN", "1234")], |_| {});
    let mut conn = e.tpm.connect();
    let before = loaded(&mut conn);
    for pin in [&b"0000"[..], b"1234"] {
        let mut rec = Recording(&mut conn, Vec::new());
        let _ = boot_tpm::unseal_token(&mut rec, &e.token, Some(pin));
        let made: Vec<u32> = rec.1.iter().filter_map(|(c, r)| new_handle(c, r)).collect();
        let flushed: Vec<u32> = rec
            .1
            .iter()
            .filter(|(c, _)| c[6..10] == [0, 0, 1, 0x65])
            .map(|(c, _)| u32::from_be_bytes([c[10], c[11], c[12], c[13]]))
            .collect();
        let unsealed_ok = rec.1.iter().any(|(c, r)| c[6..10] == [0, 0, 1, 0x5E] && r[6..10] == [0; 4]);
        for h in made {
            // The policy session ends with a successful Unseal; every other handle is flushed.
            assert!(flushed.contains(&h) || (unsealed_ok && h >> 24 == 0x03), "handle {h:#x} left ({pin:?})");
        }
    }
    // And the TPM agrees: it holds the transient objects and sessions it held before
    // (systemd-cryptenroll's, on a TPM with no resource manager), no more (TPM_CAP_HANDLES).
    assert_eq!(loaded(&mut conn), before);
}

fn loaded(t: &mut dyn Transport) -> Vec<u32> {
    use rdbreak_init::storage::tpm2::{get_capability, parse_get_capability, Capability};
    let mut all = Vec::new();
    for first in [0x8000_0000u32, 0x0200_0000, 0x0300_0000] {
        let r = t.call(&get_capability(1, first, 64)).unwrap();
        match parse_get_capability(&r).unwrap().1 {
            Capability::Handles(h) => all.extend(h.into_iter().filter(|x| x >> 24 == first >> 24)),
            other => panic!("{other:?}"),
        }
    }
    all
}

/// The handle a CreatePrimary, Load or StartAuthSession made (the first word after the header).
fn new_handle(cmd: &[u8], resp: &[u8]) -> Option<u32> {
    let code = u32::from_be_bytes([cmd[6], cmd[7], cmd[8], cmd[9]]);
    let ok = resp.len() >= 14 && resp[6..10] == [0; 4];
    (ok && matches!(code, 0x131 | 0x157 | 0x176)).then(|| u32::from_be_bytes([resp[10], resp[11], resp[12], resp[13]]))
}

// ---- In a VM: the disk and the TPM it was enrolled against, swtpm behind QEMU's tpm-crb ----

use rdbreak_qemu_tests::layouts::luks::{FS_UUID, HOST_KEY, LUKS_UUID, PASSPHRASE};
use rdbreak_qemu_tests::layouts::{self};
use rdbreak_qemu_tests::{Disk, Initrd, Scenario};

const PASSWORD: &str = "Rdbreak-Tpm-Root!";
/// The PCR the VM tests bind: zero in a fresh swtpm and in a VM the firmware booted straight
/// into the kernel (SeaBIOS measures into 0 to 7 only), so the host can enroll what the VM
/// will have.
const PCR: &str = "8";

/// The LUKS2 root of [`layouts::luks2_root`] enrolled by systemd-cryptenroll (`args`, `env`)
/// against a fresh TPM state in the scenario's directory; `before` runs on that TPM first.
fn tpm_root(s: &Scenario, args: &[&str], env: &[(&str, &str)], before: impl FnOnce(&Swtpm)) -> (PathBuf, PathBuf) {
    tpm::enrolled_root(s.dir(), args, env, before)
}

fn boot_line(extra: &str) -> String {
    format!("root=UUID={FS_UUID} ro rd.luks.uuid=luks-{LUKS_UUID} {extra}")
}

fn prompt() -> String {
    format!("Please enter passphrase for disk /dev/vda (luks-{LUKS_UUID}):")
}

/// A VM with the disk and a TPM on `state`.
fn with_tpm(s: Scenario, disk: &Path, state: &Path, cmdline: &str) -> (rdbreak_qemu_tests::Vm, Swtpm) {
    tpm::boot(s, disk, state, cmdline)
}

/// The usual case (Fedora, Ubuntu's TPM install): no one types anything, the TPM unseals the
/// root's key and the real init runs from it. No passphrase prompt is ever shown.
#[test]
fn vm_the_tpm_unlocks_the_root_with_no_prompt() {
    let s = Scenario::new("tpm_unattended");
    let (disk, state) = tpm_root(&s, &[&format!("--tpm2-pcrs={PCR}")], &[], |_| {});
    let (mut vm, _t) = with_tpm(s, &disk, &state, &boot_line(""));
    let t = vm.runs_real_init(240);
    assert!(t.contains("unlocked with its TPM2 token in "), "{t}");
    assert!(!t.contains("Please enter passphrase"), "no prompt: {t}");
}

/// One image with dracut's systemd, crypt and tpm2-tss modules, one disk enrolled with no PCRs,
/// one TPM state, two boots that differ only in `rd.luks.options=tpm2-device=auto`. With it,
/// rdbreak hands the boot to dracut's systemd and systemd-cryptsetup unseals the root's key;
/// without it, rdbreak unseals it itself. No one types: a boot that fell back to a passphrase
/// would wait at its prompt and never reach the real init. `rdbreak-bench-tpm --vm` times these
/// two boots.
#[test]
fn vm_systemd_cryptsetup_and_rdbreak_each_unlock_the_root_with_the_tpm_from_one_image() {
    let image = tpm::systemd_tpm2_image();
    let s = Scenario::new("tpm_systemd_cryptsetup");
    let (disk, state) = tpm_root(&s, &["--tpm2-pcrs="], &[], |_| {});
    let (mut vm, _t) = with_tpm(s.initrd(Initrd::File(image.clone())), &disk, &state, &boot_line(tpm::SYSTEMD_UNLOCKS));
    let t = vm.runs_real_init(300);
    assert!(
        t.contains("handing the boot to dracut's init (/init.dracut, systemd): rd.luks.options=tpm2-device=auto asks for unlocking with the TPM2"),
        "{t}"
    );
    assert!(tpm::systemd_cryptsetup_span(&t).is_some(), "systemd-cryptsetup@ started and finished: {t}");
    assert!(!t.contains("unlocked with its TPM2 token") && !t.contains("Please enter passphrase"), "{t}");

    let s = Scenario::new("tpm_rdbreak_same_image");
    let (mut vm, _t) = with_tpm(s.initrd(Initrd::File(image)), &disk, &state, &boot_line(tpm::RDBREAK_UNLOCKS));
    let t = vm.runs_real_init(300);
    assert!(!t.contains("handing the boot") && !t.contains("Please enter passphrase"), "{t}");
    assert!(tpm::rdbreak_span(&t).is_some(), "rdbreak unsealed it: {t}");
    assert!(t.contains("RDBREAK-TEST-INIT pid=1"), "{t}");
}

/// Break-glass: with rd.break the TPM is not asked, the passphrase is; before the shell opens
/// the token's PCR is extended with "rdbreak: shell opened" (the kernel's view of PCR 8 is
/// the extension of zeros by its digest), then the walk-through works.
#[test]
fn vm_rd_break_asks_for_the_passphrase_and_seals_the_tpm_off_before_the_shell() {
    let s = Scenario::new("tpm_break_glass");
    let (disk, state) = tpm_root(&s, &[&format!("--tpm2-pcrs={PCR}")], &[], |_| {});
    let (mut vm, _t) = with_tpm(s, &disk, &state, &boot_line("rd.break"));
    let before = vm.expect(&prompt(), 240);
    assert!(
        before.contains("not unsealed: rd.break asks for a shell, and a shell opened on purpose never holds a disk no human unlocked"),
        "{before}"
    );
    vm.send_line(PASSPHRASE);
    vm.expect("Break before switch_root", 240);
    let mut sh = vm.at_prompt("switch_root:/# ", 30);
    assert!(
        sh.before().contains("extended PCRs sha256: 8 with \"rdbreak: shell opened\" before the shell"),
        "{}",
        sh.before()
    );
    let pcr8 = sh.run("cat /sys/class/tpm/tpm0/pcr-sha256/8");
    use sha2::Digest;
    let event = sha2::Sha256::digest(boot_tpm::SHELL_EVENT);
    let want = sha2::Sha256::new().chain_update([0u8; 32]).chain_update(event).finalize();
    let want: String = want.iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(pcr8.trim().to_uppercase(), want, "PCR 8 after the extension");
    sh.password_reset(PASSWORD);
    let t = vm.powered_off();
    assert!(t.contains("RDBREAK-TEST-INIT pid=1"), "{t}");
}

/// The PCR the disk was sealed to differs from the VM's (the host extended it before
/// enrolling): the prompt says so, the passphrase boots.
#[test]
fn vm_a_changed_pcr_falls_back_to_the_passphrase_with_the_reason() {
    let s = Scenario::new("tpm_pcr_changed");
    let (disk, state) = tpm_root(&s, &[&format!("--tpm2-pcrs={PCR}")], &[], |t| {
        boot_tpm::extend(&mut t.connect(), &[("sha256".into(), 1 << 8)]).unwrap();
    });
    let (mut vm, _t) = with_tpm(s, &disk, &state, &boot_line(""));
    let before = vm.expect(&prompt(), 240);
    assert!(
        before.contains("the TPM did not unseal it: the PCRs (sha256: 8) are not what the disk was sealed to"),
        "{before}"
    );
    vm.send_line(PASSPHRASE);
    vm.runs_real_init(240);
}

/// No TPM in the machine: the prompt says so, the passphrase boots.
#[test]
fn vm_no_tpm_attached_falls_back_to_the_passphrase_with_the_reason() {
    let s = Scenario::new("tpm_absent");
    let (disk, _state) = tpm_root(&s, &[&format!("--tpm2-pcrs={PCR}")], &[], |_| {});
    let mut vm = s.disk(Disk::virtio(&disk)).append(&boot_line("")).boot();
    let before = vm.expect(&prompt(), 240);
    assert!(before.contains("the TPM did not unseal it: no TPM (/dev/tpmrm0 is not there)"), "{before}");
    vm.send_line(PASSPHRASE);
    vm.runs_real_init(240);
}

/// A PIN token: a wrong PIN is refused (and the answer then tried as the passphrase), the
/// right one unseals.
#[test]
fn vm_a_pin_token_takes_the_pin_at_the_prompt() {
    let s = Scenario::new("tpm_pin");
    let (disk, state) =
        tpm_root(&s, &[&format!("--tpm2-pcrs={PCR}"), "--tpm2-with-pin=yes"], &[("NEWPIN", "Pin-Right-Q")], |_| {});
    let (mut vm, _t) = with_tpm(s, &disk, &state, &boot_line(""));
    let before = vm.expect(&prompt(), 240);
    assert!(before.contains("its TPM2 token asks for a PIN: type the PIN or the passphrase"), "{before}");
    vm.send_line("Pin-Wrong-Z");
    let again = vm.expect(&prompt(), 240);
    assert!(again.contains("the TPM refused the PIN"), "{again}");
    vm.send_line("Pin-Right-Q");
    let t = vm.runs_real_init(240);
    assert!(!t.contains("Pin-Right") && !t.contains("Pin-Wrong"), "no PIN on the console");
}

/// TPM plus a recovery key, the passphrase's keyslot wiped (`--wipe-slot=0`): at rd.break the
/// recovery key systemd-cryptenroll printed opens it, and the walk-through works.
#[test]
fn vm_the_recovery_key_opens_a_tpm_disk_at_the_break() {
    let s = Scenario::new("tpm_recovery");
    let disk = layouts::luks2_root().copy_to(s.dir()).remove(0);
    let state = s.dir().join("tpm-state");
    tpm::manufacture(&state);
    let t = Swtpm::tcp(&state);
    let out = tpm::cryptenroll(&disk, HOST_KEY, &["--recovery-key"], &[]);
    // systemd-cryptenroll prints the key as 8 groups of 8 modhex characters.
    let key = out
        .split_whitespace()
        .find(|w| w.len() == 71 && w.split('-').count() == 8)
        .unwrap_or_else(|| panic!("a recovery key in: {out}"))
        .to_string();
    tpm::enroll(&t, &disk, HOST_KEY, &[&format!("--tpm2-pcrs={PCR}"), "--wipe-slot=0"], &[]);
    drop(t);
    let h = header(&disk);
    assert!(h.keyslots.iter().all(|k| k.id != 0), "the passphrase's keyslot is gone");
    let (mut vm, _t) = with_tpm(s, &disk, &state, &boot_line("rd.break"));
    let before = vm.expect(&prompt(), 240);
    assert!(before.contains("recovery key"), "{before}");
    vm.send_line(&key);
    let mounts = vm.password_reset(PASSWORD);
    assert!(mounts.contains(" on /sysroot type ext4 (ro"), "{mounts}");
    let t = vm.powered_off();
    assert!(t.contains("RDBREAK-TEST-INIT pid=1") && !t.contains(&key), "{t}");
}

/// A FIDO2 token (imported as systemd-cryptenroll writes it; no key is plugged in) on an image
/// without systemd's FIDO2 plugin: the prompt names the token and what to add, the passphrase
/// boots.
#[test]
fn vm_a_fido2_token_is_named_at_the_prompt_with_what_to_add() {
    let s = Scenario::new("tpm_fido2");
    let disk = layouts::luks2_root().copy_to(s.dir()).remove(0);
    let json = r#"{"type":"systemd-fido2","keyslots":["1"],"fido2-credential":"AAECAwQFBgcICQoLDA0ODw==","fido2-salt":"EBESExQVFhcYGRobHB0eHw==","fido2-rp":"io.systemd.cryptsetup","fido2-clientPin-required":false,"fido2-up-required":true,"fido2-uv-required":false}"#;
    let mut c = Command::new("cryptsetup")
        .args(["token", "import"])
        .arg(&disk)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    c.stdin.take().unwrap().write_all(json.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success(), "cryptsetup token import");
    let mut vm = s.disk(Disk::virtio(&disk)).append(&boot_line("")).boot();
    let before = vm.expect(&prompt(), 240);
    assert!(
        before.contains("has a systemd-fido2 token")
            && before.contains("rebuild the image with dracut's systemd and fido2 modules"),
        "{before}"
    );
    vm.send_line(PASSPHRASE);
    vm.runs_real_init(240);
}

/// A fresh TPM and a container enrolled against it by systemd 257's systemd-cryptenroll.
fn enrolled_257(name: &str, args: &[&str], env: &[(&str, &str)]) -> Enrolled {
    let dir = rdbreak_qemu_tests::workdir(name);
    tpm::manufacture(&dir.join("state"));
    let img = dir.join("luks.img");
    luks2(&img);
    let tpm = Swtpm::tcp(&dir.join("state"));
    tpm::enroll_257(&tpm, &img, PASS, args, env);
    let (token, slots) = tpm2_token(&header(&img));
    Enrolled { _dir: dir, img, tpm, token, slots }
}

/// systemd 257 (Debian 13) seals under the persistent SRK it makes at 0x81000001 and records
/// it (`tpm2_srk`); rdbreak checks that key's name and unseals under it.
#[test]
fn a_systemd_257_token_unseals_under_its_persistent_srk() {
    let e = enrolled_257("tpm-host-257", &["--tpm2-pcrs=7"], &[]);
    assert!(e.token.srk.is_some(), "systemd 257 records its SRK: {:?}", e.token);
    let pass = boot_tpm::unseal_token(&mut e.tpm.connect(), &e.token, None).unwrap();
    opens(&e, &pass);
}

/// systemd 257's PIN: PBKDF2 with the token's salt, then SHA-256 of its base64.
#[test]
fn a_systemd_257_pin_token_unseals_with_the_salted_pin() {
    let e = enrolled_257("tpm-host-257-pin", &["--tpm2-pcrs=7", "--tpm2-with-pin=yes"], &[("NEWPIN", "1234")]);
    assert!(e.token.pin && e.token.salt.is_some(), "a salted PIN: {:?}", e.token);
    let err = boot_tpm::unseal_token(&mut e.tpm.connect(), &e.token, Some(b"4321")).unwrap_err();
    assert!(err.wrong_pin(), "{err}");
    let pass = boot_tpm::unseal_token(&mut e.tpm.connect(), &e.token, Some(b"1234")).unwrap();
    opens(&e, &pass);
}
