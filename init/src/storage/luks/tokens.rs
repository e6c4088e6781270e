//! The `tokens` object of a LUKS2 header: what unlocks a keyslot without a typed passphrase.
//! systemd-cryptenroll writes `systemd-tpm2`, `systemd-fido2`, `systemd-pkcs11` and
//! `systemd-recovery` tokens (field names as systemd's src/cryptsetup/cryptsetup-tokens/ and
//! src/shared/tpm2-util.c read them), Clevis a `clevis` token holding a JWE whose protected
//! header names the pin (`tpm2`, `tang`, or `sss` over more pins). Every count and size is
//! checked and base64 is decoded with a cap; a token that does not read is kept as
//! [`Kind::Unreadable`] with why, one of a type nobody here knows as [`Kind::Unknown`]: the
//! passphrase still opens the container either way, and the boot can say what was there.

use std::fmt::{self, Write as _};

use super::json::{self, Value};

/// More tokens than this are not believed (cryptsetup allows 32).
pub const MAX_TOKENS: usize = 64;
/// Keyslot ids one token may name.
const MAX_SLOTS: usize = 64;
/// A sealed TPM2 blob (TPM2B_PRIVATE + TPM2B_PUBLIC, a few hundred bytes) or a FIDO2
/// credential id: more than this is not believed.
const MAX_BLOB: usize = 16 << 10;
/// A public key (PEM or DER) or a serialized SRK handle.
const MAX_KEY: usize = 16 << 10;
/// A policy hash or salt: at most a SHA-512.
const MAX_HASH: usize = 64;
/// systemd seals to one blob per bank and policy: more than this is not believed.
const MAX_BLOBS: usize = 16;
/// A Clevis JWE protected header (a tang advertisement is a few KiB).
const MAX_PROTECTED: usize = 64 << 10;
/// `sss` pins nest pins: this deep at most.
const MAX_PIN_DEPTH: usize = 4;
/// Pins one `sss` pin may hold.
const MAX_PINS: usize = 16;

/// One token of the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub id: u32,
    /// The keyslots it opens.
    pub keyslots: Vec<u32>,
    pub kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Tpm2(Tpm2),
    Fido2(Fido2),
    Pkcs11(Pkcs11),
    /// `systemd-cryptenroll --recovery-key`: the keyslot opens with a typed recovery key.
    Recovery,
    Clevis(ClevisPin),
    /// A known type whose fields do not read: the type and why.
    Unreadable {
        kind: String,
        why: String,
    },
    /// A type rdbreak does not know.
    Unknown(String),
}

/// A `systemd-tpm2` token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tpm2 {
    /// `tpm2-blob`: the sealed object (TPM2B_PRIVATE then TPM2B_PUBLIC), one per policy.
    pub blobs: Vec<Vec<u8>>,
    /// `tpm2-policy-hash` (hex), one per blob.
    pub policy_hashes: Vec<Vec<u8>>,
    /// `tpm2-pcrs`: the PCRs bound by value, as a mask (bit n = PCR n).
    pub pcrs: u32,
    /// `tpm2-pcr-bank`: `sha256`, `sha1` (absent in the oldest tokens: sha256).
    pub bank: Option<String>,
    /// `tpm2-primary-alg`: `ecc` or `rsa` (absent in the oldest: ecc, then rsa).
    pub primary_alg: Option<String>,
    /// `tpm2-pin`: a PIN is asked for and used as the object's auth value.
    pub pin: bool,
    /// `tpm2_salt`: the salt the PIN is hashed with (systemd 254+).
    pub salt: Option<Vec<u8>>,
    /// `tpm2_srk`: the serialized handle of the persistent SRK sealed under.
    pub srk: Option<Vec<u8>>,
    /// `tpm2_pcrlock`: bound to a systemd-pcrlock policy (an NV index) rather than PCR values.
    pub pcrlock: bool,
    /// `tpm2_pubkey`: the key signed PCR policies are checked with, and `tpm2_pubkey_pcrs`.
    pub pubkey: Option<Vec<u8>>,
    pub pubkey_pcrs: u32,
}

