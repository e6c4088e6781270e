//! `cryptsetup` at the prompt, over the boot's own LUKS code (no cryptsetup binary needed):
//! `open`/`luksOpen`, `close`/`luksClose`, `status`, `luksDump`, `isLuks`. The passphrase is read
//! by the command itself with echo off, so it is never part of a command line or the history.

use std::io::Write;
use std::path::Path;

use crate::ask::{self, Answer};
use crate::devices::BlockDev;
use crate::shell::{Io, Shell};
use crate::storage::{dm, keyfile, luks_open, luks_rules};

pub(super) const USAGE: &str = "cryptsetup open|luksOpen [--key-file FILE] [--allow-discards] [--readonly] DEVICE NAME: unlock a LUKS device as /dev/mapper/NAME (the passphrase is asked for, never echoed; 3 tries)
cryptsetup close|luksClose NAME: remove the mapping
cryptsetup status NAME: show a mapping (cipher, device, offset; never the key)
cryptsetup luksDump DEVICE: show the LUKS header (keyslots, KDF, segments; no key material)
cryptsetup isLuks DEVICE: status 0 if DEVICE holds a LUKS header
DEVICE may be /dev/…, UUID=… or LABEL=…";

/// The device a `DEVICE` operand names among the boot's scan: a node, a /dev/disk link, or
/// `UUID=`/`LABEL=`/`PARTUUID=`.
fn find<'a>(devs: &'a [BlockDev], spec: &str) -> Option<&'a BlockDev> {
    let resolved = std::fs::canonicalize(spec).ok().map(|p| p.display().to_string());
    devs.iter().find(|d| {
        let node = d.node().display().to_string();
        let fs = d.fs.as_ref();
        resolved.as_deref() == Some(node.as_str())
            || luks_rules::spec_matches(
                spec,
                &node,
                fs.and_then(|f| f.uuid.as_deref()),
                fs.and_then(|f| f.label.as_deref()),
                d.partuuid.as_deref(),
            )
    })
}

pub(super) fn cryptsetup(sh: &mut Shell<'_>, args: &[String], io: &mut Io) -> i32 {
    let mut key_file = None;
    let mut discards = false;
    let mut read_only = false;
    let mut ops: Vec<&str> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--key-file" | "-d" => match it.next() {
                Some(f) => key_file = Some(f.clone()),
                None => fail!(io, 1, "cryptsetup: --key-file needs a FILE"),
            },
            s if s.starts_with("--key-file=") => key_file = Some(s["--key-file=".len()..].to_string()),
            "--allow-discards" => discards = true,
            "--readonly" | "-r" => read_only = true,
            "--type" => {
                it.next();
            }
            s if s.starts_with('-') && s.len() > 1 => {
                fail!(io, 1, "cryptsetup: unknown option {s} (see cryptsetup --help)")
            }
            s => ops.push(s),
        }
    }
    let Some(boot) = sh.boot.as_deref_mut() else {
        fail!(io, 1, "cryptsetup: only available in the initramfs");
    };
    let devs = boot.rescan().to_vec();
    let dev_dir = boot.paths().dev.clone();
    match ops.as_slice() {
        ["open" | "luksOpen", dev, name] => {
            let Some(d) = find(&devs, dev) else {
                fail!(io, 1, "cryptsetup: Device {dev} does not exist or access denied.")
            };
            if d.fs.as_ref().is_none_or(|f| f.fstype != "crypto_LUKS") {
                fail!(io, 1, "cryptsetup: Device {} is not a valid LUKS device.", d.node().display());
            }
            if Path::new("/dev/mapper").join(name).exists() {
                fail!(io, 5, "cryptsetup: Device {name} already exists.");
            }
            let loader = boot.loader().cloned();
            let tries = if key_file.is_some() { 1 } else { 3 };
            for _ in 0..tries {
                let secret = match &key_file {
                    Some(f) => match keyfile::read_file(Path::new(f)) {
                        Ok(s) => s,
                        Err(e) => fail!(io, 1, "cryptsetup: {e}"),
                    },
                    None => {
                        let prompt = format!("Enter passphrase for {}: ", d.node().display());
                        let answer = match io.input.as_mut() {
                            Some(f) => ask::read_secret(&prompt, f, &mut io.err),
                            None => ask::read_secret(&prompt, &mut std::io::stdin(), &mut io.err),
                        };
                        match answer {
                            Answer::Secret(s) => s,
                            Answer::Cancelled | Answer::TimedOut => fail!(io, 1, "cryptsetup: no passphrase given"),
                            Answer::NoConsole(e) => fail!(io, 1, "cryptsetup: cannot read the passphrase: {e}"),
                        }
                    }
                };
                match luks_open::open_by_hand(d, name, &secret, discards, read_only, &dev_dir, loader.as_deref()) {
                    Ok(n) => {
                        boot.settle();
                        boot.rescan();
                        let _ = writeln!(io.out, "{} is open as /dev/mapper/{n}", d.node().display());
                        return 0;
                    }
                    Err(e @ luks_open::Error::WrongPassphrase) => {
                        let _ = writeln!(io.err, "{e}");
                    }
                    Err(e) => fail!(io, 1, "cryptsetup: {e}"),
                }
            }
            2
        }
        ["close" | "luksClose" | "remove", name] => {
            let ctl = match dm::Control::open(&dev_dir) {
                Ok(c) => c,
                Err(e) => fail!(io, 1, "cryptsetup: {e}"),
            };
            match ctl.remove(name) {
                Ok(()) => {
                    boot.rescan();
                    0
                }
                Err(e) => fail!(io, 1, "cryptsetup: {e}"),
            }
        }
        ["status", name] => status(name, &devs, &dev_dir, io),
        ["luksDump", dev] => {
            let Some(d) = find(&devs, dev) else {
                fail!(io, 1, "cryptsetup: Device {dev} does not exist or access denied.")
            };
            match luks_open::dump(d, &dev_dir) {
                Ok(text) => {
                    let _ = io.out.write_all(text.as_bytes());
                    0
                }
                Err(e) => fail!(io, 1, "cryptsetup: {e}"),
            }
        }
        ["isLuks", dev] => match find(&devs, dev) {
            Some(d) if d.fs.as_ref().is_some_and(|f| f.fstype == "crypto_LUKS") => 0,
            _ => 1,
        },
        _ => fail!(io, 1, "usage: {USAGE}"),
    }
}

