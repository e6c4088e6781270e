//! Known-answer tests of the KDFs and ciphers, and crafted hostile headers: every declared
//! size is refused before it is allocated, every loop is bounded, nothing panics.

use super::fixtures::{Fixture, MEM, PASS1};
use super::keyslot::{argon2, decrypt_area, decrypt_sectors, Argon2Cost};
use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn pbkdf2_hex(hash: &str, pw: &[u8], salt: &[u8], iterations: u32, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    pbkdf2(hash, pw, salt, iterations, &mut out).unwrap();
    out
}

#[test]
fn pbkdf2_rfc6070_sha1_and_rfc7914_sha256() {
    for (pw, salt, c, want) in [
        (&b"password"[..], &b"salt"[..], 1, "0c60c80f961f0e71f3a9b524af6012062fe037a6"),
        (b"password", b"salt", 2, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"),
        (b"password", b"salt", 4096, "4b007901b765489abead49d926f721d065a429c1"),
        (
            b"passwordPASSWORDpassword",
            b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
            4096,
            "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038",
        ),
        (b"pass\0word", b"sa\0lt", 4096, "56fa6aa75548099dcc37d7f03425e0c3"),
    ] {
        assert_eq!(pbkdf2_hex("sha1", pw, salt, c, want.len() / 2), hex(want), "{c}");
    }
    let want = "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783";
    assert_eq!(pbkdf2_hex("SHA256", b"passwd", b"salt", 1, 64), hex(want));
    let mut out = [0u8; 4];
    assert!(matches!(pbkdf2("sha256", b"", b"", 0, &mut out), Err(Error::Bad(_))));
    assert!(matches!(pbkdf2("whirlpool", b"", b"", 1, &mut out), Err(Error::Unsupported(_))));
}

#[test]
fn argon2_rfc9106_vectors() {
    for (id, want) in [
        (false, "c814d9d1dc7f37aa13f0d77f2494bda1c8de6b016dd388d29952a4c4672b6ce8"),
        (true, "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"),
    ] {
        let cost = Argon2Cost { id, time: 3, memory_kib: 32, cpus: 4 };
        let mut out = [0u8; 32];
        argon2(0, &cost, &[3; 8], &[4; 12], &[1; 32], &[2; 16], &mut out, MEM).unwrap();
        assert_eq!(out.to_vec(), hex(want), "argon2id={id}");
    }
}

#[test]
fn argon2_refuses_what_the_machine_cannot_afford_and_bad_costs() {
    let mut out = [0u8; 32];
    // cryptsetup's maximum, 4 GiB, on a 1 GiB machine: refused before any allocation.
    let cost = Argon2Cost { id: true, time: 4, memory_kib: 4 << 20, cpus: 4 };
    let err = argon2(3, &cost, &[], &[], b"x", &[0; 32], &mut out, 1 << 30).unwrap_err();
    assert_eq!(err, Error::Memory { slot: 3, kdf: "argon2id", need_mib: 4096, have_mib: 1024 });
    for (t, m, p) in [(0, 64, 1), (1, 64, 0), (1, 1, 1)] {
        let cost = Argon2Cost { id: false, time: t, memory_kib: m, cpus: p };
        let err = argon2(1, &cost, &[], &[], b"x", &[0; 32], &mut out, MEM).unwrap_err();
        assert!(matches!(err, Error::Keyslot { slot: 1, .. }), "{err}");
    }
}

#[test]
fn xts_ieee1619_vector_1_and_bad_cipher_specs() {
    // Key 0, data unit 0, plaintext 0: the first two blocks of a sector.
    let mut sector = hex("917cf69ebd68b2ec9b9fe9a3eadda692cd43d2f59598ed858c02c2652fbf922e");
    sector.resize(512, 0);
    decrypt_area("aes-xts-plain64", &[0; 32], &mut sector).unwrap();
    assert_eq!(sector[..32], [0; 32]);
    for (spec, key_len, len) in [
        ("serpent-xts-plain64", 64, 512),
        ("aes-xts-essiv:sha256", 64, 512),
        ("aes-xts-plain64", 40, 512),
        ("aes-ecb", 16, 512),
        ("aes-cbc-essiv:md5", 16, 512),
        ("aes-xts-plain64", 64, 100),
        ("", 0, 0),
    ] {
        let mut data = vec![0u8; len];
        let err = decrypt_area(spec, &vec![0; key_len], &mut data).unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)), "{spec}: {err}");
    }
}

