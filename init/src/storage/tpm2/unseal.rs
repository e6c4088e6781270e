//! Unsealing a systemd-tpm2 token's secret the way systemd-cryptsetup does, as a sequence of
//! TPM2 commands over any [`Transport`] (`/dev/tpmrm0` at boot, swtpm's socket in tests): the
//! parent key (the persistent SRK, or the primary key created again from its template), the
//! sealed object loaded under it, a policy session given the PCR policy (and the PIN through
//! PolicyAuthValue), its digest compared with the token's before anything is asked of the
//! sealed object, then TPM2_Unseal. Every handle made here is flushed whatever happens.
//!
//! The session is unsalted and unbound: the secret crosses the bus to the TPM in clear (as it
//! does for a TPM with no session encryption); the PIN never does, only an HMAC keyed with it.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{header, put_selection, Cmd, Error, PcrSelection, Rd, ResponseCode, RS_PW, ST_NO_SESSIONS, ST_SESSIONS};

pub const CC_CREATE_PRIMARY: u32 = 0x0000_0131;
pub const CC_LOAD: u32 = 0x0000_0157;
pub const CC_UNSEAL: u32 = 0x0000_015E;
pub const CC_FLUSH_CONTEXT: u32 = 0x0000_0165;
pub const CC_POLICY_AUTH_VALUE: u32 = 0x0000_016B;
pub const CC_START_AUTH_SESSION: u32 = 0x0000_0176;
pub const CC_POLICY_PCR: u32 = 0x0000_017F;
pub const CC_POLICY_GET_DIGEST: u32 = 0x0000_0189;
pub const CC_READ_PUBLIC: u32 = 0x0000_0173;

/// `TPM_RH_OWNER`, `TPM_RH_NULL`.
const RH_OWNER: u32 = 0x4000_0001;
const RH_NULL: u32 = 0x4000_0007;
/// The persistent handle systemd (254+) keeps its SRK at (TCG's reserved SRK handle).
pub const SRK_HANDLE: u32 = 0x8100_0001;
/// `TPM_SE_POLICY`, `TPM_ALG_NULL`, `TPM_ALG_SHA256`.
const SE_POLICY: u8 = 0x01;
const ALG_NULL: u16 = 0x0010;
const ALG_SHA256: u16 = 0x000B;
/// A sealed object's parts are each a few hundred bytes; a TPM2B is at most this.
const MAX_PART: usize = 2048;
/// What a sealed data object holds (`MAX_SYM_DATA`: 128 bytes).
const MAX_SECRET: usize = 128;
/// A name is an algorithm id and a digest.
const MAX_NAME: usize = 2 + 64;

/// Sends one command and returns the TPM's whole response.
pub trait Transport {
    fn call(&mut self, cmd: &[u8]) -> std::io::Result<Vec<u8>>;
}

/// The primary key algorithm of a token (`tpm2-primary-alg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrimaryAlg {
    Ecc,
    Rsa,
}

/// The key the sealed object was created under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parent {
    /// The persistent SRK at this handle with this name (a token with `tpm2_srk`): the name is
    /// compared before anything is loaded under it, as the session is not salted to it.
    Persistent(u32, Vec<u8>),
    /// The primary key in the owner hierarchy, created from its template again each time.
    Primary(PrimaryAlg),
}

/// What to unseal and how.
pub struct Request<'a> {
    /// The token's `tpm2-blob`: TPM2B_PRIVATE then TPM2B_PUBLIC.
    pub blob: &'a [u8],
    pub parent: Parent,
    /// The PCRs bound by value and their bank (mask 0: none).
    pub pcrs: PcrSelection,
    /// The auth value the PIN gives ([`pin_auth`]), when the token has `tpm2-pin`.
    pub auth: Option<&'a [u8]>,
    /// The token's `tpm2-policy-hash` (empty: not recorded, not compared).
    pub policy_hash: &'a [u8],
}

