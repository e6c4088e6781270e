//! The boot's TPM2 part: a container's `systemd-tpm2` tokens unsealed through `/dev/tpmrm0`
//! (the commands are `tpm2::unseal`'s), and before any shell the PCRs those tokens bind
//! extended, so nothing sealed to this boot's state unseals again until a reboot.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use zeroize::Zeroizing;

use super::super::luks::tokens::{self, Token};
use super::super::tpm2::unseal::{self, Failure, Parent, PrimaryAlg, Request, Transport};
use super::super::tpm2::{self, Alg, PcrSelection};

/// What is extended into the PCRs when a shell opens (its SHA digests per bank are extended).
pub const SHELL_EVENT: &str = "rdbreak: shell opened";

/// The kernel's TPM2 resource manager: it flushes what a closed descriptor left loaded.
pub fn device(dev_dir: &Path) -> std::path::PathBuf {
    dev_dir.join("tpmrm0")
}

/// `/dev/tpmrm0`: a command written whole, its response read whole.
pub struct Device(File);

impl Device {
    pub fn open(dev_dir: &Path) -> Result<Device, String> {
        let path = device(dev_dir);
        std::fs::OpenOptions::new().read(true).write(true).open(&path).map(Device).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("no TPM ({} is not there)", path.display())
            } else {
                format!("cannot open {}: {e}", path.display())
            }
        })
    }
}

impl Transport for Device {
    fn call(&mut self, cmd: &[u8]) -> std::io::Result<Vec<u8>> {
        self.0.write_all(cmd)?;
        let mut buf = vec![0u8; tpm2::MAX_RESPONSE];
        let n = self.0.read(&mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }
}

/// Nonces for the sessions, from the kernel's random pool.
fn nonce() -> [u8; 16] {
    let mut n = [0u8; 16];
    // A nonce need only be fresh; should urandom fail, the time still differs per session.
    if File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut n)).is_err() {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        n[..16].copy_from_slice(&t.as_nanos().to_le_bytes());
    }
    n
}

/// What a token asks of the TPM, or why rdbreak does not unseal it itself (the passphrase is
/// asked for instead).
pub fn plan(t: &tokens::Tpm2) -> Result<(Parent, PcrSelection), String> {
    if t.pubkey.is_some() || t.pubkey_pcrs != 0 {
        return Err(format!(
            "it is bound to a signed PCR policy (tpm2_pubkey, PCRs {}), whose signature rdbreak does not read",
            tokens::pcr_list(t.pubkey_pcrs)
        ));
    }
    if t.pcrlock {
        return Err("it is bound to a systemd-pcrlock policy (tpm2_pcrlock), which rdbreak does not evaluate".into());
    }
    if t.blobs.len() != 1 || t.policy_hashes.len() != 1 {
        return Err(format!("it is sealed in {} parts, which rdbreak does not join", t.blobs.len()));
    }
    let bank = match t.bank.as_deref() {
        None => Alg::Sha256,
        Some(name) => Alg::from_name(name).ok_or_else(|| format!("its PCR bank {name} is not one rdbreak knows"))?,
    };
    let parent = match (&t.srk, t.primary_alg.as_deref()) {
        (Some(srk), _) => {
            let (handle, name) = unseal::parse_srk(srk).map_err(|e| e.to_string())?;
            Parent::Persistent(handle, name)
        }
        (None, Some("rsa")) => Parent::Primary(PrimaryAlg::Rsa),
        (None, None | Some("ecc")) => Parent::Primary(PrimaryAlg::Ecc),
        (None, Some(other)) => return Err(format!("its primary key algorithm {other} is not ecc or rsa")),
    };
    Ok((parent, PcrSelection { alg: bank.id(), pcrs: t.pcrs }))
}

/// Unseals one token and returns the LUKS passphrase systemd made of its secret; `pin` when the
/// token asks for one.
pub fn unseal_token(
    tpm: &mut dyn Transport,
    t: &tokens::Tpm2,
    pin: Option<&[u8]>,
) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let (parent, pcrs) = plan(t).map_err(Failure::NotNative)?;
    let auth = pin.map(|p| unseal::pin_auth(p, t.salt.as_deref()));
    let req = Request {
        blob: &t.blobs[0],
        parent,
        pcrs,
        auth: auth.as_ref().map(|a| a.as_slice()),
        policy_hash: &t.policy_hashes[0],
    };
    let secret = unseal::run(tpm, &req, &mut nonce)?;
    Ok(unseal::passphrase(&secret))
}

/// The systemd-tpm2 tokens of a header, with the keyslots each opens.
pub fn tpm2_tokens(tokens: &[Token]) -> Vec<(&tokens::Tpm2, &[u32])> {
    tokens
        .iter()
        .filter_map(|t| match &t.kind {
            tokens::Kind::Tpm2(p) => Some((p, t.keyslots.as_slice())),
            _ => None,
        })
        .collect()
}

