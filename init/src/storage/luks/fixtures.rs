//! The reader and the unlock against containers made by the real cryptsetup 2.6.1
//! (init/src/storage/testdata/luks, made by its make-fixtures.sh): what `luksDump` says about
//! each is what `read_header` must find, and the volume key `luksDump --dump-volume-key`
//! printed is what `keyslot::unlock` must return.

use std::io::Read as _;
use std::path::Path;

use super::*;

pub const PASS1: &[u8] = b"rdbreak test passphrase";
pub const PASS2: &str = "second: \u{dc}n\u{ef}code \u{2713}";
pub const KEYFILE: &[u8] = b"keyfile\0with binary\xffbytes\n";
/// Plenty for the fixtures' 8 MiB Argon2.
pub const MEM: u64 = 1 << 30;

pub struct Fixture {
    pub img: Vec<u8>,
    pub dump: String,
}

impl Fixture {
    pub fn load(name: &str) -> Fixture {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/storage/testdata/luks");
        let data = std::fs::read(dir.join(format!("{name}.img.zst"))).unwrap();
        let mut img = Vec::new();
        ruzstd::decoding::StreamingDecoder::new(data.as_slice()).unwrap().read_to_end(&mut img).unwrap();
        let dump = std::fs::read_to_string(dir.join(format!("{name}.txt"))).unwrap();
        Fixture { img, dump }
    }

    pub fn reader(img: &[u8]) -> impl FnMut(u64, &mut [u8]) -> io::Result<usize> + '_ {
        move |off, buf| {
            let Some(rest) = usize::try_from(off).ok().and_then(|o| img.get(o..)) else { return Ok(0) };
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            Ok(n)
        }
    }

    pub fn header(&self) -> Result<Header, Error> {
        read_header(&mut Self::reader(&self.img), self.img.len() as u64)
    }

    pub fn unlock(&self, h: &Header, secret: &[u8], mem: u64) -> Result<VolumeKey, Error> {
        h.unlock(&mut Self::reader(&self.img), secret, mem)
    }

    /// The first value of `key:` in the dump, trimmed.
    pub fn field(&self, key: &str) -> String {
        self.dump
            .lines()
            .find_map(|l| l.trim_start().strip_prefix(key)?.strip_prefix(':'))
            .unwrap_or_else(|| panic!("no {key} in the dump"))
            .trim()
            .to_string()
    }
}

const ALL: [&str; 4] = ["luks2", "luks1-xts", "luks1-essiv", "luks1-plain64"];

#[test]
fn headers_read_as_luks_dump_says() {
    for name in ALL {
        let f = Fixture::load(name);
        let h = f.header().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(h.version.to_string(), f.field("Version"), "{name}");
        assert_eq!(h.uuid, f.field("UUID"), "{name}");
        assert!(h.notes.is_empty(), "{name}: {:?}", h.notes);
        if h.version == 1 {
            let cipher = format!("{}-{}", f.field("Cipher name"), f.field("Cipher mode"));
            assert_eq!(h.cipher, cipher, "{name}");
            assert_eq!(h.hash, f.field("Hash spec"), "{name}");
            assert_eq!(h.data_offset, f.field("Payload offset").parse::<u64>().unwrap() * 512, "{name}");
            assert_eq!((h.key_bytes * 8).to_string(), f.field("MK bits"), "{name}");
            assert_eq!(h.keyslots.iter().map(|k| k.id).collect::<Vec<_>>(), [0], "{name}");
            assert_eq!(h.keyslots[0].area_offset, f.field("Key material offset").parse::<u64>().unwrap() * 512);
            assert_eq!(h.digests[0].iterations.to_string(), f.field("MK iterations"), "{name}");
        } else {
            assert_eq!(h.cipher, f.field("cipher"));
            assert_eq!(h.label.as_deref(), Some(f.field("Label").as_str()));
            assert_eq!(h.header_size.to_string() + " [bytes]", f.field("Metadata area"));
            assert_eq!(h.seqid.to_string(), f.field("Epoch"));
            assert_eq!(h.data_offset.to_string() + " [bytes]", f.field("offset"));
            assert_eq!(h.sector_size.to_string() + " [bytes]", f.field("sector"));
            assert_eq!(h.data_size, None);
            assert_eq!(h.key_bytes * 8, 256);
            let kdfs: Vec<&str> = h.keyslots.iter().map(|k| k.kdf.name()).collect();
            assert_eq!(kdfs, ["argon2id", "pbkdf2", "argon2i"]);
            let k0 = &h.keyslots[0];
            assert_eq!(k0.area_offset.to_string() + " [bytes]", f.field("Area offset"));
            assert_eq!(k0.area_size.to_string() + " [bytes]", f.field("Area length"));
            assert_eq!(
                (k0.af_stripes, k0.af_hash.as_str(), k0.area_cipher.as_str()),
                (4000, "sha256", "aes-xts-plain64")
            );
            assert!(
                matches!(k0.kdf, Kdf::Argon2 { id: true, time: 4, memory_kib: 8192, cpus: 2, ref salt } if salt.len() == 32)
            );
            assert!(matches!(h.keyslots[2].kdf, Kdf::Argon2 { id: false, time: 4, memory_kib: 4096, cpus: 1, .. }));
            assert!(matches!(h.keyslots[1].kdf, Kdf::Pbkdf2 { iterations: 1000, ref hash, .. } if hash == "sha256"));
            assert_eq!(h.digests.len(), 1);
            assert_eq!(h.digests[0].keyslots, [0, 1, 2]);
        }
    }
}

