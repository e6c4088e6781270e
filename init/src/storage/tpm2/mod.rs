//! The TPM 2.0 command protocol, marshalled by hand (TCG TPM 2.0 Library, Part 2 structures,
//! Part 3 commands): the commands are byte strings built here and the responses are parsed
//! here, every declared length and count checked against what arrived and a cap. Only what
//! rdbreak needs before it can unseal: TPM2_GetCapability (which PCR banks, properties,
//! handles), TPM2_PCR_Read and TPM2_PCR_Extend (the break-glass extension). Nothing here opens
//! a device: the caller writes a command to `/dev/tpmrm0` and hands back what it read.

mod rc;
#[cfg(feature = "luks")]
pub mod unseal;

use std::fmt;

pub use rc::ResponseCode;

/// `TPM_ST_NO_SESSIONS` and `TPM_ST_SESSIONS`: a command's or response's tag.
const ST_NO_SESSIONS: u16 = 0x8001;
const ST_SESSIONS: u16 = 0x8002;
/// Command codes (Part 2, TPM_CC).
pub const CC_GET_CAPABILITY: u32 = 0x0000_017A;
pub const CC_PCR_READ: u32 = 0x0000_017E;
pub const CC_PCR_EXTEND: u32 = 0x0000_0182;
/// The password authorization session (`TPM_RS_PW`).
const RS_PW: u32 = 0x4000_0009;
/// Capabilities (TPM_CAP).
pub const CAP_HANDLES: u32 = 0x0000_0001;
pub const CAP_PCRS: u32 = 0x0000_0005;
pub const CAP_TPM_PROPERTIES: u32 = 0x0000_0006;
/// No response is larger than this (a TPM's buffers are a few KiB; 4096 is the common
/// `TPM2_MAX_COMMAND_SIZE`).
pub const MAX_RESPONSE: usize = 4096;
/// Banks in a `TPML_PCR_SELECTION` (the spec's `HASH_COUNT` is a handful).
const MAX_BANKS: u32 = 16;
/// Bytes of a `pcrSelect` bitmap: a TPM2 has 24 PCRs (3 bytes); 4 at most are believed.
const MAX_SELECT: u8 = 4;
/// Digests in a `TPML_DIGEST` (PCR_Read returns at most 8).
const MAX_DIGESTS: u32 = 8;
/// Entries of a property or handle list.
const MAX_LIST: u32 = 512;

/// Hash algorithms of PCR banks (TPM_ALG_ID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Alg {
    pub fn id(self) -> u16 {
        match self {
            Alg::Sha1 => 0x0004,
            Alg::Sha256 => 0x000B,
            Alg::Sha384 => 0x000C,
            Alg::Sha512 => 0x000D,
        }
    }
    pub fn from_id(id: u16) -> Option<Alg> {
        [Alg::Sha1, Alg::Sha256, Alg::Sha384, Alg::Sha512].into_iter().find(|a| a.id() == id)
    }
    /// The digest size in bytes.
    pub fn size(self) -> usize {
        match self {
            Alg::Sha1 => 20,
            Alg::Sha256 => 32,
            Alg::Sha384 => 48,
            Alg::Sha512 => 64,
        }
    }
    /// As LUKS2 tokens name banks: `sha256`.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Sha1 => "sha1",
            Alg::Sha256 => "sha256",
            Alg::Sha384 => "sha384",
            Alg::Sha512 => "sha512",
        }
    }
    pub fn from_name(name: &str) -> Option<Alg> {
        [Alg::Sha1, Alg::Sha256, Alg::Sha384, Alg::Sha512].into_iter().find(|a| a.name() == name)
    }
}

/// One bank's PCRs (`TPMS_PCR_SELECTION`): the hash algorithm's id (kept as a number: a TPM
/// may list banks rdbreak has no name for) and the PCRs as a mask, bit n = PCR n.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcrSelection {
    pub alg: u16,
    pub pcrs: u32,
}

/// What is wrong with a response (or a command asked for).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("the TPM's response is cut short: {what} needs {need} bytes at byte {at}, {got} arrived")]
    Short { what: &'static str, at: usize, need: usize, got: usize },
    #[error("the TPM's response says it has {declared} bytes, {got} arrived")]
    Size { declared: u32, got: usize },
    #[error("the TPM's response has tag {0:#06x} (0x8001 or 0x8002 expected)")]
    Tag(u16),
    #[error("the TPM's response has {0} bytes after its last field")]
    Trailing(usize),
    #[error("the TPM's response: {0}")]
    Bad(String),
    #[error("the TPM refused: {0}")]
    Tpm(ResponseCode),
    #[error("{0}")]
    Command(String),
}