/// A `systemd-fido2` token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fido2 {
    pub credential: Vec<u8>,
    pub salt: Vec<u8>,
    pub rp: Option<String>,
    pub client_pin: bool,
    pub up: bool,
    pub uv: bool,
}

/// A `systemd-pkcs11` token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkcs11 {
    pub uri: String,
    /// `pkcs11-key`: the passphrase encrypted to the token's key.
    pub key: Vec<u8>,
}

/// What a Clevis JWE's protected header says (`clevis.pin`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClevisPin {
    /// Sealed to a TPM2: `hash`, `key` (primary key algorithm), `pcr_bank`, `pcr_ids`.
    Tpm2 {
        hash: Option<String>,
        key: Option<String>,
        pcr_bank: Option<String>,
        pcrs: u32,
    },
    /// Bound to a tang server.
    Tang {
        url: Option<String>,
    },
    /// Shamir's secret sharing: `threshold` of `pins`.
    Sss {
        threshold: u64,
        pins: Vec<ClevisPin>,
    },
    Other(String),
}

impl Kind {
    /// The token type as the header writes it.
    pub fn type_name(&self) -> &str {
        match self {
            Kind::Tpm2(_) => "systemd-tpm2",
            Kind::Fido2(_) => "systemd-fido2",
            Kind::Pkcs11(_) => "systemd-pkcs11",
            Kind::Recovery => "systemd-recovery",
            Kind::Clevis(_) => "clevis",
            Kind::Unreadable { kind, .. } => kind,
            Kind::Unknown(t) => t,
        }
    }
}

/// PCR numbers of a mask, `+`-joined as systemd writes them (`7+11`), `none` when empty.
pub fn pcr_list(mask: u32) -> String {
    let v: Vec<String> = (0..32).filter(|i| mask & (1 << i) != 0).map(|i: u32| i.to_string()).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join("+")
    }
}

impl fmt::Display for ClevisPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClevisPin::Tpm2 { pcr_bank, pcrs, .. } => {
                write!(f, "tpm2 (PCRs {}, {})", pcr_list(*pcrs), pcr_bank.as_deref().unwrap_or("sha256"))
            }
            ClevisPin::Tang { url } => write!(f, "tang ({})", url.as_deref().unwrap_or("no url")),
            ClevisPin::Sss { threshold, pins } => {
                let names: Vec<String> = pins.iter().map(ToString::to_string).collect();
                write!(f, "sss ({threshold} of {})", names.join(", "))
            }
            ClevisPin::Other(p) => write!(f, "pin {p:?}"),
        }
    }
}

impl fmt::Display for Token {
    /// One line for the boot's messages: the type and what it is bound to.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Tpm2(t) => {
                write!(f, "a systemd-tpm2 token (")?;
                if t.pcrlock {
                    write!(f, "a pcrlock policy")?;
                } else {
                    write!(f, "PCRs {}", pcr_list(t.pcrs))?;
                }
                write!(f, ", {}", t.bank.as_deref().unwrap_or("sha256"))?;
                if t.pubkey.is_some() {
                    write!(f, ", signed policy for PCRs {}", pcr_list(t.pubkey_pcrs))?;
                }
                if t.pin {
                    write!(f, ", with a PIN")?;
                }
                write!(f, ")")
            }
            Kind::Fido2(k) => {
                write!(f, "a systemd-fido2 token")?;
                if let Some(rp) = &k.rp {
                    write!(f, " (relying party {rp})")?;
                }
                Ok(())
            }
            Kind::Pkcs11(p) => write!(f, "a systemd-pkcs11 token ({})", p.uri),
            Kind::Recovery => write!(f, "a recovery key"),
            Kind::Clevis(p) => write!(f, "a clevis {p} token"),
            Kind::Unreadable { kind, why } => write!(f, "a {kind} token that does not read ({why})"),
            Kind::Unknown(t) => write!(f, "a token of unknown type {t:?}"),
        }
    }
}

type R<T> = Result<T, String>;

fn str_field<'a>(v: &'a Value, key: &str) -> R<Option<&'a str>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{key} is not a string")),
    }
}