/// `cryptsetup status NAME`, from the crypt table with its key left out.
fn status(name: &str, devs: &[BlockDev], dev_dir: &Path, io: &mut Io) -> i32 {
    let ctl = match dm::Control::open(dev_dir) {
        Ok(c) => c,
        Err(e) => fail!(io, 1, "cryptsetup: {e}"),
    };
    let (info, table) = match (ctl.info(name), ctl.table(name)) {
        (Ok(i), Ok(t)) => (i, t),
        _ => {
            let _ = writeln!(io.out, "/dev/mapper/{name} is inactive.");
            return 4;
        }
    };
    let Some(t) = table.iter().find(|t| t.kind == "crypt") else {
        fail!(io, 1, "cryptsetup: /dev/mapper/{name} is active but not a crypt device");
    };
    let p = status_fields(&t.params);
    let kind = info.uuid.strip_prefix("CRYPT-").and_then(|u| u.split('-').next()).unwrap_or("PLAIN");
    let device =
        devs.iter().find(|d| d.devno() == p.device).map_or(p.device.clone(), |d| d.node().display().to_string());
    let in_use = if info.open_count > 0 { " and is in use" } else { "" };
    let mode = if info.flags & dm::READONLY != 0 { "readonly" } else { "read/write" };
    let _ = writeln!(io.out, "/dev/mapper/{name} is active{in_use}.");
    let _ = writeln!(io.out, "  type:    {kind}");
    let _ = writeln!(io.out, "  cipher:  {}", p.cipher);
    let _ = writeln!(io.out, "  keysize: {} bits", p.key_bits);
    let _ = writeln!(io.out, "  device:  {device}");
    let _ = writeln!(io.out, "  sector size:  {}", p.sector_size);
    let _ = writeln!(io.out, "  offset:  {} sectors", p.offset);
    let _ = writeln!(io.out, "  size:    {} sectors", t.length);
    let _ = writeln!(io.out, "  mode:    {mode}");
    if !p.flags.is_empty() {
        let _ = writeln!(io.out, "  flags:   {}", p.flags.join(" "));
    }
    0
}

/// What `status` shows of a crypt table line: `cipher key iv_offset device offset [n opts…]`.
#[derive(Debug, PartialEq, Eq)]
struct Fields {
    cipher: String,
    key_bits: usize,
    device: String,
    offset: String,
    sector_size: String,
    flags: Vec<String>,
}

fn status_fields(params: &str) -> Fields {
    let w: Vec<&str> = params.split_whitespace().collect();
    let get = |i: usize| w.get(i).copied().unwrap_or("").to_string();
    let opts: Vec<String> = w.iter().skip(6).map(|s| s.to_string()).collect();
    let sector_size =
        opts.iter().find_map(|o| o.strip_prefix("sector_size:").map(str::to_string)).unwrap_or_else(|| "512".into());
    let key = w.get(1).copied().unwrap_or("");
    // A key in the kernel keyring (`:64:logon:…`) gives its size; a hex key its length.
    let key_bits = match key.strip_prefix(':').and_then(|k| k.split(':').next()) {
        Some(n) => n.parse::<usize>().unwrap_or(0) * 8,
        None => key.len() * 4,
    };
    Fields {
        cipher: get(0),
        key_bits,
        device: get(3),
        offset: get(4),
        sector_size,
        flags: opts.into_iter().filter(|o| !o.starts_with("sector_size:")).map(|o| o.replace('_', "-")).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reads_the_table_without_the_key() {
        let f = status_fields("aes-xts-plain64 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff 0 254:2 32768 2 allow_discards sector_size:4096");
        assert_eq!(
            f,
            Fields {
                cipher: "aes-xts-plain64".into(),
                key_bits: 256,
                device: "254:2".into(),
                offset: "32768".into(),
                sector_size: "4096".into(),
                flags: vec!["allow-discards".into()],
            }
        );
        assert!(!format!("{f:?}").contains("0011"), "the key is not kept");
        assert_eq!(status_fields("aes-xts-plain64 :64:logon:cryptsetup:x 0 8:1 4096").key_bits, 512);
        assert_eq!(status_fields("").cipher, "");
    }
}