#[test]
fn each_unlocks_to_the_volume_key_cryptsetup_printed() {
    for name in ALL {
        let f = Fixture::load(name);
        let h = f.header().unwrap();
        let vk = f.unlock(&h, PASS1, MEM).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(vk.hex().as_str(), f.field("volume-key"), "{name}");
        assert_eq!(vk.len(), h.key_bytes);
    }
}

#[test]
fn the_other_keyslots_open_with_their_own_secret() {
    let f = Fixture::load("luks2");
    let h = f.header().unwrap();
    let want = f.field("volume-key");
    assert_eq!(f.unlock(&h, PASS2.as_bytes(), MEM).unwrap().hex().as_str(), want);
    assert_eq!(f.unlock(&h, KEYFILE, MEM).unwrap().hex().as_str(), want);
    // The keyfile's bytes are the secret, not a line of it.
    let err = f.unlock(&h, &KEYFILE[..KEYFILE.len() - 1], MEM).unwrap_err();
    assert!(matches!(err, Error::WrongPassphrase { .. }), "{err}");
}

#[test]
fn a_wrong_passphrase_says_which_keyslots_were_tried() {
    let f = Fixture::load("luks2");
    let h = f.header().unwrap();
    let err = f.unlock(&h, b"wrong", MEM).unwrap_err();
    assert_eq!(err, Error::WrongPassphrase { tried: "keyslots 0, 1, 2".into() });
    assert!(err.to_string().contains("keyboard layout"), "{err}");
    let f = Fixture::load("luks1-essiv");
    let err = f.unlock(&f.header().unwrap(), b"", MEM).unwrap_err();
    assert_eq!(err.to_string(), Error::WrongPassphrase { tried: "keyslot 0".into() }.to_string());
}

#[test]
fn argon2_memory_is_checked_before_it_is_allocated() {
    let f = Fixture::load("luks2");
    let h = f.header().unwrap();
    // 20 MiB free: the 8 MiB of keyslot 0 plus the headroom do not fit.
    let err = f.unlock(&h, PASS1, 20 << 20).unwrap_err();
    assert_eq!(err, Error::Memory { slot: 0, kdf: "argon2id", need_mib: 8, have_mib: 20 });
    let msg = err.to_string();
    assert!(msg.starts_with("keyslot 0 needs 8 MiB for argon2id, this machine has 20 MiB available;"), "{msg}");
    // The pbkdf2 keyslot still opens on that machine.
    assert_eq!(f.unlock(&h, PASS2.as_bytes(), 20 << 20).unwrap().hex().as_str(), f.field("volume-key"));
}