/// Why the TPM did not give the secret: each says it in one line.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("cannot talk to the TPM: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Protocol(#[from] Error),
    /// The token asks for what rdbreak does not do (a signed policy, pcrlock, …).
    #[error("{0}")]
    NotNative(String),
    #[error("the token's blob does not read: {0}")]
    Blob(String),
    #[error("the TPM refused to {step}: {code}")]
    Refused { step: &'static str, code: ResponseCode },
    #[error(
        "the PCRs ({pcrs}) are not what the disk was sealed to (policy {got} where the token has {want}): the firmware, boot loader or Secure Boot state changed"
    )]
    PolicyMismatch { pcrs: String, got: String, want: String },
}

impl Failure {
    /// The TPM is in dictionary-attack lockout.
    pub fn lockout(&self) -> bool {
        matches!(self, Failure::Refused { code, .. } if code.is_lockout())
    }

    /// A wrong PIN: the TPM counted it against its dictionary-attack lockout.
    pub fn wrong_pin(&self) -> bool {
        matches!(self, Failure::Refused { code, .. } if matches!(code.base(), 0x8E | 0xA2))
    }
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// [`hexs`] for the tests.
#[cfg(test)]
pub fn tests_hex(b: &[u8]) -> String {
    hexs(b)
}

/// The blob's two parts, each checked as a TPM2B that fits, nothing after them.
pub fn split_blob(blob: &[u8]) -> Result<(&[u8], &[u8]), Failure> {
    let mut r = Rd { b: blob, at: 0 };
    let private = r.sized("the sealed object's private part", MAX_PART).map_err(|e| Failure::Blob(e.to_string()))?;
    let public = r.sized("the sealed object's public part", MAX_PART).map_err(|e| Failure::Blob(e.to_string()))?;
    if r.at != blob.len() {
        return Err(Failure::Blob(format!(
            "{} bytes after its private and public parts (an imported object, which rdbreak does not load)",
            blob.len() - r.at
        )));
    }
    if private.is_empty() || public.is_empty() {
        return Err(Failure::Blob("an empty part".into()));
    }
    Ok((private, public))
}

/// A serialized SRK handle (`tpm2_srk`, tpm2-tss's `Esys_TR_Serialize`): the persistent
/// handle and the key's name; the resource type and public area after them are not needed.
pub fn parse_srk(b: &[u8]) -> Result<(u32, Vec<u8>), Failure> {
    let mut r = Rd { b, at: 0 };
    let bad = |e: Error| Failure::Blob(format!("tpm2_srk: {e}"));
    let handle = r.u32("the SRK's handle").map_err(bad)?;
    let name = r.sized("the SRK's name", MAX_NAME).map_err(bad)?.to_vec();
    if handle >> 24 != 0x81 {
        return Err(Failure::Blob(format!("tpm2_srk names handle {handle:#010x}, not a persistent key (0x81…)")));
    }
    Ok((handle, name))
}

/// TPM2_ReadPublic (Part 3 §12.4): the name of the key at `handle`.
pub fn read_public(handle: u32) -> Vec<u8> {
    Cmd::new(ST_NO_SESSIONS, CC_READ_PUBLIC).u32(handle).finish()
}

/// ReadPublic's answer: the name (the public area and qualified name skipped, checked).
pub fn parse_read_public(resp: &[u8]) -> Result<Vec<u8>, Error> {
    let (mut r, sessions) = header(resp)?;
    if sessions {
        return Err(Error::Bad("ReadPublic answered with sessions".into()));
    }
    r.sized("the public area", MAX_PART)?;
    let name = r.sized("the name", MAX_NAME)?.to_vec();
    r.sized("the qualified name", MAX_NAME)?;
    r.end()?;
    Ok(name)
}

/// A `TPMT_PUBLIC` template of the primary key systemd seals under: a restricted decryption
/// key (an SRK) with AES-128-CFB, ECC NIST P-256 or RSA 2048, in the owner hierarchy, with an
/// empty `unique`.
pub fn primary_template(alg: PrimaryAlg) -> Vec<u8> {
    // fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | restricted | decrypt
    const ATTRIBUTES: u32 = 1 << 1 | 1 << 4 | 1 << 5 | 1 << 6 | 1 << 16 | 1 << 17;
    let mut c = Cmd(Vec::with_capacity(32));
    match alg {
        PrimaryAlg::Ecc => c.u16(0x0023),
        PrimaryAlg::Rsa => c.u16(0x0001),
    };
    c.u16(ALG_SHA256).u32(ATTRIBUTES).u16(0);
    // symmetric: AES, 128 bits, CFB; scheme: NULL.
    c.u16(0x0006).u16(128).u16(0x0043).u16(ALG_NULL);
    match alg {
        // curve NIST P-256, kdf NULL; unique: empty x and y.
        PrimaryAlg::Ecc => c.u16(0x0003).u16(ALG_NULL).u16(0).u16(0),
        // 2048 bits, the default exponent; unique: empty.
        PrimaryAlg::Rsa => c.u16(2048).u32(0).u16(0),
    };
    c.0
}

/// The password session with the empty password (the owner hierarchy's, a parent key's).
fn empty_password(c: &mut Cmd) {
    c.u32(4 + 2 + 1 + 2).u32(RS_PW).u16(0).u8(0).u16(0);
}

fn sized(c: &mut Cmd, b: &[u8]) {
    c.u16(u16::try_from(b.len()).unwrap_or(u16::MAX)).bytes(b);
}

/// TPM2_CreatePrimary (Part 3 §24.1) in the owner hierarchy with empty auth and no data.
pub fn create_primary(template: &[u8]) -> Vec<u8> {
    let mut c = Cmd::new(ST_SESSIONS, CC_CREATE_PRIMARY);
    c.u32(RH_OWNER);
    empty_password(&mut c);
    // inSensitive: userAuth and data empty.
    c.u16(4).u16(0).u16(0);
    sized(&mut c, template);
    // outsideInfo empty, creationPCR none.
    c.u16(0).u32(0);
    c.finish()
}

/// TPM2_Load (Part 3 §12.2) of a sealed object under `parent` (empty auth).
pub fn load(parent: u32, private: &[u8], public: &[u8]) -> Vec<u8> {
    let mut c = Cmd::new(ST_SESSIONS, CC_LOAD);
    c.u32(parent);
    empty_password(&mut c);
    sized(&mut c, private);
    sized(&mut c, public);
    c.finish()
}

/// TPM2_StartAuthSession (Part 3 §11.1): a policy session, unsalted and unbound, no
/// parameter encryption, SHA-256.
pub fn start_policy_session(nonce: &[u8]) -> Vec<u8> {
    let mut c = Cmd::new(ST_NO_SESSIONS, CC_START_AUTH_SESSION);
    c.u32(RH_NULL).u32(RH_NULL);
    sized(&mut c, nonce);
    c.u16(0).u8(SE_POLICY).u16(ALG_NULL).u16(ALG_SHA256);
    c.finish()
}

/// TPM2_PolicyPCR (Part 3 §23.7) with an empty digest: the TPM takes the PCRs' values now.
pub fn policy_pcr(session: u32, sel: PcrSelection) -> Result<Vec<u8>, Error> {
    let mut c = Cmd::new(ST_NO_SESSIONS, CC_POLICY_PCR);
    c.u32(session).u16(0);
    put_selection(&mut c, &[sel])?;
    Ok(c.finish())
}

/// TPM2_PolicyAuthValue (Part 3 §23.17).
pub fn policy_auth_value(session: u32) -> Vec<u8> {
    Cmd::new(ST_NO_SESSIONS, CC_POLICY_AUTH_VALUE).u32(session).finish()
}

/// TPM2_PolicyGetDigest (Part 3 §23.19).
pub fn policy_get_digest(session: u32) -> Vec<u8> {
    Cmd::new(ST_NO_SESSIONS, CC_POLICY_GET_DIGEST).u32(session).finish()
}

/// TPM2_FlushContext (Part 3 §28.4).
pub fn flush_context(handle: u32) -> Vec<u8> {
    Cmd::new(ST_NO_SESSIONS, CC_FLUSH_CONTEXT).u32(handle).finish()
}

/// The HMAC a policy session's command carries (Part 1 §19.6): keyed with the session key
/// (none: unsalted, unbound) and the object's auth value with its trailing zeros removed,
/// over cpHash = H(commandCode || name || parameters), the caller's new nonce, the TPM's last
/// nonce and the session attributes.
pub fn command_hmac(
    auth: &[u8],
    code: u32,
    name: &[u8],
    params: &[u8],
    nonce_caller: &[u8],
    nonce_tpm: &[u8],
    attrs: u8,
) -> Vec<u8> {
    let key = &auth[..auth.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1)];
    let cp: [u8; 32] =
        Sha256::new().chain_update(code.to_be_bytes()).chain_update(name).chain_update(params).finalize().into();
    // HMAC takes keys of any length; were it to refuse one, the empty HMAC is refused by the
    // TPM as a wrong PIN would be.
    let Ok(mut m) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else { return Vec::new() };
    m.update(&cp);
    m.update(nonce_caller);
    m.update(nonce_tpm);
    m.update(&[attrs]);
    m.finalize().into_bytes().to_vec()
}

