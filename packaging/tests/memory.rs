//! Decompression bombs: a small image holding a large file is read with bounded memory, by
//! `ls` and by `unpack`, whatever its compression. The peak is the kernel's own count
//! (VmHWM) of a child process that reads one image and nothing else.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use rdbreak::cpio::{self, Entry};

const CHILD: &str = "RDBREAK_MEMORY_CHILD";
/// The limit the issue sets for a 1 GiB bomb; the old reader needed the whole file, twice.
const LIMIT_KIB: u64 = 16 << 10;
/// Big enough that holding it shows (the image itself is a few KiB), small enough for a
/// debug build to decompress quickly.
const FILE: usize = 24 << 20;

fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// In the child: read one image as asked, then report the peak.
fn child(spec: &str) {
    let (what, rest) = spec.split_once(':').unwrap();
    let (image, dir) = rest.split_once(':').unwrap();
    let input = std::fs::File::open(image).unwrap();
    match what {
        "ls" => {
            let n = rdbreak::listing::list(input, &mut std::io::sink(), &mut std::io::stderr(), &Default::default())
                .unwrap();
            assert_eq!(n, 0);
        }
        _ => {
            let mut report = |_: rdbreak::unpack::Level, _: &[u8], why: &str| panic!("{why}");
            let s = rdbreak::unpack::unpack(input, Path::new(dir), &Default::default(), &mut report).unwrap();
            assert_eq!(s.written, 1);
            assert_eq!(std::fs::metadata(Path::new(dir).join("bomb")).unwrap().len(), FILE as u64);
        }
    }
    println!("\npeak {} KiB", peak_kib());
}

fn compress(tool: &[&str], plain: &[u8]) -> Option<Vec<u8>> {
    let mut c = Command::new(tool[0]).args(&tool[1..]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().ok()?;
    let mut stdin = c.stdin.take().unwrap();
    let plain = plain.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&plain));
    let out = c.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{tool:?}");
    Some(out.stdout)
}

#[test]
fn a_decompression_bomb_is_read_in_bounded_memory() {
    if let Ok(spec) = std::env::var(CHILD) {
        return child(&spec);
    }
    let dir = tempfile::tempdir().unwrap();
    let plain = cpio::write(&[Entry::file("bomb", 0o644, vec![0; FILE])], 0);
    let tools: [(&str, &[&str]); 6] = [
        ("none", &["cat"]),
        ("gzip", &["gzip", "-c"]),
        ("zstd", &["zstd", "-c", "-q"]),
        ("xz", &["xz", "-c", "--check=crc32"]),
        ("bzip2", &["bzip2", "-c"]),
        ("lz4", &["lz4", "-l", "-c", "-q"]),
    ];
    let mut peaks = Vec::new();
    for (name, tool) in tools {
        let Some(image) = compress(tool, &plain) else {
            eprintln!("skipping {name}: {} is not installed", tool[0]);
            continue;
        };
        let path = dir.path().join(format!("bomb.{name}"));
        std::fs::write(&path, &image).unwrap();
        for what in ["ls", "unpack"] {
            let out_dir = dir.path().join(format!("out-{name}-{what}"));
            let out = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "a_decompression_bomb_is_read_in_bounded_memory", "--nocapture", "--test-threads=1"])
                .env(CHILD, format!("{what}:{}:{}", path.display(), out_dir.display()))
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{what} {name}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
            let peak: u64 = stdout
                .lines()
                .find_map(|l| l.split("peak ").nth(1)?.split(" KiB").next()?.parse().ok())
                .unwrap_or_else(|| panic!("no peak in {stdout}"));
            peaks.push(format!("{what} {name} ({} bytes): {peak} KiB", image.len()));
            assert!(
                peak < LIMIT_KIB,
                "{what} of a {name} image of {} bytes holding {FILE} bytes peaked at {peak} KiB",
                image.len()
            );
            let _ = std::fs::remove_dir_all(&out_dir);
        }
    }
    eprintln!("{}", peaks.join("\n"));
}
