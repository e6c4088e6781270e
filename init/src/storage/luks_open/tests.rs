use super::*;
use crate::devices::DmInfo;
use crate::probe::Filesystem;

#[test]
fn cipher_specs_name_their_modules() {
    assert_eq!(cipher_modules("aes-xts-plain64"), ["dm_crypt", "crypto-aes", "crypto-xts", "crypto-ecb"]);
    assert_eq!(
        cipher_modules("aes-cbc-essiv:sha256"),
        ["dm_crypt", "crypto-aes", "crypto-cbc", "crypto-essiv", "crypto-sha256"]
    );
    assert_eq!(cipher_modules("serpent-cbc-plain"), ["dm_crypt", "crypto-serpent", "crypto-cbc"]);
    assert_eq!(cipher_modules("../x-$(y)"), ["dm_crypt"], "nothing odd becomes a module name");
}

#[test]
fn verdicts_after_an_answer() {
    let l = |minor, wrong| Locked {
        devno: (254, minor),
        node: format!("/dev/vd{minor}"),
        uuid: "u".into(),
        name: format!("luks-{minor}"),
        wrong,
        tries: 3,
        note: None,
    };
    assert_eq!(verdict(&l(1, 0), &[(l(1, 0), Outcome::Opened("luks-1".into()))]), Verdict::Opened);
    assert_eq!(
        verdict(&l(1, 0), &[(l(1, 0), Outcome::Wrong)]),
        Verdict::Again("No key available with this passphrase (try 1 of 3).".into())
    );
    let Verdict::Shell(m) = verdict(&l(1, 2), &[(l(1, 2), Outcome::Wrong)]) else { panic!() };
    assert!(m.contains("/dev/vd1 (luks-1): 3 wrong tries") && m.contains("cryptsetup open /dev/vd1 luks-1"), "{m}");
    let Verdict::Shell(m) = verdict(&l(1, 0), &[(l(1, 0), Outcome::Failed("needs 1024 MiB".into()))]) else { panic!() };
    assert!(m.contains("needs 1024 MiB"), "{m}");
    // Asked for one, opened another: a scan first, the first is asked for again.
    assert_eq!(
        verdict(&l(1, 0), &[(l(1, 0), Outcome::Wrong), (l(2, 0), Outcome::Opened("luks-2".into()))]),
        Verdict::Opened
    );
    let mut unlimited = l(1, 7);
    unlimited.tries = 0;
    assert_eq!(
        verdict(&unlimited, &[(l(1, 7), Outcome::Wrong)]),
        Verdict::Again("No key available with this passphrase.".into())
    );
}

#[test]
fn meminfo_available() {
    assert_eq!(mem_available("MemTotal: 1000 kB\nMemAvailable:     812345 kB\n"), 812345 * 1024);
    assert_eq!(mem_available("MemTotal: 1000 kB\n"), 0);
}

fn luks_dev(name: &str, minor: u32, uuid: &str) -> BlockDev {
    BlockDev {
        name: name.into(),
        major: 254,
        minor,
        size_bytes: 64 << 20,
        fs: Some(Filesystem { fstype: "crypto_LUKS".into(), uuid: Some(uuid.into()), label: None, member: None }),
        ..Default::default()
    }
}

#[test]
fn locked_lists_wanted_unmapped_containers_and_forgets_given_up_ones() {
    let a = luks_dev("vda2", 2, "aaaa-1");
    let b = luks_dev("vdb", 16, "bbbb-2");
    let mut c = Containers::new(&Cmdline::parse("rd.luks.uuid=aaaa rd.luks.uuid=bbbb"), None);
    let names: Vec<String> = c.locked(&[a.clone(), b.clone()]).into_iter().map(|l| l.name).collect();
    assert_eq!(names, ["luks-aaaa-1", "luks-bbbb-2"]);
    let mapped = BlockDev {
        name: "dm-0".into(),
        dm: Some(DmInfo { name: "byhand".into(), uuid: "CRYPT-LUKS2-aaaa1-byhand".into() }),
        slaves: vec!["vda2".into()],
        ..Default::default()
    };
    let l = c.locked(&[a.clone(), b.clone(), mapped.clone()]);
    assert_eq!(l.len(), 1, "a mapping made by hand counts, whatever its name");
    assert_eq!((l[0].node.as_str(), l[0].tries), ("/dev/vdb", luks_rules::DEFAULT_TRIES));
    c.give_up((254, 16), "3 wrong passphrases");
    assert!(c.locked(&[a.clone(), b.clone(), mapped]).is_empty());
    let (_, pending) = c.step(&[a, b], Path::new("/nonexistent"), None);
    assert!(pending.iter().any(|p| p.contains("cryptsetup open /dev/vdb luks-bbbb-2")), "{pending:?}");
}