/// TPM2_Unseal (Part 3 §12.7) of `item` through the policy session, which ends with it
/// (continueSession clear). `hmac` is empty unless the policy asked for the auth value.
pub fn unseal(item: u32, session: u32, nonce: &[u8], hmac: &[u8]) -> Vec<u8> {
    let mut c = Cmd::new(ST_SESSIONS, CC_UNSEAL);
    c.u32(item);
    let size = 4 + 2 + nonce.len() + 1 + 2 + hmac.len();
    c.u32(u32::try_from(size).unwrap_or(u32::MAX)).u32(session);
    sized(&mut c, nonce);
    c.u8(0);
    sized(&mut c, hmac);
    c.finish()
}

/// A response with one handle and sessions: the handle and the parameters.
fn handle_and_params(resp: &[u8], what: &'static str) -> Result<(u32, Vec<u8>), Error> {
    let (mut r, sessions) = header(resp)?;
    if !sessions {
        return Err(Error::Bad(format!("{what} answered without its session")));
    }
    let handle = r.u32("the new handle")?;
    let n = r.u32("parameterSize")? as usize;
    let params = r.take(n, "the parameters")?.to_vec();
    session_answer(&mut r)?;
    Ok((handle, params))
}

/// The authorization area of a response (one session): nonce, attributes, HMAC.
fn session_answer<'a>(r: &mut Rd<'a>) -> Result<&'a [u8], Error> {
    let nonce = r.sized("the session's nonce", 64)?;
    let _attributes = r.u8("the session's attributes")?;
    let _hmac = r.sized("the session's hmac", 64)?;
    r.end()?;
    Ok(nonce)
}