/// Extends every PCR of `pcrs` (per bank, as tokens name banks) with [`SHELL_EVENT`]'s digest
/// in that bank. Returns what was extended, or the first failure.
pub fn extend(tpm: &mut dyn Transport, pcrs: &[(String, u32)]) -> Result<Vec<String>, String> {
    use sha2::Digest;
    let mut done = Vec::new();
    for (bank, mask) in pcrs {
        let Some(alg) = Alg::from_name(bank) else {
            return Err(format!("PCR bank {bank} is not one rdbreak knows"));
        };
        let digest = match alg {
            Alg::Sha1 => sha1::Sha1::digest(SHELL_EVENT).to_vec(),
            Alg::Sha256 => sha2::Sha256::digest(SHELL_EVENT).to_vec(),
            Alg::Sha384 => sha2::Sha384::digest(SHELL_EVENT).to_vec(),
            Alg::Sha512 => sha2::Sha512::digest(SHELL_EVENT).to_vec(),
        };
        for pcr in (0..24).filter(|i| mask & (1 << i) != 0) {
            let cmd = tpm2::pcr_extend(pcr, &[(alg, &digest)]).map_err(|e| e.to_string())?;
            let resp = tpm.call(&cmd).map_err(|e| format!("cannot extend PCR {pcr} ({bank}): {e}"))?;
            tpm2::parse_pcr_extend(&resp).map_err(|e| format!("cannot extend PCR {pcr} ({bank}): {e}"))?;
        }
        done.push(format!("{bank}: {}", tokens::pcr_list(*mask)));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> tokens::Tpm2 {
        tokens::Tpm2 {
            blobs: vec![vec![0, 1, 0xAA, 0, 1, 0xBB]],
            policy_hashes: vec![vec![0; 32]],
            pcrs: 1 << 7,
            bank: Some("sha256".into()),
            primary_alg: Some("ecc".into()),
            pin: false,
            salt: None,
            srk: None,
            pcrlock: false,
            pubkey: None,
            pubkey_pcrs: 0,
        }
    }

    #[test]
    fn what_a_token_asks_of_the_tpm() {
        let sel = PcrSelection { alg: Alg::Sha256.id(), pcrs: 1 << 7 };
        assert_eq!(plan(&token()), Ok((Parent::Primary(PrimaryAlg::Ecc), sel)));
        let rsa = tokens::Tpm2 { primary_alg: Some("rsa".into()), bank: Some("sha1".into()), ..token() };
        assert_eq!(
            plan(&rsa),
            Ok((Parent::Primary(PrimaryAlg::Rsa), PcrSelection { alg: Alg::Sha1.id(), pcrs: 1 << 7 }))
        );
        // The oldest tokens name neither: ECC, sha256.
        let old = tokens::Tpm2 { primary_alg: None, bank: None, ..token() };
        assert_eq!(plan(&old), Ok((Parent::Primary(PrimaryAlg::Ecc), sel)));
        // systemd 257: the persistent SRK, by the handle and name its serialization carries.
        let mut srk = 0x8100_0001u32.to_be_bytes().to_vec();
        srk.extend_from_slice(&[0, 4, 0, 0x0b, 0xAB, 0xCD, 0, 0, 0, 1]);
        let t = tokens::Tpm2 { srk: Some(srk), primary_alg: None, ..token() };
        assert_eq!(plan(&t), Ok((Parent::Persistent(0x8100_0001, vec![0, 0x0b, 0xAB, 0xCD]), sel)));
        let t = tokens::Tpm2 { srk: Some(vec![0x40, 0, 0, 1, 0, 0]), ..token() };
        assert!(plan(&t).unwrap_err().contains("not a persistent key"), "{:?}", plan(&t));
    }

    #[test]
    fn what_rdbreak_leaves_to_the_passphrase_is_said() {
        let t = tokens::Tpm2 { pubkey: Some(b"PEM".to_vec()), pubkey_pcrs: 1 << 11, ..token() };
        assert!(plan(&t).unwrap_err().contains("signed PCR policy (tpm2_pubkey, PCRs 11)"));
        let t = tokens::Tpm2 { pcrlock: true, ..token() };
        assert!(plan(&t).unwrap_err().contains("systemd-pcrlock"));
        let t = tokens::Tpm2 { blobs: vec![vec![1], vec![2]], policy_hashes: vec![vec![], vec![]], ..token() };
        assert!(plan(&t).unwrap_err().contains("2 parts"));
        let t = tokens::Tpm2 { bank: Some("sm3_256".into()), ..token() };
        assert!(plan(&t).unwrap_err().contains("sm3_256"));
        let t = tokens::Tpm2 { primary_alg: Some("ecc521".into()), ..token() };
        assert!(plan(&t).unwrap_err().contains("ecc521"));
    }

    /// A TPM that records the commands and answers success.
    struct Recorder(Vec<Vec<u8>>);
    impl Transport for Recorder {
        fn call(&mut self, cmd: &[u8]) -> std::io::Result<Vec<u8>> {
            self.0.push(cmd.to_vec());
            // PCR_Extend's answer: sessions, no parameters, an empty password session answer.
            Ok(vec![0x80, 0x02, 0, 0, 0, 0x13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        }
    }

    #[test]
    fn a_shell_extends_each_bound_pcr_with_the_events_digest_in_its_bank() {
        let mut r = Recorder(Vec::new());
        let done = extend(&mut r, &[("sha1".into(), 1 << 7), ("sha256".into(), 1 << 7 | 1 << 11)]).unwrap();
        assert_eq!(done, ["sha1: 7", "sha256: 7+11"]);
        assert_eq!(r.0.len(), 3);
        use sha2::Digest;
        let d256 = sha2::Sha256::digest(SHELL_EVENT);
        let want = tpm2::pcr_extend(11, &[(Alg::Sha256, &d256)]).unwrap();
        assert_eq!(r.0[2], want);
        assert_eq!(&r.0[0][10..14], &7u32.to_be_bytes(), "PCR 7 first");
        assert!(extend(&mut r, &[("md5".into(), 1)]).unwrap_err().contains("md5"));
    }
}