#[test]
fn a_damaged_primary_header_is_replaced_by_the_secondary() {
    let f = Fixture::load("luks2");
    let want = f.field("volume-key");
    // One byte of the primary JSON, then the whole primary binary header.
    for (at, len) in [(4096 + 40, 1), (0, 4096)] {
        let mut img = f.img.clone();
        img[at..at + len].iter_mut().for_each(|b| *b ^= 0x5a);
        let h = read_header(&mut Fixture::reader(&img), img.len() as u64).unwrap();
        assert_eq!(h.notes.len(), 1, "{:?}", h.notes);
        assert!(
            h.notes[0].contains("primary header is damaged") && h.notes[0].contains("secondary header at byte 16384"),
            "{:?}",
            h.notes
        );
        assert!(h.dump().contains("secondary header at byte 16384"));
        let vk = h.unlock(&mut Fixture::reader(&img), PASS1, MEM).unwrap();
        assert_eq!(vk.hex().as_str(), want);
    }
    // Both damaged: said so, with what is wrong with each.
    let mut img = f.img.clone();
    img[4096 + 40] ^= 1;
    img[16384 + 4096 + 40] ^= 1;
    let err = read_header(&mut Fixture::reader(&img), img.len() as u64).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Damaged(_)), "{msg}");
    assert!(msg.contains("checksum of the header at byte 0") && msg.contains("at byte 16384"), "{msg}");
    // A damaged secondary is noted, the primary used.
    let mut img = f.img.clone();
    img[16384 + 4096 + 40] ^= 1;
    let h = read_header(&mut Fixture::reader(&img), img.len() as u64).unwrap();
    assert!(h.notes[0].contains("secondary header is damaged"), "{:?}", h.notes);
}

#[test]
fn the_table_is_the_one_cryptsetup_loads() {
    let f = Fixture::load("luks2");
    let h = f.header().unwrap();
    let vk = f.unlock(&h, PASS1, MEM).unwrap();
    let sectors = f.img.len() as u64 / 512;
    let t = h.crypt_target(&vk, "8:16", sectors, false).unwrap();
    let key = f.field("volume-key");
    assert_eq!((t.start, t.length, t.kind.as_str()), (0, sectors - 2048, "crypt"));
    assert_eq!(t.params, format!("aes-xts-plain64 {key} 0 8:16 2048 1 sector_size:4096"));
    let t = h.crypt_target(&vk, "8:16", sectors, true).unwrap();
    assert_eq!(t.params, format!("aes-xts-plain64 {key} 0 8:16 2048 2 allow_discards sector_size:4096"));
    assert!(!format!("{t} {t:?} {}", h.dump()).contains(&key));
    let f = Fixture::load("luks1-essiv");
    let h = f.header().unwrap();
    let vk = f.unlock(&h, PASS1, MEM).unwrap();
    let t = h.crypt_target(&vk, "253:1", 8192, false).unwrap();
    let payload: u64 = f.field("Payload offset").parse().unwrap();
    let want = format!("aes-cbc-essiv:sha256 {} 0 253:1 {payload}", f.field("volume-key"));
    assert_eq!((t.length, t.params.clone()), (8192 - payload, want));
}

#[test]
fn dump_names_what_luks_dump_names_and_no_key() {
    for name in ALL {
        let f = Fixture::load(name);
        let h = f.header().unwrap();
        let d = h.dump();
        assert!(d.contains(&h.uuid) && d.contains(&h.cipher), "{d}");
        let key = f.field("volume-key");
        assert!(!d.contains(&key) && !format!("{h:?}").contains(&key));
        let vk = f.unlock(&h, PASS1, MEM).unwrap();
        assert_eq!(format!("{vk:?}"), format!("VolumeKey({} bytes)", h.key_bytes));
    }
}