/// CreatePrimary's answer: the handle (its public area, creation data and ticket unused).
pub fn parse_create_primary(resp: &[u8]) -> Result<u32, Error> {
    Ok(handle_and_params(resp, "CreatePrimary")?.0)
}

/// Load's answer: the handle and the object's name.
pub fn parse_load(resp: &[u8]) -> Result<(u32, Vec<u8>), Error> {
    let (handle, params) = handle_and_params(resp, "Load")?;
    let mut r = Rd { b: &params, at: 0 };
    let name = r.sized("the object's name", MAX_NAME)?.to_vec();
    r.end()?;
    Ok((handle, name))
}

/// StartAuthSession's answer: the session's handle and the TPM's first nonce.
pub fn parse_start_auth_session(resp: &[u8]) -> Result<(u32, Vec<u8>), Error> {
    let (mut r, sessions) = header(resp)?;
    if sessions {
        return Err(Error::Bad("StartAuthSession answered with sessions".into()));
    }
    let handle = r.u32("the session handle")?;
    let nonce = r.sized("the TPM's nonce", 64)?.to_vec();
    r.end()?;
    Ok((handle, nonce))
}

/// The answer of a command with no parameters back (PolicyPCR, PolicyAuthValue, FlushContext).
pub fn parse_empty(resp: &[u8]) -> Result<(), Error> {
    let (r, sessions) = header(resp)?;
    if sessions {
        return Err(Error::Bad("a command without sessions answered with sessions".into()));
    }
    r.end()
}

