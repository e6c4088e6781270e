//! The crypttab options (and `rd.luks.options=`) that ask systemd-cryptsetup to unlock with a
//! token instead of a typed passphrase: `tpm2-device=`, `tpm2-pcrs=`, `tpm2-pin=`,
//! `fido2-device=`, `pkcs11-uri=`, `token-timeout=`, `headless=` (systemd's crypttab(5)). They
//! are read here so the boot knows what stock would have done; rdbreak itself does not unseal.

use std::time::Duration;

/// What the token options of one container say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenOptions {
    /// `tpm2-device=`: `auto` or a device path.
    pub tpm2_device: Option<String>,
    /// `tpm2-pcrs=`: the PCRs a new enrollment would bind (bit n = PCR n); the header's token
    /// says what an existing one binds.
    pub tpm2_pcrs: Option<u32>,
    /// `tpm2-pin=`: a PIN is asked for the TPM2 token.
    pub tpm2_pin: bool,
    /// `fido2-device=`: `auto` or a hidraw path.
    pub fido2_device: Option<String>,
    /// `pkcs11-uri=`: `auto` or a `pkcs11:` URI.
    pub pkcs11_uri: Option<String>,
    /// `token-timeout=`: how long systemd waits for a token device (default 30 s; 0: forever).
    pub token_timeout: Option<Duration>,
    /// `headless=`: never ask on a console; a container no token opens fails.
    pub headless: bool,
}

/// The option names read here.
pub const KEYS: &[&str] =
    &["tpm2-device", "tpm2-pcrs", "tpm2-pin", "fido2-device", "pkcs11-uri", "token-timeout", "headless"];

/// systemd's names for the PCRs (`tpm2-pcrs=secure-boot-policy`), by index.
const PCR_NAMES: &[(&str, u32)] = &[
    ("platform-code", 0),
    ("platform-config", 1),
    ("external-code", 2),
    ("external-config", 3),
    ("boot-loader-code", 4),
    ("boot-loader-config", 5),
    ("host-platform", 6),
    ("secure-boot-policy", 7),
    ("kernel-initrd", 8),
    ("ima", 9),
    ("kernel-boot", 11),
    ("kernel-config", 12),
    ("sysexts", 13),
    ("shim-policy", 14),
    ("system-identity", 15),
    ("debug", 16),
    ("application-support", 23),
];

/// A boolean as systemd's parse_boolean reads it.
fn boolean(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Some(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Some(false),
        _ => None,
    }
}

/// `tpm2-pcrs=`: `+`-separated PCR numbers or names, each optionally with `:BANK=DIGEST`
/// (a value to check; the index is what is kept); empty is none.
pub fn pcrs(v: &str) -> Result<u32, String> {
    let mut mask = 0u32;
    for item in v.split('+').map(str::trim).filter(|i| !i.is_empty()).take(64) {
        let name = item.split(':').next().unwrap_or(item);
        let n = match name.parse::<u32>() {
            Ok(n) => n,
            Err(_) => PCR_NAMES
                .iter()
                .find(|(p, _)| *p == name)
                .map(|(_, n)| *n)
                .ok_or_else(|| format!("{name:?} is not a PCR number (0 to 23) or one of systemd's PCR names"))?,
        };
        if n > 23 {
            return Err(format!("PCR {n} (a TPM2 has 0 to 23)"));
        }
        mask |= 1 << n;
    }
    Ok(mask)
}

/// A time span as systemd writes them (`30s`, `1min 30s`, `500ms`, `2h`; a bare number is
/// seconds), capped at a day.
pub fn time_span(v: &str) -> Result<Duration, String> {
    let bad = || format!("{v:?} is not a time span (like 30s, 2min, 500ms)");
    let mut total = Duration::ZERO;
    let mut rest = v.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut parts = 0;
    while !rest.is_empty() {
        parts += 1;
        if parts > 16 {
            return Err(bad());
        }
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = rest[digits..].trim_start();
        let unit = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let ms: u64 = match &rest[..unit] {
            "" | "s" | "sec" | "second" | "seconds" => 1000,
            "ms" | "msec" => 1,
            "m" | "min" | "minute" | "minutes" => 60_000,
            "h" | "hr" | "hour" | "hours" => 3_600_000,
            _ => return Err(bad()),
        };
        rest = rest[unit..].trim_start();
        total = total.saturating_add(Duration::from_millis(n.saturating_mul(ms)));
    }
    Ok(total.min(Duration::from_secs(86_400)))
}

