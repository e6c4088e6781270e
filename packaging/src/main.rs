//! `rdbreak`: build and inspect initramfs images.
//!
//!   rdbreak build -o IMAGE [options]     a bootable image with rdbreak as /init, no dracut needed
//!   rdbreak ls IMAGE                     list any initramfs (dracut's, initramfs-tools')
//!   rdbreak unpack IMAGE DIR             extract it safely
//!   rdbreak cat|modules|info IMAGE …     lsinitrd's other jobs (`rdbreak --help`)

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use rdbreak::cli::{self, Parsed, UsageError};
use rdbreak::{image, inspect, listing, pattern, unpack};

/// Where the static init is looked for when `--init` is not given: beside an installed rdbreak
/// (PREFIX/lib/rdbreak), the workspace's musl build beside this build (a fresh clone), then
/// the packages' path.
fn init_candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        v.push(dir.join("../lib/rdbreak/rdbreak-init"));
        // target/release/rdbreak or target/debug/rdbreak → target/x86_64-unknown-linux-musl/release
        v.push(dir.join("../x86_64-unknown-linux-musl/release/rdbreak-init"));
    }
    v.push(PathBuf::from("target/x86_64-unknown-linux-musl/release/rdbreak-init"));
    v.push(PathBuf::from("/usr/lib/rdbreak/rdbreak-init"));
    v
}

fn default_init() -> Result<PathBuf> {
    let candidates = init_candidates();
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    bail!(
        "no rdbreak-init found (looked at {}); build it with `cargo build --release -p rdbreak-init --target x86_64-unknown-linux-musl` and pass --init target/x86_64-unknown-linux-musl/release/rdbreak-init",
        looked.join(", ")
    )
}

fn build(p: &Parsed, out_stream: &mut dyn Write) -> Result<()> {
    let release = rustix::system::uname().release().to_string_lossy().to_string();
    let mut o =
        image::Options { default_modules: true, firmware_dir: PathBuf::from("/lib/firmware"), ..Default::default() };
    let out = p.value("output").map(PathBuf::from).ok_or_else(|| {
        UsageError(format!("rdbreak build needs -o IMAGE\nusage: rdbreak build {}", cli::COMMANDS[0].operands))
    })?;
    o.kver = p.value("kver").map_or(release, str::to_string);
    for m in p.values("modules") {
        o.modules.extend(m.split(',').filter(|s| !s.is_empty()).map(str::to_string));
    }
    o.module_files = p.values("module-file").map(PathBuf::from).collect();
    o.host_modules = p.flag("host-modules");
    o.default_modules = !p.flag("no-default-modules");
    if let Some(s) = p.value("storage") {
        o.storage = Some(image::parse_storage(s)?);
    }
    o.binaries = p.values("binary").map(PathBuf::from).collect();
    for v in p.values("file") {
        let (src, dst) = v.split_once(':').unwrap_or((v, v));
        let dst = image::image_path(dst).with_context(|| format!("--file {v}"))?;
        o.files.push((PathBuf::from(src), dst));
    }
    o.cmdline = p.value("cmdline").map(str::to_string);
    if let Some(c) = p.value("compress") {
        o.compression = Some(rdbreak::compress::parse_format(c)?);
    }
    o.early_cpio = p.value("early-cpio").map(PathBuf::from);
    o.kmoddir = p.value("kmoddir").map_or_else(|| Path::new("/lib/modules").join(&o.kver), PathBuf::from);
    o.init = match p.value("init") {
        Some(i) => PathBuf::from(i),
        None => default_init()?,
    };
    o.mtime = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let (bytes, entries, modules) = image::build(&o)?;
    rdbreak::atomic::write(&out, &bytes)?;
    writeln!(
        out_stream,
        "{}: {} bytes, {entries} entries, {modules} kernel modules for {}",
        out.display(),
        bytes.len(),
        o.kver
    )?;
    Ok(())
}

/// The running kernel's image, as dracut (initramfs-VERSION.img) or initramfs-tools
/// (initrd.img-VERSION) names it.
fn default_image() -> Result<String> {
    let release = rustix::system::uname().release().to_string_lossy().to_string();
    let candidates = [format!("/boot/initrd.img-{release}"), format!("/boot/initramfs-{release}.img")];
    candidates.iter().find(|c| Path::new(c).exists()).cloned().with_context(|| {
        format!("no image given, and the running kernel's is not there ({}); name the IMAGE", candidates.join(" or "))
    })
}

/// The image at `path` ("-": standard input), read as a stream.
fn open(path: &str) -> Result<Box<dyn std::io::Read>> {
    if path == "-" {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    let f = std::fs::File::open(path).with_context(|| format!("cannot read the image {path}"))?;
    Ok(Box::new(f))
}

fn image_error(path: &str) -> impl FnOnce() -> String + '_ {
    move || format!("the image {path}")
}

fn select(patterns: &[String]) -> impl Fn(&[u8]) -> bool + '_ {
    move |path: &[u8]| patterns.iter().any(|p| pattern::selects(p.as_bytes(), path))
}