/// PolicyGetDigest's answer.
pub fn parse_policy_get_digest(resp: &[u8]) -> Result<Vec<u8>, Error> {
    let (mut r, sessions) = header(resp)?;
    if sessions {
        return Err(Error::Bad("PolicyGetDigest answered with sessions".into()));
    }
    let d = r.sized("the policy digest", 64)?.to_vec();
    r.end()?;
    Ok(d)
}

/// Unseal's answer: the secret (at most 128 bytes).
pub fn parse_unseal(resp: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let (mut r, sessions) = header(resp)?;
    if !sessions {
        return Err(Error::Bad("Unseal answered without its session".into()));
    }
    let n = r.u32("parameterSize")? as usize;
    let params = r.take(n, "the parameters")?;
    session_answer(&mut r)?;
    let mut p = Rd { b: params, at: 0 };
    let secret = Zeroizing::new(p.sized("the sealed secret", MAX_SECRET)?.to_vec());
    p.end()?;
    Ok(secret)
}

/// Runs one command; a response code becomes [`Failure::Refused`] naming the step.
fn call<T>(
    t: &mut dyn Transport,
    step: &'static str,
    cmd: &[u8],
    parse: impl FnOnce(&[u8]) -> Result<T, Error>,
) -> Result<T, Failure> {
    let resp = t.call(cmd)?;
    parse(&resp).map_err(|e| match e {
        Error::Tpm(code) => Failure::Refused { step, code },
        e => Failure::Protocol(e),
    })
}

/// The handles made so far, flushed at the end whatever happened (a persistent parent is not
/// ours to flush; a session Unseal ended is gone already).
struct Handles<'t> {
    t: &'t mut dyn Transport,
    made: Vec<u32>,
}

impl Drop for Handles<'_> {
    fn drop(&mut self) {
        for h in self.made.drain(..).rev() {
            let _ = self.t.call(&flush_context(h));
        }
    }
}

/// The whole unseal. `nonces` gives the caller's nonces (16 random bytes each at boot).
pub fn run(
    t: &mut dyn Transport,
    req: &Request<'_>,
    nonces: &mut dyn FnMut() -> [u8; 16],
) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let (private, public) = split_blob(req.blob)?;
    let mut h = Handles { t, made: Vec::new() };
    let parent = match &req.parent {
        Parent::Persistent(handle, want) => {
            let handle = *handle;
            let name = call(h.t, "read the SRK", &read_public(handle), parse_read_public)?;
            if name != *want {
                return Err(Failure::Blob(format!(
                    "the key at {handle:#010x} is not the SRK the disk was sealed under (name {} where the token has {})",
                    hexs(&name),
                    hexs(want)
                )));
            }
            handle
        }
        Parent::Primary(alg) => {
            let p =
                call(h.t, "create the primary key", &create_primary(&primary_template(*alg)), parse_create_primary)?;
            h.made.push(p);
            p
        }
    };
    let (item, name) = call(h.t, "load the sealed object", &load(parent, private, public), parse_load)?;
    h.made.push(item);
    // A PCR extended while the policy is checked (TPM_RC_PCR_CHANGED): again, as systemd does.
    let mut tries = 0;
    loop {
        tries += 1;
        match policy_and_unseal(&mut h, req, item, &name, nonces) {
            Err(Failure::Refused { code, .. }) if code.0 == PCR_CHANGED && tries < PCR_CHANGED_TRIES => continue,
            other => return other,
        }
    }
}

