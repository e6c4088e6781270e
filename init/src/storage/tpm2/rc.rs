//! TPM 2.0 response codes (Part 2, TPM_RC) in words: which error, on which handle, session or
//! parameter, and what it means for an unlock (a lockout, a PCR mismatch, a wrong PIN).

use std::fmt;

/// A non-zero response code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseCode(pub u32);

/// Format-0 errors (`TPM_RC_VER1` + n) and warnings (`TPM_RC_WARN` + n) by their full value;
/// format-1 errors (`TPM_RC_FMT1` + n) by their low 6 bits + 0x80.
const NAMES: &[(u32, &str, &str)] = &[
    (0x100, "TPM_RC_INITIALIZE", "the TPM was not started (TPM2_Startup)"),
    (0x101, "TPM_RC_FAILURE", "the TPM is in failure mode"),
    (0x120, "TPM_RC_DISABLED", "the command is disabled"),
    (0x126, "TPM_RC_POLICY", "the policy does not allow it"),
    (0x127, "TPM_RC_PCR", "the PCR selection is not valid"),
    (0x128, "TPM_RC_PCR_CHANGED", "a PCR changed while the policy was checked"),
    (0x12E, "TPM_RC_TOO_MANY_CONTEXTS", "too many sessions are open"),
    (0x130, "TPM_RC_REBOOT", "the TPM needs a reboot"),
    (0x142, "TPM_RC_COMMAND_SIZE", "the command's size is wrong"),
    (0x143, "TPM_RC_COMMAND_CODE", "the TPM does not have this command"),
    (0x144, "TPM_RC_AUTHSIZE", "the authorization area's size is wrong"),
    (0x148, "TPM_RC_NV_LOCKED", "the NV index is locked"),
    (0x84, "TPM_RC_VALUE", "a value is out of range"),
    (0x83, "TPM_RC_HASH", "the hash algorithm is not supported"),
    (0x8B, "TPM_RC_HANDLE", "the handle is not known"),
    (0x8E, "TPM_RC_AUTH_FAIL", "the authorization failed (a wrong PIN counts against the dictionary-attack lockout)"),
    (0x95, "TPM_RC_SIZE", "a size is wrong"),
    (0x97, "TPM_RC_TAG", "the tag is wrong"),
    (0x9D, "TPM_RC_POLICY_FAIL", "the policy does not match (the PCRs are not what the disk was sealed to)"),
    (0x9F, "TPM_RC_INTEGRITY", "the sealed object's integrity check failed (sealed by another TPM?)"),
    (0xA2, "TPM_RC_BAD_AUTH", "the authorization is wrong (a wrong PIN)"),
    (0x902, "TPM_RC_OBJECT_MEMORY", "the TPM is out of object slots"),
    (0x903, "TPM_RC_SESSION_MEMORY", "the TPM is out of session slots"),
    (0x908, "TPM_RC_YIELDED", "the TPM yielded; try again"),
    (0x909, "TPM_RC_CANCELED", "the command was canceled"),
    (0x90A, "TPM_RC_TESTING", "the TPM is running its self test; try again"),
    (0x920, "TPM_RC_NV_RATE", "the TPM is rate-limiting NV writes; try again later"),
    (
        0x921,
        "TPM_RC_LOCKOUT",
        "the TPM is in dictionary-attack lockout (too many wrong PINs); wait, or clear it with the lockout password",
    ),
    (0x922, "TPM_RC_RETRY", "the TPM asks to try again"),
    (0x923, "TPM_RC_NV_UNAVAILABLE", "the TPM's NV memory is not available"),
];

impl ResponseCode {
    /// Format 1 (bit 7): an error tied to a handle, session or parameter.
    fn format1(self) -> bool {
        self.0 & 0x80 != 0
    }

    /// The error without its handle, session or parameter number (what [`NAMES`] lists).
    pub fn base(self) -> u32 {
        if self.format1() {
            (self.0 & 0x3F) | 0x80
        } else {
            self.0 & 0xFFF
        }
    }

    /// `TPM_RC_LOCKOUT`: no more tries until the lockout time passes.
    pub fn is_lockout(self) -> bool {
        self.base() == 0x921
    }

    /// What it was about: `parameter 1`, `handle 2`, `session 1` (format 1 only).
    fn subject(self) -> Option<String> {
        if !self.format1() {
            return None;
        }
        let n = (self.0 >> 8) & 0xF;
        if self.0 & 0x40 != 0 {
            Some(format!("parameter {n}"))
        } else if n & 0x8 != 0 {
            Some(format!("session {}", n & 0x7))
        } else if n != 0 {
            Some(format!("handle {n}"))
        } else {
            None
        }
    }
}

impl fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known = NAMES.iter().find(|(v, _, _)| *v == self.base());
        let mut parts: Vec<String> = known.map(|(_, name, _)| name.to_string()).into_iter().collect();
        parts.extend(self.subject());
        parts.push(format!("{:#x}", self.0));
        match known {
            Some((_, _, meaning)) => write!(f, "{meaning} [{}]", parts.join(", ")),
            None => write!(f, "response code {:#x} [{}]", self.base(), parts.join(", ")),
        }
    }
}