fn bool_field(v: &Value, key: &str) -> R<bool> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("{key} is not true or false")),
    }
}

fn b64_field(v: &Value, key: &str, max: usize) -> R<Option<Vec<u8>>> {
    match str_field(v, key)? {
        None => Ok(None),
        Some(s) => json::base64(s, max).map(Some).ok_or_else(|| format!("{key} is not base64 of at most {max} bytes")),
    }
}

fn hex(s: &str, max: usize) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() / 2 > max {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

/// A string or a list of strings (systemd 256 writes several blobs and policy hashes).
fn strings<'a>(v: &'a Value, key: &str) -> R<Vec<&'a str>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s]),
        Some(Value::Array(a)) if a.len() <= MAX_BLOBS => {
            a.iter().map(|x| x.as_str().ok_or_else(|| format!("{key} holds a non-string"))).collect()
        }
        Some(Value::Array(a)) => Err(format!("{key} holds {} entries (at most {MAX_BLOBS})", a.len())),
        Some(_) => Err(format!("{key} is not a string or a list")),
    }
}

/// A PCR list: JSON numbers (systemd) into a mask; every one must be a PCR (0 to 23, TPM2
/// has 24).
fn pcr_mask(v: &Value, key: &str) -> R<u32> {
    let Some(a) = v.get(key) else { return Ok(0) };
    let a = a.as_array().ok_or_else(|| format!("{key} is not a list"))?;
    if a.len() > 32 {
        return Err(format!("{key} holds {} entries", a.len()));
    }
    a.iter().try_fold(0u32, |m, x| match x.as_u64() {
        Some(n @ 0..=23) if matches!(x, Value::Number(_)) => Ok(m | 1 << n),
        _ => Err(format!("{key} holds {x:?}, not a PCR number (0 to 23)")),
    })
}

/// Clevis's `pcr_ids`: `"0,7"` (or a list of numbers).
fn clevis_pcrs(v: &Value) -> R<u32> {
    match v.get("pcr_ids") {
        None => Ok(0),
        Some(Value::String(s)) => {
            s.split(',').map(str::trim).filter(|p| !p.is_empty()).take(33).try_fold(0u32, |m, p| {
                match p.parse::<u32>() {
                    Ok(n @ 0..=23) => Ok(m | 1 << n),
                    _ => Err(format!("pcr_ids holds {p:?}, not a PCR number")),
                }
            })
        }
        Some(_) => pcr_mask(v, "pcr_ids"),
    }
}

fn keyslot_ids(v: &Value) -> R<Vec<u32>> {
    let a = v.get("keyslots").and_then(Value::as_array).ok_or("keyslots is not a list")?;
    if a.len() > MAX_SLOTS {
        return Err(format!("{} keyslots (at most {MAX_SLOTS})", a.len()));
    }
    a.iter()
        .map(|x| match x {
            Value::String(_) => {
                x.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| format!("keyslot id {x:?}"))
            }
            _ => Err(format!("keyslot id {x:?} is not a string")),
        })
        .collect()
}