/// A command being built: the header's size is written by [`Cmd::finish`].
struct Cmd(Vec<u8>);

impl Cmd {
    fn new(tag: u16, code: u32) -> Cmd {
        let mut v = Vec::with_capacity(64);
        v.extend_from_slice(&tag.to_be_bytes());
        v.extend_from_slice(&0u32.to_be_bytes());
        v.extend_from_slice(&code.to_be_bytes());
        Cmd(v)
    }
    fn u8(&mut self, v: u8) -> &mut Cmd {
        self.0.push(v);
        self
    }
    fn u16(&mut self, v: u16) -> &mut Cmd {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Cmd {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn bytes(&mut self, v: &[u8]) -> &mut Cmd {
        self.0.extend_from_slice(v);
        self
    }
    fn finish(&mut self) -> Vec<u8> {
        let n = u32::try_from(self.0.len()).unwrap_or(u32::MAX).to_be_bytes();
        self.0[2..6].copy_from_slice(&n);
        std::mem::take(&mut self.0)
    }
}

/// A `TPML_PCR_SELECTION`: every bank with a 3-byte bitmap (24 PCRs), as TPMs expect.
fn put_selection(c: &mut Cmd, sel: &[PcrSelection]) -> Result<(), Error> {
    if sel.len() > MAX_BANKS as usize {
        return Err(Error::Command(format!("{} banks (at most {MAX_BANKS})", sel.len())));
    }
    c.u32(u32::try_from(sel.len()).unwrap_or(MAX_BANKS));
    for s in sel {
        if s.pcrs >> 24 != 0 {
            return Err(Error::Command(format!("PCR mask {:#x} names a PCR above 23", s.pcrs)));
        }
        let b = s.pcrs.to_le_bytes();
        c.u16(s.alg).u8(3).bytes(&b[..3]);
    }
    Ok(())
}

/// A response being read: every read checked against what arrived.
struct Rd<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Error> {
        let got = self.b.len().saturating_sub(self.at);
        if n > got {
            return Err(Error::Short { what, at: self.at, need: n, got });
        }
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, Error> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, Error> {
        let s = self.take(2, what)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, Error> {
        let s = self.take(4, what)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    /// A count, refused above `max` before anything is allocated for it.
    fn count(&mut self, what: &'static str, max: u32) -> Result<usize, Error> {
        let n = self.u32(what)?;
        if n > max {
            return Err(Error::Bad(format!("{what}: {n} entries (at most {max})")));
        }
        Ok(n as usize)
    }
    /// A `TPM2B_*`: a 16-bit size then the bytes, at most `max`.
    fn sized(&mut self, what: &'static str, max: usize) -> Result<&'a [u8], Error> {
        let n = usize::from(self.u16(what)?);
        if n > max {
            return Err(Error::Bad(format!("{what}: {n} bytes (at most {max})")));
        }
        self.take(n, what)
    }
    fn end(&self) -> Result<(), Error> {
        match self.b.len() - self.at.min(self.b.len()) {
            0 => Ok(()),
            n => Err(Error::Trailing(n)),
        }
    }
}

/// The response header checked: its tag, its size against what arrived (and the cap), its
/// response code. Returns the reader past the header and whether sessions follow.
fn header(resp: &[u8]) -> Result<(Rd<'_>, bool), Error> {
    if resp.len() > MAX_RESPONSE {
        return Err(Error::Bad(format!("{} bytes (at most {MAX_RESPONSE})", resp.len())));
    }
    let mut r = Rd { b: resp, at: 0 };
    let tag = r.u16("the response tag")?;
    let size = r.u32("the response size")?;
    let code = r.u32("the response code")?;
    if usize::try_from(size).ok() != Some(resp.len()) {
        return Err(Error::Size { declared: size, got: resp.len() });
    }
    if code != 0 {
        // An error response is its header only, whatever the tag.
        return Err(Error::Tpm(ResponseCode(code)));
    }
    let sessions = match tag {
        ST_NO_SESSIONS => false,
        ST_SESSIONS => true,
        t => return Err(Error::Tag(t)),
    };
    Ok((r, sessions))
}

/// A `TPML_PCR_SELECTION` from a response.
fn selection(r: &mut Rd<'_>) -> Result<Vec<PcrSelection>, Error> {
    let n = r.count("the PCR selection count", MAX_BANKS)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let alg = r.u16("a PCR bank's algorithm")?;
        let size = r.u8("a PCR bitmap's size")?;
        if size > MAX_SELECT {
            return Err(Error::Bad(format!("a PCR bitmap of {size} bytes (at most {MAX_SELECT})")));
        }
        let bits = r.take(usize::from(size), "a PCR bitmap")?;
        let pcrs = bits.iter().enumerate().fold(0u32, |m, (i, b)| m | u32::from(*b) << (8 * i));
        out.push(PcrSelection { alg, pcrs });
    }
    Ok(out)
}

/// TPM2_GetCapability (Part 3 §30.2): `count` entries of `capability` from `property` on.
pub fn get_capability(capability: u32, property: u32, count: u32) -> Vec<u8> {
    Cmd::new(ST_NO_SESSIONS, CC_GET_CAPABILITY).u32(capability).u32(property).u32(count).finish()
}

/// What a GetCapability response holds, for the capabilities read here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Capability {
    /// `TPM_CAP_PCRS`: the banks the TPM has and which PCRs each has allocated.
    Pcrs(Vec<PcrSelection>),
    /// `TPM_CAP_TPM_PROPERTIES`: (property, value) pairs.
    Properties(Vec<(u32, u32)>),
    /// `TPM_CAP_HANDLES`: handles (persistent keys, loaded objects, …).
    Handles(Vec<u32>),
}

/// A GetCapability response: whether there is more, and the data.
pub fn parse_get_capability(resp: &[u8]) -> Result<(bool, Capability), Error> {
    let (mut r, sessions) = header(resp)?;
    if sessions {
        return Err(Error::Bad("GetCapability answered with sessions".into()));
    }
    let more = match r.u8("moreData")? {
        0 => false,
        1 => true,
        v => return Err(Error::Bad(format!("moreData is {v} (0 or 1 expected)"))),
    };
    let cap = r.u32("the capability")?;
    let data = match cap {
        CAP_PCRS => Capability::Pcrs(selection(&mut r)?),
        CAP_TPM_PROPERTIES => {
            let n = r.count("the property count", MAX_LIST)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push((r.u32("a property")?, r.u32("a property's value")?));
            }
            Capability::Properties(v)
        }
        CAP_HANDLES => {
            let n = r.count("the handle count", MAX_LIST)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(r.u32("a handle")?);
            }
            Capability::Handles(v)
        }
        other => return Err(Error::Bad(format!("capability {other:#x}, which rdbreak does not read"))),
    };
    r.end()?;
    Ok((more, data))
}

/// TPM2_PCR_Read (Part 3 §22.4) of these banks and PCRs.
pub fn pcr_read(sel: &[PcrSelection]) -> Result<Vec<u8>, Error> {
    let mut c = Cmd::new(ST_NO_SESSIONS, CC_PCR_READ);
    put_selection(&mut c, sel)?;
    Ok(c.finish())
}

/// What TPM2_PCR_Read returned: the values are in the order of the selection's banks, then
/// PCR numbers, lowest first. A TPM returns at most 8 values: what it left out is not in
/// `selection` (read again for the rest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcrValues {
    pub update_counter: u32,
    pub selection: Vec<PcrSelection>,
    pub values: Vec<(u16, u32, Vec<u8>)>,
}