/// `TPM_RC_PCR_CHANGED`, and how many times a policy is tried again for it.
const PCR_CHANGED: u32 = 0x128;
const PCR_CHANGED_TRIES: u32 = 30;

/// One policy session: the policy, its digest compared, the unseal.
fn policy_and_unseal(
    h: &mut Handles<'_>,
    req: &Request<'_>,
    item: u32,
    name: &[u8],
    nonces: &mut dyn FnMut() -> [u8; 16],
) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let caller = nonces();
    let (session, nonce_tpm) =
        call(h.t, "start a policy session", &start_policy_session(&caller), parse_start_auth_session)?;
    h.made.push(session);
    if req.pcrs.pcrs != 0 {
        call(h.t, "check the PCRs", &policy_pcr(session, req.pcrs)?, parse_empty)?;
    }
    if req.auth.is_some() {
        call(h.t, "ask for the PIN", &policy_auth_value(session), parse_empty)?;
    }
    let digest = call(h.t, "read the policy digest", &policy_get_digest(session), parse_policy_get_digest)?;
    if !req.policy_hash.is_empty() && digest != req.policy_hash {
        return Err(Failure::PolicyMismatch {
            pcrs: req.pcrs.to_string(),
            got: hexs(&digest),
            want: hexs(req.policy_hash),
        });
    }
    let caller = nonces();
    let hmac = match req.auth {
        Some(auth) => command_hmac(auth, CC_UNSEAL, name, &[], &caller, &nonce_tpm, 0),
        None => Vec::new(),
    };
    let secret = call(h.t, "unseal the secret", &unseal(item, session, &caller, &hmac), parse_unseal);
    match &secret {
        // continueSession was clear: the session ended with the command.
        Ok(_) => h.made.retain(|x| *x != session),
        Err(_) => {
            let _ = h.t.call(&flush_context(session));
            h.made.retain(|x| *x != session);
        }
    }
    secret
}

/// The LUKS passphrase systemd makes of the unsealed secret: its standard base64, padded.
pub fn passphrase(secret: &[u8]) -> Zeroizing<Vec<u8>> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Zeroizing::new(Vec::with_capacity(secret.len().div_ceil(3) * 4));
    for c in secret.chunks(3) {
        let n = u32::from(c[0]) << 16 | u32::from(*c.get(1).unwrap_or(&0)) << 8 | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

/// The auth value a PIN gives, as systemd derives it: with the token's `tpm2_salt` (systemd
/// 254+), SHA-256 of the base64 of PBKDF2-HMAC-SHA256(PIN, salt, 10,000 rounds, 32 bytes);
/// without, SHA-256 of the PIN as typed. Trailing zero bytes go: the TPM stored it so.
pub fn pin_auth(pin: &[u8], salt: Option<&[u8]>) -> Zeroizing<Vec<u8>> {
    let mut auth = Zeroizing::new(match salt {
        Some(salt) => {
            let mut k = Zeroizing::new([0u8; 32]);
            pbkdf2::pbkdf2_hmac::<Sha256>(pin, salt, PIN_ROUNDS, &mut k[..]);
            Sha256::digest(&passphrase(&k[..])[..]).to_vec()
        }
        None => Sha256::digest(pin).to_vec(),
    });
    while auth.last() == Some(&0) {
        auth.pop();
    }
    auth
}

/// systemd's PBKDF2 rounds for a salted PIN.
const PIN_ROUNDS: u32 = 10_000;