fn tpm2(v: &Value) -> R<Tpm2> {
    let blobs = strings(v, "tpm2-blob")?
        .into_iter()
        .map(|s| {
            json::base64(s, MAX_BLOB).ok_or_else(|| format!("tpm2-blob is not base64 of at most {MAX_BLOB} bytes"))
        })
        .collect::<R<Vec<_>>>()?;
    if blobs.is_empty() || blobs.iter().any(Vec::is_empty) {
        return Err("no tpm2-blob".into());
    }
    let policy_hashes = strings(v, "tpm2-policy-hash")?
        .into_iter()
        .map(|s| hex(s, MAX_HASH).ok_or_else(|| format!("tpm2-policy-hash is not hex of at most {MAX_HASH} bytes")))
        .collect::<R<Vec<_>>>()?;
    if !policy_hashes.is_empty() && policy_hashes.len() != blobs.len() {
        return Err(format!("{} blobs but {} policy hashes", blobs.len(), policy_hashes.len()));
    }
    let word = |key: &str, allowed: &[&str]| -> R<Option<String>> {
        match str_field(v, key)? {
            None => Ok(None),
            Some(s) if allowed.contains(&s) => Ok(Some(s.to_string())),
            Some(s) => Err(format!("{key} {s:?} (one of {} expected)", allowed.join(", "))),
        }
    };
    Ok(Tpm2 {
        blobs,
        policy_hashes,
        pcrs: pcr_mask(v, "tpm2-pcrs")?,
        bank: word("tpm2-pcr-bank", &["sha1", "sha256", "sha384", "sha512"])?,
        primary_alg: word("tpm2-primary-alg", &["ecc", "rsa"])?,
        pin: bool_field(v, "tpm2-pin")?,
        salt: b64_field(v, "tpm2_salt", MAX_HASH)?,
        srk: b64_field(v, "tpm2_srk", MAX_KEY)?,
        pcrlock: bool_field(v, "tpm2_pcrlock")?,
        pubkey: b64_field(v, "tpm2_pubkey", MAX_KEY)?.filter(|k| !k.is_empty()),
        pubkey_pcrs: pcr_mask(v, "tpm2_pubkey_pcrs")?,
    })
}

fn fido2(v: &Value) -> R<Fido2> {
    let credential = b64_field(v, "fido2-credential", MAX_BLOB)?.ok_or("no fido2-credential")?;
    let salt = b64_field(v, "fido2-salt", MAX_BLOB)?.ok_or("no fido2-salt")?;
    // systemd's defaults when the fields are absent (tokens of systemd 248): user presence
    // and a PIN required, no verification.
    let flag = |key: &str, default: bool| if v.get(key).is_none() { Ok(default) } else { bool_field(v, key) };
    Ok(Fido2 {
        credential,
        salt,
        rp: str_field(v, "fido2-rp")?.map(str::to_string),
        client_pin: flag("fido2-clientPin-required", true)?,
        up: flag("fido2-up-required", true)?,
        uv: flag("fido2-uv-required", false)?,
    })
}

fn pkcs11(v: &Value) -> R<Pkcs11> {
    let uri = str_field(v, "pkcs11-uri")?.ok_or("no pkcs11-uri")?;
    if uri.len() > 4096 || !uri.starts_with("pkcs11:") {
        return Err("pkcs11-uri is not a pkcs11: URI".into());
    }
    Ok(Pkcs11 { uri: uri.to_string(), key: b64_field(v, "pkcs11-key", MAX_BLOB)?.ok_or("no pkcs11-key")? })
}

/// What a protected header's `clevis` member says.
fn clevis_pin(h: &Value, depth: usize) -> R<ClevisPin> {
    if depth > MAX_PIN_DEPTH {
        return Err(format!("sss pins nested deeper than {MAX_PIN_DEPTH}"));
    }
    let c = h.get("clevis").ok_or("the JWE's protected header has no clevis member")?;
    let pin = str_field(c, "pin")?.ok_or("no clevis.pin")?;
    let cfg = c.get(pin);
    Ok(match (pin, cfg) {
        ("tpm2", Some(t)) => ClevisPin::Tpm2 {
            hash: str_field(t, "hash")?.map(str::to_string),
            key: str_field(t, "key")?.map(str::to_string),
            pcr_bank: str_field(t, "pcr_bank")?.map(str::to_string),
            pcrs: clevis_pcrs(t)?,
        },
        ("tang", Some(t)) => ClevisPin::Tang { url: str_field(t, "url")?.map(str::to_string) },
        ("sss", Some(s)) => {
            let threshold = s.get("t").and_then(Value::as_u64).ok_or("sss without a threshold t")?;
            let list = s.get("jwe").and_then(Value::as_array).ok_or("sss without a jwe list")?;
            if list.len() > MAX_PINS {
                return Err(format!("sss holds {} pins (at most {MAX_PINS})", list.len()));
            }
            let pins = list
                .iter()
                .map(|j| {
                    let compact = j.as_str().ok_or("an sss pin is not a compact JWE")?;
                    protected(compact.split('.').next().unwrap_or(""), depth + 1)
                })
                .collect::<R<Vec<_>>>()?;
            ClevisPin::Sss { threshold, pins }
        }
        (p @ ("tpm2" | "tang" | "sss"), None) => return Err(format!("clevis.pin {p} without its {p} member")),
        (other, _) => ClevisPin::Other(other.chars().take(64).collect()),
    })
}