/// A PCR_Read response: the number of digests must be the number of PCRs selected, and each
/// digest the size of its bank's hash.
pub fn parse_pcr_read(resp: &[u8]) -> Result<PcrValues, Error> {
    let (mut r, sessions) = header(resp)?;
    if sessions {
        return Err(Error::Bad("PCR_Read answered with sessions".into()));
    }
    let update_counter = r.u32("pcrUpdateCounter")?;
    let selection = selection(&mut r)?;
    let n = r.count("the digest count", MAX_DIGESTS)?;
    let wanted: Vec<(u16, u32)> = selection
        .iter()
        .flat_map(|s| (0..32).filter(move |i| s.pcrs & (1 << i) != 0).map(move |i| (s.alg, i)))
        .collect();
    if wanted.len() != n {
        return Err(Error::Bad(format!("{n} digests for {} PCRs selected", wanted.len())));
    }
    let mut values = Vec::with_capacity(n);
    for (alg, pcr) in wanted {
        let d = r.sized("a PCR value", 64)?;
        if let Some(a) = Alg::from_id(alg).filter(|a| a.size() != d.len()) {
            return Err(Error::Bad(format!("PCR {pcr} of the {} bank has {} bytes", a.name(), d.len())));
        }
        values.push((alg, pcr, d.to_vec()));
    }
    r.end()?;
    Ok(PcrValues { update_counter, selection, values })
}