/// The tokens cryptsetup imported into luks2-tokens (make-fixtures.sh writes their JSON):
/// every type and keyslot as `luksDump` lists them, every field as written.
#[test]
fn tokens_read_as_written() {
    use super::tokens::{ClevisPin, Kind};
    let f = Fixture::load("luks2-tokens");
    let h = f.header().unwrap();
    assert!(h.notes.is_empty(), "{:?}", h.notes);
    // luksDump's "  N: TYPE" lines under Tokens:, then each one's "Keyslot:" line.
    let part = f.dump.split("Tokens:\n").nth(1).unwrap().split("Digests:").next().unwrap();
    let listed: Vec<(u32, String)> = part
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.split_once(": "))
        .map(|(id, t)| (id.parse().unwrap(), t.to_string()))
        .collect();
    let slots: Vec<Vec<u32>> = part
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Keyslot:"))
        .map(|s| s.split(',').map(|x| x.trim().parse().unwrap()).collect())
        .collect();
    let got: Vec<(u32, String)> = h.tokens.iter().map(|t| (t.id, t.kind.type_name().to_string())).collect();
    assert_eq!(got, listed);
    assert_eq!(h.tokens.iter().map(|t| t.keyslots.clone()).collect::<Vec<_>>(), slots);
    assert_eq!(h.tokens.len(), 9);

    let Kind::Tpm2(t) = &h.tokens[0].kind else { panic!("{:?}", h.tokens[0]) };
    assert_eq!((t.blobs.len(), t.blobs[0].len(), &t.blobs[0][..3]), (1, 240, &[0, 0x9e, b'P'][..]));
    assert_eq!(t.policy_hashes, [vec![b'a'; 32]]);
    assert_eq!((t.pcrs, t.bank.as_deref(), t.primary_alg.as_deref()), (1 << 7, Some("sha256"), Some("ecc")));
    assert_eq!((t.pin, t.pcrlock, t.salt.clone(), t.pubkey.clone()), (false, false, None, None));
    assert_eq!(t.srk.as_deref(), Some(&[b'S'; 70][..]));
    assert_eq!(h.tokens[0].to_string(), "a systemd-tpm2 token (PCRs 7, sha256)");

    let Kind::Tpm2(t) = &h.tokens[1].kind else { panic!("{:?}", h.tokens[1]) };
    assert_eq!((t.blobs.len(), t.blobs[1].len(), t.policy_hashes.len()), (2, 34, 2));
    assert_eq!(
        (t.pcrs, t.bank.as_deref(), t.primary_alg.as_deref()),
        (1 | 1 << 7 | 1 << 14, Some("sha384"), Some("rsa"))
    );
    assert_eq!((t.pin, t.pcrlock, t.pubkey_pcrs), (true, true, 1 << 11));
    assert_eq!(t.salt.as_deref(), Some(&[b's'; 32][..]));
    assert!(t.pubkey.as_ref().is_some_and(|k| k.starts_with(b"-----BEGIN PUBLIC KEY-----")));
    assert_eq!(
        h.tokens[1].to_string(),
        "a systemd-tpm2 token (a pcrlock policy, sha384, signed policy for PCRs 11, with a PIN)"
    );

    let Kind::Fido2(k) = &h.tokens[2].kind else { panic!("{:?}", h.tokens[2]) };
    assert_eq!((k.credential.len(), k.salt.len(), k.rp.as_deref()), (64, 32, Some("io.systemd.cryptsetup")));
    assert_eq!((k.client_pin, k.up, k.uv), (true, true, false));
    let Kind::Pkcs11(p) = &h.tokens[3].kind else { panic!("{:?}", h.tokens[3]) };
    assert_eq!((p.uri.as_str(), p.key.len()), ("pkcs11:model=PKCS%2315%20emulated;token=test", 256));

    let tpm2 = ClevisPin::Tpm2 {
        hash: Some("sha256".into()),
        key: Some("ecc".into()),
        pcr_bank: Some("sha256".into()),
        pcrs: 1 | 1 << 7,
    };
    let tang = ClevisPin::Tang { url: Some("http://tang.example:7500".into()) };
    assert_eq!(h.tokens[4].kind, Kind::Clevis(tpm2.clone()));
    assert_eq!(h.tokens[5].kind, Kind::Clevis(tang.clone()));
    assert_eq!(h.tokens[6].kind, Kind::Clevis(ClevisPin::Sss { threshold: 1, pins: vec![tpm2, tang] }));
    assert_eq!(
        h.tokens[6].to_string(),
        "a clevis sss (1 of tpm2 (PCRs 0+7, sha256), tang (http://tang.example:7500)) token"
    );
    assert_eq!(h.tokens[7].kind, Kind::Recovery);
    assert_eq!(h.tokens[8].kind, Kind::Unknown("acme-hsm".into()));
    assert_eq!(h.tokens[8].to_string(), "a token of unknown type \"acme-hsm\"");

    // Break-glass: what a shell must extend first so that none of them unseals again. Token 0
    // binds sha256 PCR 7; token 1 sha384 PCRs 0, 7, 14 and the signed 11; Clevis sha256 0, 7.
    assert_eq!(
        super::tokens::pcrs_to_extend(&h.tokens),
        [("sha256".to_string(), 1 | 1 << 7), ("sha384".to_string(), 1 | 1 << 7 | 1 << 11 | 1 << 14)]
    );
    assert_eq!(super::tokens::pcrs_to_extend(&h.tokens[2..4]), [], "FIDO2 and PKCS#11 bind no PCR");

    // Tokens change nothing for the passphrase, and the dump lists them.
    assert_eq!(f.unlock(&h, PASS1, MEM).unwrap().hex().as_str(), f.field("volume-key"));
    let d = h.dump();
    assert!(d.contains("Tokens:\n  0: systemd-tpm2\n\tKeyslot:    1\n\ttpm2-pcrs:  7\n"), "{d}");
    assert!(d.contains("  8: acme-hsm\n\tKeyslot:    0\n"), "{d}");
}