impl TokenOptions {
    /// Takes one option (`key` one of [`KEYS`]); Err says why its value does not read.
    pub fn apply(&mut self, key: &str, value: Option<&str>) -> Result<(), String> {
        let need = || value.filter(|v| !v.is_empty()).ok_or_else(|| format!("{key}= needs a value"));
        let flag = || value.map_or(Some(true), boolean).ok_or_else(|| format!("{key}= is yes or no"));
        match key {
            "tpm2-device" => self.tpm2_device = Some(need()?.to_string()),
            "tpm2-pcrs" => self.tpm2_pcrs = Some(pcrs(value.unwrap_or(""))?),
            "tpm2-pin" => self.tpm2_pin = flag()?,
            "fido2-device" => self.fido2_device = Some(need()?.to_string()),
            "pkcs11-uri" => {
                let v = need()?;
                if v != "auto" && !v.starts_with("pkcs11:") {
                    return Err("pkcs11-uri= is auto or a pkcs11: URI".into());
                }
                self.pkcs11_uri = Some(v.to_string());
            }
            "token-timeout" => self.token_timeout = Some(time_span(need()?)?),
            "headless" => self.headless = flag()?,
            _ => return Err(format!("{key} is not a token option")),
        }
        Ok(())
    }

    /// The token kinds these options ask systemd-cryptsetup to try, as the header names
    /// them.
    pub fn asked(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.tpm2_device.is_some() {
            v.push("systemd-tpm2");
        }
        if self.fido2_device.is_some() {
            v.push("systemd-fido2");
        }
        if self.pkcs11_uri.is_some() {
            v.push("systemd-pkcs11");
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcr_lists_as_systemd_writes_them() {
        assert_eq!(pcrs("7"), Ok(1 << 7));
        assert_eq!(pcrs("0+7+14"), Ok(1 | 1 << 7 | 1 << 14));
        assert_eq!(pcrs("secure-boot-policy+kernel-boot"), Ok(1 << 7 | 1 << 11));
        assert_eq!(pcrs("7:sha256=00ff"), Ok(1 << 7));
        assert_eq!(pcrs(""), Ok(0));
        assert!(pcrs("24").unwrap_err().contains("PCR 24"));
        assert!(pcrs("7,8").is_err());
        assert!(pcrs("bogus").unwrap_err().contains("\"bogus\""));
        assert!(pcrs(&"7+".repeat(100_000)).is_ok(), "long lists are bounded, not refused");
    }

    #[test]
    fn time_spans() {
        for (v, ms) in
            [("30", 30_000), ("30s", 30_000), ("1min 30s", 90_000), ("500ms", 500), ("2h", 7_200_000), ("0", 0)]
        {
            assert_eq!(time_span(v), Ok(Duration::from_millis(ms)), "{v}");
        }
        assert_eq!(time_span("99999999999h"), Ok(Duration::from_secs(86_400)));
        for bad in ["", "s", "10 parsecs", "-1", &"1s".repeat(20)] {
            assert!(time_span(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn options_and_what_they_ask() {
        let mut t = TokenOptions::default();
        t.apply("tpm2-device", Some("auto")).unwrap();
        t.apply("tpm2-pcrs", Some("7+11")).unwrap();
        t.apply("tpm2-pin", Some("yes")).unwrap();
        t.apply("token-timeout", Some("10s")).unwrap();
        t.apply("headless", None).unwrap();
        assert_eq!(
            t,
            TokenOptions {
                tpm2_device: Some("auto".into()),
                tpm2_pcrs: Some(1 << 7 | 1 << 11),
                tpm2_pin: true,
                token_timeout: Some(Duration::from_secs(10)),
                headless: true,
                ..Default::default()
            }
        );
        assert_eq!(t.asked(), ["systemd-tpm2"]);
        t.apply("fido2-device", Some("/dev/hidraw1")).unwrap();
        t.apply("pkcs11-uri", Some("pkcs11:token=x")).unwrap();
        assert_eq!(t.asked(), ["systemd-tpm2", "systemd-fido2", "systemd-pkcs11"]);
        assert!(t.apply("tpm2-device", None).unwrap_err().contains("needs a value"));
        assert!(t.apply("tpm2-pin", Some("maybe")).is_err());
        assert!(t.apply("pkcs11-uri", Some("file:/x")).is_err());
        assert!(t.apply("headless", Some("0")).is_ok() && !t.headless);
    }
}