/// TPM2_PCR_Extend (Part 3 §22.2) of PCR `pcr` with one digest per bank, under the empty
/// password PCRs have (a password session with no nonce and an empty HMAC).
pub fn pcr_extend(pcr: u32, digests: &[(Alg, &[u8])]) -> Result<Vec<u8>, Error> {
    if pcr > 23 {
        return Err(Error::Command(format!("PCR {pcr} (0 to 23)")));
    }
    if digests.is_empty() || digests.len() > MAX_BANKS as usize {
        return Err(Error::Command(format!("{} digests (1 to {MAX_BANKS})", digests.len())));
    }
    let mut c = Cmd::new(ST_SESSIONS, CC_PCR_EXTEND);
    c.u32(pcr);
    // authorizationSize, then TPMS_AUTH_COMMAND: handle, nonce (empty), attributes, hmac (empty).
    c.u32(4 + 2 + 1 + 2).u32(RS_PW).u16(0).u8(0).u16(0);
    c.u32(u32::try_from(digests.len()).unwrap_or(MAX_BANKS));
    for (alg, d) in digests {
        if d.len() != alg.size() {
            return Err(Error::Command(format!(
                "a {} digest of {} bytes ({} expected)",
                alg.name(),
                d.len(),
                alg.size()
            )));
        }
        c.u16(alg.id()).bytes(d);
    }
    Ok(c.finish())
}

/// A PCR_Extend response: no parameters, and the password session's (empty) answer.
pub fn parse_pcr_extend(resp: &[u8]) -> Result<(), Error> {
    let (mut r, sessions) = header(resp)?;
    if !sessions {
        return Err(Error::Bad("PCR_Extend answered without its session".into()));
    }
    let params = r.u32("parameterSize")?;
    if params != 0 {
        return Err(Error::Bad(format!("PCR_Extend answered {params} bytes of parameters (none expected)")));
    }
    // TPMS_AUTH_RESPONSE: nonce, attributes, hmac; a password session's are empty.
    let nonce = r.sized("the session's nonce", 64)?.len();
    let _attributes = r.u8("the session's attributes")?;
    let hmac = r.sized("the session's hmac", 64)?.len();
    if nonce != 0 || hmac != 0 {
        return Err(Error::Bad(format!("a password session answered a {nonce}-byte nonce and a {hmac}-byte hmac")));
    }
    r.end()
}

impl fmt::Display for PcrSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bank = Alg::from_id(self.alg).map_or_else(|| format!("alg {:#06x}", self.alg), |a| a.name().to_string());
        let pcrs: Vec<String> = (0..32).filter(|i| self.pcrs & (1 << i) != 0).map(|i: u32| i.to_string()).collect();
        write!(f, "{bank}: {}", if pcrs.is_empty() { "none".to_string() } else { pcrs.join(",") })
    }
}

/// Every parser on arbitrary bytes (the fuzz entry and the host's mutation test): never panics.
pub fn fuzz_one(data: &[u8]) {
    let _ = parse_get_capability(data);
    let _ = parse_pcr_read(data);
    let _ = parse_pcr_extend(data);
    #[cfg(feature = "luks")]
    {
        let _ = unseal::parse_create_primary(data);
        let _ = unseal::parse_load(data);
        let _ = unseal::parse_start_auth_session(data);
        let _ = unseal::parse_empty(data);
        let _ = unseal::parse_policy_get_digest(data);
        let _ = unseal::parse_unseal(data);
        let _ = unseal::parse_read_public(data);
        let _ = unseal::split_blob(data);
        let _ = unseal::parse_srk(data);
    }
}

#[cfg(test)]
mod tests;