/// A JWE protected header (base64url JSON) and the pin it names.
fn protected(b64url: &str, depth: usize) -> R<ClevisPin> {
    let bytes = json::base64url(b64url, MAX_PROTECTED)
        .ok_or_else(|| format!("the JWE's protected header is not base64url of at most {MAX_PROTECTED} bytes"))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| "the JWE's protected header is not UTF-8")?;
    let h = json::parse(text).map_err(|e| format!("the JWE's protected header: {e}"))?;
    clevis_pin(&h, depth)
}

fn clevis(v: &Value) -> R<ClevisPin> {
    let jwe = v.get("jwe").ok_or("no jwe")?;
    let p = str_field(jwe, "protected")?.ok_or("no jwe.protected")?;
    protected(p, 0)
}

/// One token's fields. Never fails: what does not read says why.
fn token(id: u32, v: &Value, notes: &mut Vec<String>) -> Token {
    let kind = match str_field(v, "type") {
        Ok(Some(t)) => t.chars().take(64).collect::<String>(),
        _ => {
            notes.push(format!("token {id}: no type, skipped"));
            return Token { id, keyslots: Vec::new(), kind: Kind::Unknown(String::new()) };
        }
    };
    let keyslots = keyslot_ids(v);
    let parsed = match kind.as_str() {
        "systemd-tpm2" => tpm2(v).map(Kind::Tpm2),
        "systemd-fido2" => fido2(v).map(Kind::Fido2),
        "systemd-pkcs11" => pkcs11(v).map(Kind::Pkcs11),
        "systemd-recovery" => Ok(Kind::Recovery),
        "clevis" => clevis(v).map(Kind::Clevis),
        _ => Ok(Kind::Unknown(kind.clone())),
    };
    let (kind, keyslots) = match (parsed, keyslots) {
        (Ok(k), Ok(s)) => (k, s),
        (Err(why), s) => {
            notes.push(format!("token {id} ({kind}) does not read: {why}"));
            (Kind::Unreadable { kind, why }, s.unwrap_or_default())
        }
        (Ok(_), Err(why)) => {
            notes.push(format!("token {id} ({kind}) does not read: {why}"));
            (Kind::Unreadable { kind, why }, Vec::new())
        }
    };
    Token { id, keyslots, kind }
}

/// The tokens of a LUKS2 header's JSON (none when it has no `tokens` object). A hostile count
/// drops them all with a note: the passphrase does not need them.
pub fn read(json: &Value, notes: &mut Vec<String>) -> Vec<Token> {
    let Some(members) = json.get("tokens") else { return Vec::new() };
    let Some(m) = members.as_object() else {
        notes.push("tokens is not an object: ignored".into());
        return Vec::new();
    };
    if m.len() > MAX_TOKENS {
        notes.push(format!("{} tokens (at most {MAX_TOKENS}): all ignored", m.len()));
        return Vec::new();
    }
    let mut out = Vec::new();
    for (k, v) in m {
        match k.parse::<u32>() {
            Ok(id) => out.push(token(id, v, notes)),
            Err(_) => {
                notes.push(format!("token id {:?} is not a number: skipped", k.chars().take(32).collect::<String>()))
            }
        }
    }
    out.retain(|t| !matches!(&t.kind, Kind::Unknown(k) if k.is_empty()));
    crate::sort::sort_by_key(&mut out, |t| t.id);
    out
}

