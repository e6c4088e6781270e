//! TPM2-bound disks. On the host: LUKS2 containers enrolled by the real systemd-cryptenroll
//! against swtpm, unsealed by rdbreak-init's own TPM2 code over swtpm's socket, the keyslot
//! opened with what it unsealed; the break-glass extension proven to stop it.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rdbreak_init::storage::luks::{self, tokens};
use rdbreak_init::storage::luks_open::tpm as boot_tpm;
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