#[test]
fn data_sectors_are_numbered_from_their_first_512_byte_sector() {
    let key: Vec<u8> = (0..64u8).collect();
    let data: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    for spec in ["aes-xts-plain64", "aes-cbc-essiv:sha256", "aes-cbc-plain64"] {
        let key = &key[..if spec.contains("xts") { 64 } else { 32 }];
        // Sector 5 alone, numbered 5, is what the area's sector 5 is.
        let mut area = data.clone();
        decrypt_area(spec, key, &mut area).unwrap();
        let mut one = data[5 * 512..6 * 512].to_vec();
        decrypt_sectors(spec, key, 5, 512, &mut one).unwrap();
        assert_eq!(one, area[5 * 512..6 * 512], "{spec}");
        // One 4096-byte crypt sector is not eight 512-byte ones, and its number counts 512s.
        let mut big = data.clone();
        decrypt_sectors(spec, key, 0, 4096, &mut big).unwrap();
        assert_eq!(big[..512], area[..512], "{spec}: the first blocks share sector 0's IV");
        assert_ne!(big, area, "{spec}");
        let mut two = [data.clone(), data.clone()].concat();
        decrypt_sectors(spec, key, 0, 4096, &mut two).unwrap();
        let mut second = data.clone();
        decrypt_sectors(spec, key, 8, 4096, &mut second).unwrap();
        assert_eq!(two[4096..], second[..], "{spec}: the second 4096-byte sector is number 8");
    }
    for size in [0, 256, 1000, 8192] {
        let mut d = vec![0u8; 8192];
        assert!(decrypt_sectors("aes-xts-plain64", &key, 0, size, &mut d).is_err(), "sector size {size}");
    }
}

#[test]
fn af_merge_of_one_and_two_stripes() {
    use sha1::Digest as _;
    let s0: Vec<u8> = (0..20u8).collect();
    let s1: Vec<u8> = (100..120u8).collect();
    assert_eq!(*af_merge(&s0, 20, 1, "sha1").unwrap(), s0);
    // Two stripes: H(be32(0) || s0) ^ s1, one SHA-1 block.
    let mut want = sha1::Sha1::new().chain_update([0, 0, 0, 0]).chain_update(&s0).finalize().to_vec();
    want.iter_mut().zip(&s1).for_each(|(a, b)| *a ^= b);
    let both = [s0.clone(), s1].concat();
    assert_eq!(*af_merge(&both, 20, 2, "sha1").unwrap(), want);
    assert!(af_merge(&both, 20, 3, "sha1").is_err());
    assert!(af_merge(&both, 20, 0, "sha1").is_err());
    assert!(af_merge(&both, usize::MAX, u32::MAX, "sha1").is_err());
}

const DEV: usize = 2 << 20;

fn keyslot_json(key: &str, stripes: &str, area: &str, kdf: &str) -> String {
    format!(
        r#"{{"type":"luks2","key_size":{key},"af":{{"type":"luks1","stripes":{stripes},"hash":"sha256"}},"area":{area},"kdf":{kdf}}}"#
    )
}
const AREA: &str = r#"{"type":"raw","offset":"32768","size":"258048","encryption":"aes-xts-plain64","key_size":64}"#;
const PBKDF2: &str =
    r#"{"type":"pbkdf2","hash":"sha256","iterations":1000,"salt":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#;
const SEGMENT: &str = r#"{"type":"crypt","offset":"1048576","size":"dynamic","iv_tweak":"0","encryption":"aes-xts-plain64","sector_size":512}"#;

fn json_with(keyslot: &str, segments: &str, config: &str) -> String {
    format!(
        r#"{{"keyslots":{{"0":{keyslot}}},"tokens":{{}},"segments":{segments},"digests":{{"0":{{"type":"pbkdf2","keyslots":["0"],"segments":["0"],"hash":"sha256","iterations":1000,"salt":"AAAA","digest":"AAAA"}}}},"config":{config}}}"#
    )
}

