//! `rdbreak`: build and inspect initramfs images.
//!
//!   rdbreak build -o IMAGE [options]     a bootable image with rdbreak as /init, no dracut needed
//!   rdbreak ls IMAGE                     list any initramfs (dracut's, initramfs-tools')
//!   rdbreak unpack IMAGE DIR             extract it safely

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use rdbreak::{image, listing, unpack};

const USAGE: &str = "usage:
  rdbreak build -o IMAGE [--kver VERSION] [--kmoddir DIR] [--modules A,B] [--module-file PATH]
                [--host-modules] [--no-default-modules] [--storage lvm,md,luks|none]
                [--binary PATH] [--file SRC[:DEST]]
                [--cmdline \"ARGS\"] [--compress zstd|gzip|xz|none] [--early-cpio PATH] [--init PATH]
  rdbreak ls [--segments] IMAGE        (IMAGE - reads standard input)
  rdbreak unpack IMAGE DIR
  rdbreak --version";

fn default_init() -> PathBuf {
    let beside = std::env::current_exe().ok().and_then(|e| e.parent().map(|d| d.join("../lib/rdbreak/rdbreak-init")));
    beside.filter(|p| p.exists()).unwrap_or_else(|| PathBuf::from("/usr/lib/rdbreak/rdbreak-init"))
}

fn build(args: &[String]) -> Result<()> {
    let release = rustix::system::uname().release().to_string_lossy().to_string();
    let mut o =
        image::Options { default_modules: true, firmware_dir: PathBuf::from("/lib/firmware"), ..Default::default() };
    let mut out: Option<PathBuf> = None;
    let mut kmoddir: Option<PathBuf> = None;
    let mut init: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().with_context(|| format!("{a} needs a value\n{USAGE}"));
        match a.as_str() {
            "-o" | "--output" => out = Some(PathBuf::from(value()?)),
            "--kver" => o.kver = value()?,
            "--kmoddir" => kmoddir = Some(PathBuf::from(value()?)),
            "--modules" | "-m" => o.modules.extend(value()?.split(',').filter(|s| !s.is_empty()).map(str::to_string)),
            "--module-file" => o.module_files.push(PathBuf::from(value()?)),
            "--host-modules" => o.host_modules = true,
            "--no-default-modules" => o.default_modules = false,
            "--storage" => o.storage = Some(image::parse_storage(&value()?)?),
            "--binary" => o.binaries.push(PathBuf::from(value()?)),
            "--file" => {
                let v = value()?;
                let (src, dst) = v.split_once(':').map_or((v.as_str(), v.as_str()), |(a, b)| (a, b));
                let dst = image::image_path(dst).with_context(|| format!("--file {v}"))?;
                o.files.push((PathBuf::from(src), dst));
            }
            "--cmdline" => o.cmdline = Some(value()?),
            "--compress" => o.compression = Some(rdbreak::compress::parse_format(&value()?)?),
            "--early-cpio" => o.early_cpio = Some(PathBuf::from(value()?)),
            "--init" => init = Some(PathBuf::from(value()?)),
            other if other.starts_with('-') => bail!("unknown option {other}\n{USAGE}"),
            other => bail!("unexpected argument {other}\n{USAGE}"),
        }
    }
    let out = out.with_context(|| format!("rdbreak build needs -o IMAGE\n{USAGE}"))?;
    if o.kver.is_empty() {
        o.kver = release;
    }
    o.kmoddir = kmoddir.unwrap_or_else(|| Path::new("/lib/modules").join(&o.kver));
    o.init = init.unwrap_or_else(default_init);
    o.mtime = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let (bytes, entries, modules) = image::build(&o)?;
    rdbreak::atomic::write(&out, &bytes)?;
    println!("{}: {} bytes, {entries} entries, {modules} kernel modules for {}", out.display(), bytes.len(), o.kver);
    Ok(())
}

/// The image at `path` ("-": standard input), read as a stream.
fn open(path: &str) -> Result<Box<dyn std::io::Read>> {
    if path == "-" {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    let f = std::fs::File::open(path).with_context(|| format!("cannot read {path}"))?;
    Ok(Box::new(f))
}

/// Splits `args` into the options `known` allows and exactly `n` operands; anything else is an
/// error that shows the usage.
fn operands<'a>(args: &'a [String], known: &[&str], n: usize) -> Result<(Vec<&'a str>, Vec<&'a str>)> {
    let (mut opts, mut rest) = (Vec::new(), Vec::new());
    let mut only_operands = false;
    for a in args {
        match a.as_str() {
            "--" if !only_operands => only_operands = true,
            o if !only_operands && o.starts_with('-') && o != "-" => {
                if !known.contains(&o) {
                    bail!("unknown option {o}\n{USAGE}");
                }
                opts.push(o);
            }
            operand => rest.push(operand),
        }
    }
    if rest.len() != n {
        let what = if rest.len() > n { format!("unexpected argument {}", rest[n]) } else { "missing argument".into() };
        bail!("{what}\n{USAGE}");
    }
    Ok((opts, rest))
}

fn ls(args: &[String]) -> Result<()> {
    let (opts, rest) = operands(args, &["--segments"], 1)?;
    let path = rest[0];
    let stdout = &mut std::io::stdout().lock();
    let stderr = &mut std::io::stderr();
    let problems = listing::list(open(path)?, stdout, stderr, !opts.is_empty())
        .with_context(|| format!("{path} is not an initramfs rdbreak can read"))?;
    if problems > 0 {
        bail!("{path}: {problems} bad entries (named above)");
    }
    Ok(())
}

fn unpack(args: &[String]) -> Result<()> {
    let (_, rest) = operands(args, &[], 2)?;
    let (path, dir) = (rest[0], rest[1]);
    let mut report = |level: unpack::Level, name: &[u8], why: &str| {
        let name = if name.is_empty() { String::new() } else { format!("{}: ", listing::escape(name)) };
        let note = if level == unpack::Level::Skipped { "skipped " } else { "" };
        eprintln!("rdbreak: {note}{name}{why}");
    };
    let done = unpack::unpack(open(path)?, Path::new(dir), &mut report);
    let s = done.with_context(|| format!("{path} is not an initramfs rdbreak can read"))?;
    println!("{} entries extracted into {dir}", s.written);
    if s.failed > 0 {
        bail!("{} entries of {path} could not be extracted (named above)", s.failed);
    }
    Ok(())
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("build") => build(rest),
        Some("ls") => ls(rest),
        Some("unpack") => unpack(rest),
        Some("--version" | "-V") if rest.is_empty() => {
            println!("rdbreak {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some("help" | "--help" | "-h") if rest.is_empty() => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command or extra arguments: {other}\n{USAGE}"),
        None => bail!("{USAGE}"),
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // `rdbreak ls IMAGE | head`: the reader went away, nothing to say.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("rdbreak: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