#[test]
fn what_the_rules_skip_is_said_in_the_failure() {
    let a = luks_dev("vda2", 2, "aaaa-1");
    let mut c = Containers::new(&Cmdline::parse("rd.luks=0"), None);
    assert!(c.locked(std::slice::from_ref(&a)).is_empty());
    let (made, pending) = c.step(&[a], Path::new("/nonexistent"), None);
    assert_eq!(made, 0);
    assert_eq!(pending, ["LUKS /dev/vda2 (UUID aaaa-1) left locked: rd.luks=0 is given"]);
}

/// A container made by the real cryptsetup (storage/testdata/luks/luks2: an argon2id
/// passphrase slot and a keyfile slot) written where the scan would find it.
#[cfg(feature = "zstd")]
fn real_container(dir: &Path) -> BlockDev {
    use std::io::Read as _;
    let z =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/storage/testdata/luks/luks2.img.zst")).unwrap();
    let mut img = Vec::new();
    ruzstd::decoding::StreamingDecoder::new(z.as_slice()).unwrap().read_to_end(&mut img).unwrap();
    std::fs::write(dir.join("vda"), &img).unwrap();
    let mut d = luks_dev("vda", 0, "0bb1d58f-60fc-4dd9-b39e-7f446a7680cf");
    d.size_bytes = img.len() as u64;
    d
}

/// The passphrase path end to end on the host: a wrong one counts against the container, the
/// right one opens a keyslot and gets as far as device-mapper (which this host has not).
#[cfg(feature = "zstd")]
#[test]
fn a_real_container_takes_the_right_passphrase_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = real_container(dir.path());
    let devs = [d];
    let mut c = Containers::new(&Cmdline::parse("rd.luks.uuid=luks-0bb1d58f"), None);
    let r = c.unlock_all(&devs, b"not it", dir.path(), None);
    assert!(matches!(r.as_slice(), [(_, Outcome::Wrong)]), "{r:?}");
    assert_eq!(c.locked(&devs)[0].wrong, 1);
    let r = c.unlock_all(&devs, b"rdbreak test passphrase", dir.path(), None);
    let [(l, Outcome::Failed(e))] = r.as_slice() else { panic!("{r:?}") };
    assert_eq!(l.name, "luks-0bb1d58f-60fc-4dd9-b39e-7f446a7680cf");
    assert!(e.contains("cannot use device-mapper"), "unlocked, then no dm here: {e}");
    assert!(!e.contains("rdbreak test passphrase"));
    assert!(c.locked(&devs).is_empty(), "a failure no passphrase mends is not asked again");
}

/// A key file named by the image's crypttab is tried before any prompt.
#[cfg(feature = "zstd")]
#[test]
fn a_crypttab_key_file_is_tried_first() {
    let dir = tempfile::tempdir().unwrap();
    let d = real_container(dir.path());
    let key = dir.path().join("root.key");
    std::fs::write(&key, b"keyfile\0with binary\xffbytes\n").unwrap();
    let tab = format!("cryptroot UUID=0bb1d58f-60fc-4dd9-b39e-7f446a7680cf {} luks\n", key.display());
    let mut c = Containers::new(&Cmdline::parse(""), Some(&tab));
    let (made, pending) = c.step(std::slice::from_ref(&d), dir.path(), None);
    assert_eq!(made, 0);
    assert!(c.said.iter().any(|s| s.contains("cannot use device-mapper")), "the key file opened a slot: {:?}", c.said);
    assert!(pending.iter().any(|p| p.contains("(cryptroot)")), "{pending:?}");
    std::fs::write(&key, b"wrong key").unwrap();
    let mut c = Containers::new(&Cmdline::parse(""), Some(&tab));
    c.step(std::slice::from_ref(&d), dir.path(), None);
    assert!(c.said.iter().any(|s| s.contains("opens no keyslot")), "{:?}", c.said);
    assert_eq!(c.locked(std::slice::from_ref(&d)).len(), 1, "then the passphrase is asked for");
}

/// A key file on a device not there yet: the passphrase is not asked for until the wait for the
/// device has passed, and the console says what it waits for.
#[cfg(feature = "zstd")]
#[test]
fn a_key_device_not_there_yet_is_waited_for_before_the_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let d = real_container(dir.path());
    let devs = [d];
    let mut c = Containers::new(&Cmdline::parse("rd.luks.uuid=luks-0bb1d58f rd.luks.key=/root.key:LABEL=keys"), None);
    let (made, pending) = c.step(&devs, dir.path(), None);
    assert_eq!(made, 0);
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(c.locked(&devs).is_empty(), "no prompt while the key device may still come");
    assert!(
        c.said.iter().any(|s| s.contains("no device LABEL=keys") && s.contains("waiting 10 s for it")),
        "{:?}",
        c.said
    );
    c.key_device_wait = Duration::ZERO;
    c.step(&devs, dir.path(), None);
    assert_eq!(c.locked(&devs).len(), 1, "then the passphrase is asked for");
}

