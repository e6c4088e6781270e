//! Key files for LUKS containers (`rd.luks.key=`, crypttab's third field, the shell's
//! `cryptsetup --key-file`): read from the image, or from the key device the spec names, mounted
//! read-only under /run for the read; `keyfile-offset`/`keyfile-size` applied and never more
//! than [`MAX_KEYFILE`] read. The bytes live in zeroizing buffers.

use std::fs::File;
use std::io::Read as _;
use std::path::Path;

use zeroize::Zeroizing;

use crate::devices::BlockDev;
use crate::kmod::Loader;

use super::luks_rules::{self, KeySpec, Open};

/// Key files larger than this are refused (cryptsetup's default `--keyfile-size` limit).
pub const MAX_KEYFILE: u64 = 8 << 20;

/// Why a key file gave no key. The boot decides on the variant: a key device not there yet is
/// waited for, anything else falls back to the passphrase; the text is what it logs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The key file's device is not (yet) there: `rd.luks.key=PATH:UUID=…`.
    #[error("no device {0} with a filesystem is present")]
    NoDevice(String),
    #[error("cannot open {path}: {err}")]
    Open { path: String, err: String },
    #[error("cannot read {path}: {err}")]
    Read { path: String, err: String },
    #[error("{path} is larger than {mib} MiB; give keyfile-size=")]
    TooLarge { path: String, mib: u64 },
    #[error("{0} is empty")]
    Empty(String),
    #[error("cannot make {path}: {err}")]
    MakeDir { path: String, err: String },
    #[error("cannot mount {node} ({fstype}) read-only: {err}")]
    Mount { node: String, fstype: String, err: String },
    /// A key file's error, on the key device named.
    #[error("{source} on {node}")]
    OnDevice { source: Box<Error>, node: String },
}

/// A key file named in the shell (`--key-file`), read within the same bounds as at boot.
pub fn read_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, Error> {
    let open = Open {
        name: String::new(),
        keys: Vec::new(),
        keyfile_offset: 0,
        keyfile_size: None,
        allow_discards: false,
        read_only: false,
        tries: 1,
        ignored: Vec::new(),
        token: Default::default(),
    };
    read_bounded(path, &open)
}

/// A key file's bytes: from the image, or from the device its spec names, mounted read-only
/// under /run for the read and unmounted after. `keyfile-offset`/`keyfile-size` applied.
pub fn read(
    k: &KeySpec,
    open: &Open,
    devs: &[BlockDev],
    dev_dir: &Path,
    loader: Option<&Loader>,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let Some(spec) = &k.device else {
        return read_bounded(Path::new(&k.path), open);
    };
    let d = devs
        .iter()
        .find(|d| {
            let fs = d.fs.as_ref();
            fs.is_some_and(|f| f.mountable())
                && luks_rules::spec_matches(
                    spec,
                    &d.node().display().to_string(),
                    fs.and_then(|f| f.uuid.as_deref()),
                    fs.and_then(|f| f.label.as_deref()),
                    d.partuuid.as_deref(),
                )
        })
        .ok_or_else(|| Error::NoDevice(spec.clone()))?;
    let fstype = d.fs.as_ref().map(|f| f.fstype.clone()).unwrap_or_default();
    if let Some(loader) = loader {
        loader.request_stack(&[format!("fs-{fstype}")], false);
    }
    let dir = Path::new("/run/rdbreak/keydev");
    std::fs::create_dir_all(dir).map_err(|e| Error::MakeDir { path: dir.display().to_string(), err: e.to_string() })?;
    let source = dev_dir.join(&d.name);
    rustix::mount::mount(&source, dir, fstype.as_str(), rustix::mount::MountFlags::RDONLY, None).map_err(|e| {
        Error::Mount { node: d.node().display().to_string(), fstype: fstype.clone(), err: e.to_string() }
    })?;
    let read = read_bounded(&dir.join(k.path.trim_start_matches('/')), open);
    if let Err(e) = rustix::mount::unmount(dir, rustix::mount::UnmountFlags::DETACH) {
        log::warn!("cannot unmount the key device {} from {}: {e}", d.node().display(), dir.display());
    }
    read.map_err(|e| Error::OnDevice { source: Box::new(e), node: d.node().display().to_string() })
}

/// Reads at most `keyfile-size` (else [`MAX_KEYFILE`]) bytes from `keyfile-offset`.
fn read_bounded(path: &Path, open: &Open) -> Result<Zeroizing<Vec<u8>>, Error> {
    let f = File::open(path).map_err(|e| Error::Open { path: path.display().to_string(), err: e.to_string() })?;
    let cap = open.keyfile_size.unwrap_or(MAX_KEYFILE).min(MAX_KEYFILE);
    let mut buf = Zeroizing::new(Vec::new());
    let mut r = std::io::BufReader::new(f);
    std::io::copy(&mut (&mut r).take(open.keyfile_offset), &mut std::io::sink())
        .map_err(|e| Error::Read { path: path.display().to_string(), err: e.to_string() })?;
    r.take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::Read { path: path.display().to_string(), err: e.to_string() })?;
    if buf.len() as u64 > cap && open.keyfile_size.is_none() {
        return Err(Error::TooLarge { path: path.display().to_string(), mib: MAX_KEYFILE >> 20 });
    }
    buf.truncate(cap as usize);
    if buf.is_empty() {
        return Err(Error::Empty(path.display().to_string()));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_read_within_their_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, b"0123456789").unwrap();
        let mut o = Open {
            name: "n".into(),
            keys: vec![],
            keyfile_offset: 2,
            keyfile_size: Some(4),
            allow_discards: false,
            read_only: false,
            tries: 3,
            ignored: vec![],
            token: Default::default(),
        };
        assert_eq!(&read_bounded(&p, &o).unwrap()[..], b"2345");
        o.keyfile_size = None;
        assert_eq!(&read_bounded(&p, &o).unwrap()[..], b"23456789");
        o.keyfile_offset = 50;
        assert_eq!(read_bounded(&p, &o).unwrap_err().to_string(), format!("{} is empty", p.display()));
        let big = std::fs::File::create(dir.path().join("big")).unwrap();
        big.set_len(MAX_KEYFILE + 1).unwrap();
        o.keyfile_offset = 0;
        assert!(read_bounded(&dir.path().join("big"), &o).unwrap_err().to_string().contains("larger than 8 MiB"));
        let k = KeySpec { path: "/k".into(), device: Some("LABEL=absent".into()) };
        let missing = read(&k, &o, &[], dir.path(), None).unwrap_err();
        assert!(matches!(&missing, Error::NoDevice(spec) if spec == "LABEL=absent"), "{missing:?}");
        assert_eq!(missing.to_string(), "no device LABEL=absent with a filesystem is present");
    }
}