fn ls(p: &Parsed, out: &mut dyn Write) -> Result<()> {
    let (path, patterns) = match p.operands.split_first() {
        Some((image, rest)) => (image.clone(), rest.to_vec()),
        None => (default_image()?, Vec::new()),
    };
    let sort_size = match p.value("sort") {
        None | Some("name") => false,
        Some("size") => true,
        Some(other) => return Err(UsageError(format!("--sort {other}: sort by name or size")).into()),
    };
    let keep = select(&patterns);
    let opts = listing::Options {
        long: p.flag("long"),
        parts_only: p.flag("segments"),
        sort_size,
        select: (!patterns.is_empty()).then_some(&keep as &dyn Fn(&[u8]) -> bool),
    };
    let problems = listing::list(open(&path)?, out, &mut std::io::stderr(), &opts).with_context(image_error(&path))?;
    if problems > 0 {
        bail!("{path}: {problems} bad entries (named above)");
    }
    Ok(())
}

/// Entry failures printed one by one before the rest are only counted: a target that fails
/// every entry is said in a few lines, not thousands.
const SHOWN_FAILURES: usize = 10;

fn unpack(p: &Parsed, out: &mut dyn Write) -> Result<()> {
    let (path, dir) = (p.operands[0].as_str(), p.operands[1].as_str());
    let patterns = p.operands[2..].to_vec();
    unpack::check_target(Path::new(dir), p.flag("force"))?;
    let mut shown = 0;
    let mut report = |level: unpack::Level, name: &[u8], why: &str| {
        shown += 1;
        if shown > SHOWN_FAILURES {
            return;
        }
        let name = if name.is_empty() { String::new() } else { format!("{}: ", listing::escape(name)) };
        let note = if level == unpack::Level::Skipped { "skipped " } else { "" };
        eprintln!("rdbreak: {note}{name}{why}");
    };
    let keep = select(&patterns);
    let opts = unpack::Options {
        preserve_setid: p.flag("preserve-setid"),
        split: p.flag("split"),
        select: (!patterns.is_empty()).then_some(&keep as &dyn Fn(&[u8]) -> bool),
    };
    let done = unpack::unpack(open(path)?, Path::new(dir), &opts, &mut report);
    let s = match done {
        Err(e) if e.downcast_ref::<unpack::TargetError>().is_some() => return Err(e),
        r => r.with_context(image_error(path))?,
    };
    if shown > SHOWN_FAILURES {
        eprintln!("rdbreak: … and {} more entries not extracted as asked (not shown)", shown - SHOWN_FAILURES);
    }
    if s.setid_dropped > 0 {
        eprintln!(
            "rdbreak: dropped the set-user-ID/set-group-ID bits of {} files (--preserve-setid keeps them)",
            s.setid_dropped
        );
    }
    writeln!(out, "{} entries extracted into {dir}", s.written)?;
    if s.failed > 0 {
        bail!("{} entries of {path} could not be extracted (named above)", s.failed);
    }
    Ok(())
}

fn cat(p: &Parsed, out: &mut dyn Write) -> Result<()> {
    let path = &p.operands[0];
    inspect::cat(open(path)?, &p.operands[1..], out).with_context(image_error(path))
}

fn facts(p: &Parsed) -> Result<inspect::Facts> {
    let path = match p.operands.first() {
        Some(i) => i.clone(),
        None => default_image()?,
    };
    inspect::facts(open(&path)?).with_context(image_error(&path))
}

fn run(out: &mut dyn Write) -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default();
    let name = args.first().map(String::as_str);
    match name {
        Some("--version" | "-V") if rest.is_empty() => {
            writeln!(out, "rdbreak {}", env!("CARGO_PKG_VERSION"))?;
            return Ok(());
        }
        Some("help" | "--help" | "-h") => {
            match rest.first().and_then(|c| cli::command(c)) {
                Some(c) => write!(out, "{}", cli::help(c))?,
                None => writeln!(out, "{}", cli::usage())?,
            }
            return Ok(());
        }
        _ => {}
    }
    let Some(cmd) = name.and_then(cli::command) else {
        let what = name.map_or("missing command".to_string(), |n| format!("unknown command or extra arguments: {n}"));
        return Err(UsageError(format!("{what}\n{}", cli::usage())).into());
    };
    let p = cli::parse(cmd, rest)?;
    if p.help {
        write!(out, "{}", cli::help(cmd))?;
        return Ok(());
    }
    match cmd.name {
        "build" => build(&p, out),
        "ls" => ls(&p, out),
        "unpack" => unpack(&p, out),
        "cat" => cat(&p, out),
        "modules" => Ok(inspect::modules(&facts(&p)?, out)?),
        _ => Ok(inspect::info(&facts(&p)?, out)?),
    }
}

fn main() -> std::process::ExitCode {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let r = run(&mut out).and_then(|()| Ok(out.flush()?));
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // `rdbreak ls IMAGE | head`: the reader went away, nothing to say.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            // What is left in the buffer goes first; a closed pipe here is no news either.
            let _ = out.flush();
            eprintln!("rdbreak: {e:#}");
            let usage = e.downcast_ref::<UsageError>().is_some();
            std::process::ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}