#[test]
fn token_notes_name_the_types_and_what_to_add() {
    let tpm2 = ("systemd-tpm2".to_string(), "a systemd-tpm2 token (PCRs 7, sha256)".to_string());
    let recovery = ("systemd-recovery".to_string(), "a recovery key".to_string());
    let no_tpm = Some("the TPM did not unseal it: no TPM (/dev/tpmrm0 is not there)");
    assert_eq!(
        token_note(2, "/dev/vda2", &[tpm2.clone(), recovery.clone()], &Ok(()), no_tpm).unwrap(),
        "LUKS2 /dev/vda2 has a systemd-tpm2 token (PCRs 7, sha256): the TPM did not unseal it: no TPM (/dev/tpmrm0 is not there); asking for the passphrase or recovery key"
    );
    // Not tried yet and nothing else: nothing to say.
    assert_eq!(token_note(2, "/dev/vda2", std::slice::from_ref(&tpm2), &Ok(()), None), None);
    let brk =
        Err("rd.break asks for a shell, and a shell opened on purpose never holds a disk no human unlocked".into());
    let n = token_note(2, "/dev/vda2", std::slice::from_ref(&tpm2), &brk, None).unwrap();
    assert!(n.contains(": not unsealed: rd.break asks for a shell"), "{n}");
    assert_eq!(token_note(2, "/dev/vda2", &[recovery], &Ok(()), no_tpm), None, "a recovery key is typed");
    assert_eq!(token_note(2, "/dev/vda2", &[], &Ok(()), None), None);
    let fido = ("systemd-fido2".to_string(), "a systemd-fido2 token".to_string());
    let n = token_note(2, "/dev/vdb", &[tpm2.clone(), fido.clone(), tpm2.clone()], &Ok(()), no_tpm).unwrap();
    assert!(
        n.contains("has a systemd-tpm2 token (PCRs 7, sha256) and a systemd-fido2 token and a systemd-tpm2"),
        "{n}"
    );
    assert!(n.contains("no TPM (/dev/tpmrm0 is not there); rdbreak cannot unseal it (systemd-fido2);"), "{n}");
    assert!(n.contains("fido2 modules") && !n.contains("tpm2-tss"), "{n}");
    let clevis = ("clevis".to_string(), "a clevis token (tpm2)".to_string());
    let n = token_note(2, "/dev/vdb", &[tpm2, clevis], &brk, None).unwrap();
    assert_eq!(n.matches("not unsealed: rd.break").count(), 1, "said once: {n}");
}

/// The luks2-tokens fixture (every token kind) where the scan finds it: its pending line and
/// its prompt say what the header holds, and the passphrase is still what is asked for.
#[cfg(feature = "zstd")]
#[test]
fn a_header_with_tokens_says_so_before_the_prompt() {
    use std::io::Read as _;
    let dir = tempfile::tempdir().unwrap();
    let z = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/storage/testdata/luks/luks2-tokens.img.zst"))
        .unwrap();
    let mut img = Vec::new();
    ruzstd::decoding::StreamingDecoder::new(z.as_slice()).unwrap().read_to_end(&mut img).unwrap();
    std::fs::write(dir.path().join("vda"), &img).unwrap();
    let uuid = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/storage/testdata/luks/luks2-tokens.txt"),
    )
    .unwrap()
    .lines()
    .find_map(|l| l.strip_prefix("UUID:").map(|u| u.trim().to_string()))
    .unwrap();
    let mut d = luks_dev("vda", 0, &uuid);
    d.size_bytes = img.len() as u64;
    let devs = [d];
    let mut c = Containers::new(&Cmdline::parse("rd.auto"), None);
    let (made, pending) = c.step(&devs, dir.path(), None);
    assert_eq!(made, 0);
    let [line] = pending.as_slice() else { panic!("{pending:?}") };
    assert!(line.starts_with(&format!("LUKS /dev/vda (UUID {uuid}) is locked, waiting for its passphrase (luks-{uuid}). LUKS2 /dev/vda has a systemd-tpm2 token (PCRs 7, sha256) and ")), "{line}");
    assert!(
        line.contains("a clevis tang (http://tang.example:7500) token") && line.contains("unknown type \"acme-hsm\""),
        "{line}"
    );
    assert!(!line.contains("recovery key and"), "a recovery key is no token to unseal: {line}");
    assert!(c.said.iter().any(|s| s.starts_with("LUKS2 /dev/vda has a systemd-tpm2 token")), "{:?}", c.said);
    let l = c.locked(&devs);
    assert_eq!(l.len(), 1);
    assert!(l[0].note.as_deref().is_some_and(|n| n.ends_with("asking for the passphrase or recovery key")), "{l:?}");
}