fn default_json() -> String {
    json_with(
        &keyslot_json("64", "4000", AREA, PBKDF2),
        &format!(r#"{{"0":{SEGMENT}}}"#),
        r#"{"json_size":"12288","keyslots_size":"16744448"}"#,
    )
}

fn craft(json: &str, hdr_size: u64) -> Vec<u8> {
    luks2::craft(json, hdr_size, DEV)
}

fn read(d: &[u8]) -> Result<Header, Error> {
    read_header(&mut Fixture::reader(d), d.len() as u64)
}

#[test]
fn a_crafted_header_reads_and_fails_only_on_the_digest() {
    let d = craft(&default_json(), 16384);
    let h = read(&d).unwrap();
    assert_eq!(
        (h.label.as_deref(), h.cipher.as_str(), h.key_bytes, h.data_offset),
        (Some("crafty"), "aes-xts-plain64", 64, 1 << 20)
    );
    assert!(h.notes.is_empty(), "{:?}", h.notes);
    let err = h.unlock(&mut Fixture::reader(&d), b"pw", MEM).unwrap_err();
    assert_eq!(err, Error::WrongPassphrase { tried: "keyslot 0".into() });
}

#[test]
fn hostile_header_sizes_are_refused_before_allocating() {
    for (hdr_size, what) in
        [(1u64 << 40, "header size 1099511627776"), (12345, "header size 12345"), (4 << 20, "runs past the device")]
    {
        let mut d = craft(&default_json(), 16384);
        d[8..16].copy_from_slice(&hdr_size.to_be_bytes());
        luks2::fix_checksum(&mut d, 0);
        d[16384 + 8..16384 + 16].copy_from_slice(&hdr_size.to_be_bytes());
        luks2::fix_checksum(&mut d, 16384);
        let err = read(&d).unwrap_err().to_string();
        assert!(err.contains(what), "{hdr_size}: {err}");
    }
    // A device shorter than the binary header, and one that reads nothing or fails.
    for n in [0, 1, 7, 600, 4095] {
        let d = craft(&default_json(), 16384)[..n].to_vec();
        assert!(read(&d).is_err(), "{n}");
    }
    assert!(matches!(read_header(&mut |_, _| Ok(0), 1 << 30), Err(Error::Short { .. })));
    let err = read_header(&mut |_, _| Err(io::Error::other("EIO")), 1 << 30).unwrap_err();
    assert!(matches!(err, Error::Io { at: 0, .. }), "{err}");
    assert_eq!(read(&vec![0u8; 1 << 20]), Err(Error::NotLuks));
}

#[test]
fn hostile_json_is_refused_with_what_is_wrong() {
    let deep = "[".repeat(100_000);
    for (json, what) in [
        (deep.as_str(), "nested deeper"),
        ("{\"keyslots\":", "unexpected end"),
        ("not json", "unknown word"),
        ("{}", "no keyslots object"),
    ] {
        let err = read(&craft(json, 16384)).unwrap_err().to_string();
        assert!(err.contains(what), "{json:.40}: {err}");
    }
    let seg2 = format!(r#"{{"0":{SEGMENT},"1":{SEGMENT}}}"#);
    let err = read(&craft(&json_with(&keyslot_json("64", "4000", AREA, PBKDF2), &seg2, "{}"), 16384)).unwrap_err();
    assert!(matches!(err, Error::Unsupported(ref m) if m.contains("2 segments")), "{err}");
    let req = r#"{"requirements":{"mandatory":["online-reencrypt-v2"]}}"#;
    let err = read(&craft(
        &json_with(&keyslot_json("64", "4000", AREA, PBKDF2), &format!(r#"{{"0":{SEGMENT}}}"#), req),
        16384,
    ))
    .unwrap_err();
    assert!(err.to_string().contains("online-reencrypt-v2"), "{err}");
    let many: Vec<String> = (0..100).map(|i| format!(r#""{i}":{SEGMENT}"#)).collect();
    let err = read(&craft(
        &json_with(&keyslot_json("64", "4000", AREA, PBKDF2), &format!("{{{}}}", many.join(",")), "{}"),
        65536,
    ))
    .unwrap_err();
    assert!(err.to_string().contains("100 segments"), "{err}");
}

#[test]
fn hostile_keyslots_are_skipped_with_a_note() {
    let area = |off: &str, size: &str| {
        AREA.replace("\"32768\"", &format!("\"{off}\"")).replace("\"258048\"", &format!("\"{size}\""))
    };
    let big_salt = PBKDF2.replace("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", &"A".repeat(4000));
    for (slot, what) in [
        (keyslot_json("64", "4294967295", AREA, PBKDF2), "stripes 4294967295 (at most 65536)"),
        (keyslot_json("64", "65536", AREA, PBKDF2), "do not fit"),
        (keyslot_json("1048576", "4000", AREA, PBKDF2), "key size 1048576"),
        (keyslot_json("0", "4000", AREA, PBKDF2), "key size 0"),
        (keyslot_json("64", "0", AREA, PBKDF2), "0 stripes"),
        (keyslot_json("64", "4000", &area("18446744073709551615", "258048"), PBKDF2), "outside the device"),
        (keyslot_json("64", "4000", &area("2097152", "258048"), PBKDF2), "outside the device"),
        (keyslot_json("64", "4000", &area("32768", "1000"), PBKDF2), "do not fit"),
        (keyslot_json("64", "4000", AREA, &big_salt), "not base64 of at most"),
        (keyslot_json("64", "4000", AREA, r#"{"type":"scrypt"}"#), "KDF \"scrypt\""),
        (
            keyslot_json("64", "4000", AREA, r#"{"type":"argon2id","time":4,"memory":"x","cpus":4,"salt":"AAAA"}"#),
            "memory missing",
        ),
        (
            keyslot_json(
                "64",
                "4000",
                AREA,
                r#"{"type":"pbkdf2","hash":"sha256","iterations":99999999999,"salt":"AAAA"}"#,
            ),
            "iterations 99999999999",
        ),
    ] {
        let h = read(&craft(&json_with(&slot, &format!(r#"{{"0":{SEGMENT}}}"#), "{}"), 16384)).unwrap();
        assert!(h.keyslots.is_empty() && h.notes.len() == 1 && h.notes[0].contains(what), "{what}: {:?}", h.notes);
        assert!(matches!(h.unlock(&mut |_, _| Ok(0), b"x", MEM), Err(Error::NoKeyslot(_))));
    }
}

#[test]
fn hostile_kdf_costs_fail_cleanly_at_unlock() {
    let d = craft(&default_json(), 16384);
    let mut h = read(&d).unwrap();
    let slot = h.keyslots[0].clone();
    h.keyslots[0].kdf = Kdf::Argon2 { id: true, time: 4, memory_kib: u32::MAX, cpus: 4, salt: vec![0; 32] };
    let err = h.unlock(&mut Fixture::reader(&d), b"x", 64 << 30).unwrap_err();
    assert!(matches!(err, Error::Memory { slot: 0, need_mib: 4194304, have_mib: 65536, .. }), "{err}");
    h.keyslots[0] = Keyslot { kdf: Kdf::Pbkdf2 { hash: "sha256".into(), iterations: 0, salt: vec![] }, ..slot.clone() };
    assert!(h.unlock(&mut Fixture::reader(&d), b"x", MEM).is_err());
    h.keyslots[0] = Keyslot { priority: 0, ..slot.clone() };
    assert!(
        matches!(h.unlock(&mut Fixture::reader(&d), b"x", MEM), Err(Error::NoKeyslot(ref m)) if m.contains("priority 0"))
    );
    h.keyslots[0] = slot;
    h.digests.clear();
    let err = h.unlock(&mut Fixture::reader(&d), b"x", MEM).unwrap_err();
    assert!(err.to_string().contains("no digest covers it"), "{err}");
}

#[test]
fn keyslots_are_tried_by_priority() {
    let f = Fixture::load("luks2");
    let mut h = f.header().unwrap();
    h.keyslots[0].priority = 0;
    h.keyslots[2].priority = 2;
    assert_eq!(h.try_order().iter().map(|k| k.id).collect::<Vec<_>>(), [2, 1]);
    // Slot 0 (the passphrase's) is ignored at priority 0.
    let err = f.unlock(&h, PASS1, MEM).unwrap_err();
    assert_eq!(err, Error::WrongPassphrase { tried: "keyslots 2, 1".into() });
}

#[test]
fn table_options_sizes_and_checks() {
    let flags = r#"{"flags":["no-read-workqueue","allow-discards","same-cpu-crypt"]}"#;
    let seg =
        SEGMENT.replace(r#""size":"dynamic""#, r#""size":"524288""#).replace(r#""iv_tweak":"0""#, r#""iv_tweak":"77""#);
    let d = craft(&json_with(&keyslot_json("64", "4000", AREA, PBKDF2), &format!(r#"{{"0":{seg}}}"#), flags), 16384);
    let h = read(&d).unwrap();
    let vk = VolumeKey::new(Zeroizing::new(vec![0xab; 64]));
    let t = h.crypt_target(&vk, "8:1", 4096, false).unwrap();
    assert_eq!(t.length, 1024);
    assert_eq!(
        t.params,
        format!("aes-xts-plain64 {} 77 8:1 2048 3 allow_discards same_cpu_crypt no_read_workqueue", "ab".repeat(64))
    );
    for (key, dev, sectors, what) in [
        (64, "8:1", 2048 + 1023, "does not fit"),
        (32, "8:1", 4096, "the volume key has 32 bytes"),
        (64, "8 1", 4096, "is not a MAJ:MIN"),
    ] {
        let err = h.crypt_target(&VolumeKey::new(Zeroizing::new(vec![1; key])), dev, sectors, false).unwrap_err();
        assert!(err.to_string().contains(what), "{err}");
    }
    // Dynamic: to the end of the device, which must hold more than the header.
    let h = read(&craft(&default_json(), 16384)).unwrap();
    assert_eq!(h.crypt_target(&vk, "8:1", 4096, false).unwrap().length, 2048);
    assert!(h.crypt_target(&vk, "8:1", 2048, false).is_err());
}

#[test]
fn hostile_luks1_headers() {
    let f = Fixture::load("luks1-essiv");
    let base = f.img[..4096].to_vec();
    let set = |at: usize, v: u32| {
        let mut d = base.clone();
        d.resize(4 << 20, 0);
        d[at..at + 4].copy_from_slice(&v.to_be_bytes());
        d
    };
    for (at, v, what) in
        [(108, 0, "key size 0"), (108, 1 << 20, "key size 1048576"), (104, u32::MAX, "beyond the device")]
    {
        let err = read(&set(at, v)).unwrap_err().to_string();
        assert!(err.contains(what), "{err}");
    }
    for (at, v, what) in
        [(208 + 44, u32::MAX, "AF stripes"), (208 + 40, 1 << 20, "beyond the device"), (208, 7, "neither active")]
    {
        let h = read(&set(at, v)).unwrap();
        assert!(h.keyslots.is_empty() && h.notes[0].contains(what), "{:?}", h.notes);
    }
    assert!(read(&base[..591]).is_err());
}

/// Random byte flips on real and crafted headers (checksums fixed up so the JSON is reached):
/// the reader must never panic, whatever it is given.
#[test]
fn mutated_headers_never_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let crafted = craft(&default_json(), 16384);
    let luks1 = Fixture::load("luks1-xts").img[..8192].to_vec();
    // Few rounds: SHA-256 of every mutated copy is slow in a debug build; `./run fuzz` goes on.
    for round in 0..2000 {
        let mut d = if round % 2 == 0 { crafted[..40 << 10].to_vec() } else { luks1.clone() };
        let json_end = if round % 2 == 0 { 4096 + default_json().len() } else { 1024 };
        for _ in 0..1 + next() % 4 {
            let at = usize::try_from(next()).unwrap() % json_end;
            d[at] = next().to_le_bytes()[0];
        }
        luks2::fix_checksum(&mut d, 0);
        if let Ok(h) = read(&d) {
            let _ = h.dump();
            let _ = h.crypt_target(&VolumeKey::new(Zeroizing::new(vec![0; h.key_bytes])), "8:1", 1 << 20, true);
        }
    }
}

fn with_tokens(tokens: &str) -> Vec<u8> {
    let json = default_json().replace(r#""tokens":{}"#, &format!(r#""tokens":{tokens}"#));
    craft(&json, 1 << 20)
}

/// Hostile tokens never make the header unreadable (the passphrase does not need them): each
/// is kept as unreadable with why, or all are dropped with a note, before anything large is
/// allocated.
#[test]
fn hostile_tokens_are_noted_not_fatal() {
    use super::tokens::Kind;
    let blob = "AAAA";
    let tpm2 = |extra: &str| {
        format!(r#"{{"0":{{"type":"systemd-tpm2","keyslots":["0"],"tpm2-blob":"{blob}","tpm2-pcrs":[7]{extra}}}}}"#)
    };
    for (tokens, why) in [
        (tpm2(r#","tpm2-pcr-bank":"md5""#), "tpm2-pcr-bank \"md5\""),
        (tpm2(r#","tpm2-pin":"yes""#), "tpm2-pin is not true or false"),
        (tpm2(r#","tpm2-policy-hash":"zz""#), "tpm2-policy-hash is not hex"),
        (tpm2(&format!(r#","tpm2-policy-hash":"{}""#, "00".repeat(65))), "tpm2-policy-hash is not hex of at most 64"),
        (tpm2(r#","tpm2_srk":"!!!""#), "tpm2_srk is not base64"),
        (tpm2(r#","tpm2-policy-hash":["00","00"]"#), "1 blobs but 2 policy hashes"),
        (r#"{"0":{"type":"systemd-tpm2","keyslots":["0"],"tpm2-blob":"@@@@"}}"#.into(), "tpm2-blob is not base64"),
        (r#"{"0":{"type":"systemd-tpm2","keyslots":["0"]}}"#.into(), "no tpm2-blob"),
        (
            format!(r#"{{"0":{{"type":"systemd-tpm2","keyslots":["0"],"tpm2-blob":"{}"}}}}"#, "A".repeat(32 << 10)),
            "tpm2-blob is not base64 of at most 16384 bytes",
        ),
        (
            format!(
                r#"{{"0":{{"type":"systemd-tpm2","keyslots":["0"],"tpm2-blob":[{}]}}}}"#,
                r#""AAAA","#.repeat(17) + r#""AAAA""#
            ),
            "tpm2-blob holds 18 entries",
        ),
        (tpm2("").replace("[7]", "[24]"), "not a PCR number"),
        (tpm2("").replace("[7]", r#"["7"]"#), "not a PCR number"),
        (tpm2("").replace("[7]", "[-1]"), "not a PCR number"),
        (tpm2("").replace("[7]", &format!("[{}7]", "7,".repeat(40))), "tpm2-pcrs holds 41 entries"),
        (tpm2("").replace(r#"["0"]"#, r#"["x"]"#), "keyslot id"),
        (tpm2("").replace(r#"["0"]"#, "[0]"), "is not a string"),
        (tpm2("").replace(r#"["0"]"#, &format!("[{}\"0\"]", "\"0\",".repeat(70))), "71 keyslots"),
        (r#"{"0":{"type":"systemd-fido2","keyslots":["0"],"fido2-salt":"AAAA"}}"#.into(), "no fido2-credential"),
        (
            r#"{"0":{"type":"systemd-pkcs11","keyslots":["0"],"pkcs11-uri":"file:/x","pkcs11-key":"AA=="}}"#.into(),
            "not a pkcs11: URI",
        ),
        (r#"{"0":{"type":"clevis","keyslots":["0"],"jwe":{"protected":"***"}}}"#.into(), "not base64url"),
        // base64url of `{"clevis":{"pin":"tpm2"}}` and of `[1]`.
        (
            r#"{"0":{"type":"clevis","keyslots":["0"],"jwe":{"protected":"eyJjbGV2aXMiOnsicGluIjoidHBtMiJ9fQ"}}}"#
                .into(),
            "clevis.pin tpm2 without its tpm2 member",
        ),
        (r#"{"0":{"type":"clevis","keyslots":["0"],"jwe":{"protected":"WzFd"}}}"#.into(), "no clevis member"),
        (r#"{"0":{"type":"clevis","keyslots":["0"]}}"#.into(), "no jwe"),
    ] {
        let h = read(&with_tokens(&tokens)).unwrap_or_else(|e| panic!("{tokens}: {e}"));
        assert_eq!(h.tokens.len(), 1, "{tokens}");
        let Kind::Unreadable { why: got, .. } = &h.tokens[0].kind else { panic!("{tokens}: {:?}", h.tokens) };
        assert!(got.contains(why), "{tokens}: {got}");
        assert!(h.notes.iter().any(|n| n.starts_with("token 0 (") && n.contains(why)), "{:?}", h.notes);
        assert!(h.tokens[0].to_string().contains("that does not read"), "{}", h.tokens[0]);
    }
    // Too many tokens: all dropped with a note; not an object: the same.
    let many: Vec<String> = (0..65).map(|i| format!(r#""{i}":{{"type":"x","keyslots":[]}}"#)).collect();
    for (tokens, note) in [(format!("{{{}}}", many.join(",")), "65 tokens"), ("[1]".into(), "not an object")] {
        let h = read(&with_tokens(&tokens)).unwrap();
        assert!(h.tokens.is_empty() && h.notes.iter().any(|n| n.contains(note)), "{:?}", h.notes);
    }
    // A bad id or no type: that one skipped.
    let h =
        read(&with_tokens(r#"{"x":{"type":"a","keyslots":[]},"1":{"keyslots":[]},"2":{"type":"b","keyslots":["0"]}}"#))
            .unwrap();
    assert_eq!(h.tokens.iter().map(|t| t.id).collect::<Vec<_>>(), [2]);
    assert_eq!(h.notes.len(), 2, "{:?}", h.notes);
}

/// Nested sss pins are bounded, deep JSON inside a protected header too.
#[test]
fn nested_clevis_pins_are_bounded() {
    use super::tokens::{ClevisPin, Kind};
    // base64url without padding, for the crafted protected headers.
    let b64url = |s: &str| {
        const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut o = String::new();
        for c in s.as_bytes().chunks(3) {
            let at = |i: usize| u32::from(c.get(i).copied().unwrap_or(0));
            let n = at(0) << 16 | at(1) << 8 | at(2);
            for i in 0..=c.len() {
                o.push(char::from(T[(n >> (18 - 6 * i) & 63) as usize]));
            }
        }
        o
    };
    let mut p = b64url(r#"{"clevis":{"pin":"tang","tang":{"url":"http://t"}}}"#);
    for depth in 1..=6 {
        p = b64url(&format!(r#"{{"clevis":{{"pin":"sss","sss":{{"t":1,"jwe":["{p}.x.y.z.w"]}}}}}}"#));
        let h =
            read(&with_tokens(&format!(r#"{{"0":{{"type":"clevis","keyslots":["0"],"jwe":{{"protected":"{p}"}}}}}}"#)))
                .unwrap();
        match (&h.tokens[0].kind, depth <= 4) {
            (Kind::Clevis(ClevisPin::Sss { threshold: 1, pins }), true) => assert_eq!(pins.len(), 1),
            (Kind::Unreadable { why, .. }, false) => assert!(why.contains("nested deeper than 4"), "{why}"),
            (k, _) => panic!("depth {depth}: {k:?}"),
        }
    }
    let deep = b64url(&("[".repeat(40) + &"]".repeat(40)));
    let h =
        read(&with_tokens(&format!(r#"{{"0":{{"type":"clevis","keyslots":["0"],"jwe":{{"protected":"{deep}"}}}}}}"#)))
            .unwrap();
    assert!(
        matches!(&h.tokens[0].kind, Kind::Unreadable { why, .. } if why.contains("nested deeper")),
        "{:?}",
        h.tokens
    );
}