/// The PCRs to extend before a shell opens so that no TPM2 token of these headers unseals again
/// on this boot (break-glass): per bank (`sha256`, as tokens name them), the union of the PCRs
/// each systemd-tpm2 token binds by value or by signed policy and each Clevis TPM2 pin (in an
/// `sss` too) binds; the bank a token does not name is sha256. A token bound to no PCR (or only
/// to a pcrlock policy, whose PCRs are in an NV index, not the header) adds nothing: no
/// extension keeps it sealed, only not asking the TPM does. Sorted by bank.
pub fn pcrs_to_extend(tokens: &[Token]) -> Vec<(String, u32)> {
    fn clevis(p: &ClevisPin, out: &mut Vec<(String, u32)>, depth: usize) {
        match p {
            ClevisPin::Tpm2 { pcr_bank, pcrs, .. } => out.push((pcr_bank.clone().unwrap_or("sha256".into()), *pcrs)),
            ClevisPin::Sss { pins, .. } if depth < MAX_PIN_DEPTH => {
                pins.iter().for_each(|p| clevis(p, out, depth + 1));
            }
            _ => {}
        }
    }
    let mut all = Vec::new();
    for t in tokens {
        match &t.kind {
            Kind::Tpm2(p) => all.push((p.bank.clone().unwrap_or("sha256".into()), p.pcrs | p.pubkey_pcrs)),
            Kind::Clevis(p) => clevis(p, &mut all, 0),
            _ => {}
        }
    }
    let mut out: Vec<(String, u32)> = Vec::new();
    for (bank, mask) in all.into_iter().filter(|(_, m)| *m != 0) {
        match out.iter_mut().find(|(b, _)| *b == bank) {
            Some((_, m)) => *m |= mask,
            None => out.push((bank, mask)),
        }
    }
    crate::sort::sort_by_key(&mut out, |(b, _)| b.clone());
    out
}

/// The `Tokens:` part of a dump, as `cryptsetup luksDump` lists them (no key material: blobs
/// and keys by size only).
pub fn dump(tokens: &[Token], s: &mut String) {
    let _ = writeln!(s, "Tokens:");
    for t in tokens {
        let _ = writeln!(s, "  {}: {}", t.id, t.kind.type_name());
        let slots: Vec<String> = t.keyslots.iter().map(u32::to_string).collect();
        let _ = writeln!(s, "\tKeyslot:    {}", slots.join(","));
        match &t.kind {
            Kind::Tpm2(p) => {
                let _ = writeln!(s, "\ttpm2-pcrs:  {}", pcr_list(p.pcrs));
                let _ = writeln!(s, "\tpcr-bank:   {}", p.bank.as_deref().unwrap_or("(sha256)"));
                let _ = writeln!(s, "\tprimary:    {}", p.primary_alg.as_deref().unwrap_or("(ecc)"));
                let _ = writeln!(s, "\tPIN:        {}", if p.pin { "yes" } else { "no" });
                let _ = writeln!(s, "\tpcrlock:    {}", if p.pcrlock { "yes" } else { "no" });
                if p.pubkey.is_some() {
                    let _ = writeln!(s, "\tsigned PCRs: {}", pcr_list(p.pubkey_pcrs));
                }
                if p.srk.is_some() {
                    let _ = writeln!(s, "\tSRK:        persistent");
                }
                let sizes: Vec<String> = p.blobs.iter().map(|b| b.len().to_string()).collect();
                let _ = writeln!(s, "\tblob:       {} bytes", sizes.join("+"));
            }
            Kind::Fido2(f) => {
                let _ = writeln!(s, "\tfido2-rp:   {}", f.rp.as_deref().unwrap_or("(io.systemd.cryptsetup)"));
                let yn = |b: bool| if b { "yes" } else { "no" };
                let _ = writeln!(
                    s,
                    "\tPIN:        {}\n\tpresence:   {}\n\tverify:     {}",
                    yn(f.client_pin),
                    yn(f.up),
                    yn(f.uv)
                );
            }
            Kind::Pkcs11(p) => {
                let _ = writeln!(s, "\tpkcs11-uri: {}", p.uri);
            }
            Kind::Clevis(p) => {
                let _ = writeln!(s, "\tpin:        {p}");
            }
            Kind::Unreadable { why, .. } => {
                let _ = writeln!(s, "\tunreadable: {why}");
            }
            Kind::Recovery | Kind::Unknown(_) => {}
        }
    }
}
