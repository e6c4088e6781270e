//! Break-glass: whether a container may be unlocked with no one typing (a TPM2 token, a Clevis
//! pin) on this boot. A TPM that unseals by itself must not hand a decrypted root to whoever
//! typed `rd.break` at the boot loader: systemd-cryptenroll's default policy (PCR 7, the Secure
//! Boot state) does not see an edited kernel command line. So whenever a shell is going to open
//! on purpose, only a human's passphrase or recovery key unlocks. FIDO2 and PKCS#11 tokens need a
//! key plugged in and touched (or a PIN): a human, so they are not refused here.

use crate::cmdline::Cmdline;

/// Token types that unlock with no human present: the TPM2 (systemd's or Clevis's) and a tang
/// server (Clevis).
pub fn unattended(kind: &str) -> bool {
    matches!(kind, "systemd-tpm2" | "clevis")
}

/// The key that makes a shell open on purpose, if any: `rd.break` in any form or stage (and the
/// `break=` spellings of initramfs-tools and mkinitcpio), `rd.shell` given (dracut's default
/// only allows one on failure; given on the command line it is asked for), `rdshell`.
pub fn shell_on_purpose(c: &Cmdline) -> Option<String> {
    for key in ["rd.break", "break"] {
        if let Some(v) = c.last(key) {
            return Some(v.filter(|v| !v.is_empty()).map_or(key.to_string(), |v| format!("{key}={v}")));
        }
    }
    for key in ["rd.shell", "rdshell"] {
        if c.last(key).is_some() && c.flag(key, true) {
            return Some(key.to_string());
        }
    }
    None
}

/// The pure decision: whether unattended unlock is allowed, or why not. `shell` is what
/// [`shell_on_purpose`] found, `tpm_off` whether `rd.rdbreak.tpm=0` is given.
pub fn auto_unlock(shell: Option<&str>, tpm_off: bool) -> Result<(), String> {
    if tpm_off {
        return Err("rd.rdbreak.tpm=0 turns unattended unlocking off".into());
    }
    match shell {
        Some(key) => {
            Err(format!("{key} asks for a shell, and a shell opened on purpose never holds a disk no human unlocked"))
        }
        None => Ok(()),
    }
}

/// [`auto_unlock`] for this command line.
pub fn auto_unlock_for(c: &Cmdline) -> Result<(), String> {
    let tpm_off = c.last("rd.rdbreak.tpm").is_some() && !c.flag("rd.rdbreak.tpm", true);
    auto_unlock(shell_on_purpose(c).as_deref(), tpm_off)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(line: &str) -> Result<(), String> {
        auto_unlock_for(&Cmdline::parse(line))
    }

    #[test]
    fn a_shell_on_purpose_or_tpm_off_refuses_unattended_unlock() {
        assert_eq!(policy("root=/dev/vda2 quiet"), Ok(()));
        assert_eq!(policy("rd.shell=0"), Ok(()), "no shell even on failure");
        assert_eq!(policy("rd.rdbreak.tpm=1 rd.rdbreak=1"), Ok(()));
        for (line, key) in [
            ("rd.break", "rd.break"),
            ("rd.break=pre-mount", "rd.break=pre-mount"),
            ("rd.break=cmdline rd.break", "rd.break"),
            ("rd.break=bogus", "rd.break=bogus"),
            ("break", "break"),
            ("break=premount", "break=premount"),
            ("rd.shell", "rd.shell"),
            ("rd.shell=1", "rd.shell"),
            ("rdshell", "rdshell"),
        ] {
            let why = policy(line).unwrap_err();
            assert!(why.starts_with(&format!("{key} asks for a shell")), "{line}: {why}");
        }
        assert!(policy("rd.rdbreak.tpm=0").unwrap_err().contains("rd.rdbreak.tpm=0"));
        assert!(policy("rd.rdbreak.tpm=0 rd.break").unwrap_err().contains("rd.rdbreak.tpm=0"));
    }

    #[test]
    fn the_decision_itself() {
        assert_eq!(auto_unlock(None, false), Ok(()));
        assert!(auto_unlock(Some("rd.break"), false).is_err());
        assert!(auto_unlock(None, true).is_err());
        assert!(unattended("systemd-tpm2") && unattended("clevis"));
        assert!(!unattended("systemd-fido2") && !unattended("systemd-pkcs11") && !unattended("systemd-recovery"));
    }
}
