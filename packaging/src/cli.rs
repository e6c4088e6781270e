//! The `rdbreak` command line, spelt once: every command with its operands, options, help text
//! and an example. The parser, `--help` and the man page's test all read this table, so an
//! option cannot exist without being documented (packaging/tests/manpages.rs).

/// One option: `--long` (and `-s`), with a value named `value` or none.
pub struct Opt {
    pub long: &'static str,
    pub short: Option<char>,
    pub value: Option<&'static str>,
    pub help: &'static str,
}

/// One command: `rdbreak NAME OPERANDS`.
pub struct Cmd {
    pub name: &'static str,
    pub operands: &'static str,
    /// How many operands at least, at most (None: any number).
    pub min: usize,
    pub max: Option<usize>,
    pub about: &'static str,
    pub opts: &'static [Opt],
    pub example: &'static str,
}

const fn opt(long: &'static str, short: Option<char>, value: Option<&'static str>, help: &'static str) -> Opt {
    Opt { long, short, value, help }
}

/// The exit codes, as `--help` and rdbreak(1) say them.
pub const EXIT_CODES: &str =
    "exit status: 0 done; 1 failed (an unreadable image, an entry not extracted, a file missing); 2 usage error";

pub const IMAGE_DEFAULT: &str =
    "IMAGE defaults to the running kernel's image (/boot/initrd.img-$(uname -r) or /boot/initramfs-$(uname -r).img); - reads standard input";

pub const COMMANDS: &[Cmd] = &[
    Cmd {
        name: "build",
        operands: "-o IMAGE [OPTION…]",
        min: 0,
        max: Some(0),
        about: "Build a bootable initramfs with rdbreak as /init, without dracut. The image is written atomically, mode 0600 (it may hold a key file); a replaced image keeps its mode.",
        opts: &[
            opt("output", Some('o'), Some("IMAGE"), "the image to write (required)"),
            opt("kver", None, Some("VERSION"), "the kernel release (default: the running kernel's); checked against the modules' vermagic"),
            opt("kmoddir", None, Some("DIR"), "where the modules are (default: /lib/modules/VERSION)"),
            opt("modules", Some('m'), Some("A,B"), "kernel modules (or aliases) to add, with their dependencies"),
            opt("module-file", None, Some("PATH"), "a module file to add"),
            opt("host-modules", None, None, "add the modules loaded on this machine now"),
            opt("no-default-modules", None, None, "leave out the default storage and file-system drivers"),
            opt("storage", None, Some("lvm,md,luks|none"), "the storage stacks whose drivers go in (default: all)"),
            opt("binary", None, Some("PATH"), "add a program and the libraries its ELF headers name"),
            opt("file", None, Some("SRC[:DEST]"), "add a file of this machine (at DEST in the image)"),
            opt("cmdline", None, Some("ARGS"), "kernel command line kept in /etc/cmdline.d/10-rdbreak.conf"),
            opt("compress", None, Some("zstd|gzip|xz|none"), "the compression (default: zstd, as small as zstd -3 or smaller)"),
            opt("early-cpio", None, Some("PATH"), "an uncompressed cpio (microcode) put before the image"),
            opt("init", None, Some("PATH"), "the static rdbreak-init (default: beside rdbreak, the workspace build, then /usr/lib/rdbreak/rdbreak-init)"),
        ],
        example: "rdbreak build -o /boot/initrd.img-$(uname -r) --cmdline \"rd.retry=30\"",
    },
    Cmd {
        name: "ls",
        operands: "[IMAGE [PATTERN…]]",
        min: 0,
        max: None,
        about: "List an initramfs (dracut's, initramfs-tools', mkinitcpio's, rdbreak's): early cpio, then gzip, zstd, xz, lzma, lz4 or bzip2 parts. Default columns: mode, links, uid, gid, size, name. PATTERNs are shell patterns (* crosses /); one naming a directory takes what is under it.",
        opts: &[
            opt("long", Some('l'), None, "cpio -tv's and lsinitrd's lines: owner names and dates (UTC)"),
            opt("sort", None, Some("name|size"), "archive order (name, the default) or largest first (size), within each part"),
            opt("segments", None, None, "only the parts of the image: offset, format, entries"),
        ],
        example: "rdbreak ls -l /boot/initrd.img-$(uname -r) 'usr/lib/modules/*'",
    },
    Cmd {
        name: "cat",
        operands: "IMAGE PATH…",
        min: 2,
        max: None,
        about: "Print files of the image (lsinitrd -f), in the image's order.",
        opts: &[],
        example: "rdbreak cat /boot/initrd.img-$(uname -r) /etc/cmdline.d/10-rdbreak.conf",
    },
    Cmd {
        name: "unpack",
        operands: "IMAGE DIR [PATTERN…]",
        min: 2,
        max: None,
        about: "Extract the image into DIR, safely: nothing leaves DIR; DIR must be new or empty; / and the top directories of the live root are refused; set-user-ID and set-group-ID bits are dropped (said once).",
        opts: &[
            opt("force", Some('f'), None, "extract into a directory that is not empty (its files are overwritten)"),
            opt("preserve-setid", None, None, "keep the set-user-ID and set-group-ID bits of the archive's files"),
            opt("split", None, None, "the early (uncompressed) archives under DIR/early, the rest under DIR/main"),
        ],
        example: "rdbreak unpack --split /boot/initrd.img-$(uname -r) /tmp/initrd",
    },
    Cmd {
        name: "modules",
        operands: "[IMAGE]",
        min: 0,
        max: Some(1),
        about: "The dracut modules recorded in the image (lsinitrd -m) and the kernel modules it holds.",
        opts: &[],
        example: "rdbreak modules /boot/initramfs-$(uname -r).img",
    },
    Cmd {
        name: "info",
        operands: "[IMAGE]",
        min: 0,
        max: Some(1),
        about: "What the image is: its parts with format and sizes, the kernel version, how it was made (dracut's arguments and modules), its /etc/cmdline.d, rdbreak's version, and whether dracut's init is kept as /init.dracut for the hand-off.",
        opts: &[],
        example: "rdbreak info",
    },
];

/// The help option every command has.
pub const HELP: Opt = opt("help", Some('h'), None, "show this help");

pub fn command(name: &str) -> Option<&'static Cmd> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// `rdbreak --help`.
pub fn usage() -> String {
    let mut s = String::from("usage:\n");
    for c in COMMANDS {
        s.push_str(&format!("  rdbreak {} {}\n", c.name, c.operands));
    }
    s.push_str("  rdbreak --version\n  rdbreak COMMAND --help\n");
    s.push_str(EXIT_CODES);
    s
}

/// `rdbreak COMMAND --help`: usage, what it does, options, an example.
pub fn help(c: &Cmd) -> String {
    let mut s = format!("usage: rdbreak {} {}\n\n{}\n", c.name, c.operands, c.about);
    if c.operands.contains("IMAGE") && c.min == 0 {
        s.push_str(&format!("{IMAGE_DEFAULT}.\n"));
    } else if c.operands.contains("IMAGE") {
        s.push_str("IMAGE may be - (standard input).\n");
    }
    s.push_str("\noptions:\n");
    for o in c.opts.iter().chain([&HELP]) {
        let short = o.short.map(|c| format!("-{c}, ")).unwrap_or_default();
        let value = o.value.map(|v| format!(" {v}")).unwrap_or_default();
        s.push_str(&format!("  {short}--{}{value}\n      {}\n", o.long, o.help));
    }
    s.push_str(&format!("\nexample:\n  {}\n\n{EXIT_CODES}\n", c.example));
    s
}

/// A command line that does not fit the table: said with the command's usage (exit 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// What was given: options by long name (repeatable ones appear repeatedly), then operands.
#[derive(Debug, Default)]
pub struct Parsed {
    pub opts: Vec<(&'static str, Option<String>)>,
    pub operands: Vec<String>,
    pub help: bool,
}

impl Parsed {
    pub fn flag(&self, long: &str) -> bool {
        self.opts.iter().any(|(l, _)| *l == long)
    }

    /// The last value of an option.
    pub fn value(&self, long: &str) -> Option<&str> {
        self.opts.iter().rev().find(|(l, _)| *l == long).and_then(|(_, v)| v.as_deref())
    }

    pub fn values<'a>(&'a self, long: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.opts.iter().filter(move |(l, _)| *l == long).filter_map(|(_, v)| v.as_deref())
    }
}

/// Parses `args` (after the command name): `--opt VALUE`, `--opt=VALUE`, `-o VALUE`, `-oVALUE`,
/// `--` ends the options, `-` is an operand (standard input).
pub fn parse(c: &Cmd, args: &[String]) -> Result<Parsed, UsageError> {
    let err = |what: String| {
        UsageError(format!("{what}\nusage: rdbreak {} {} (rdbreak {} --help)", c.name, c.operands, c.name))
    };
    let mut p = Parsed::default();
    let mut it = args.iter();
    let mut only_operands = false;
    while let Some(a) = it.next() {
        if only_operands || a == "-" || !a.starts_with('-') {
            p.operands.push(a.clone());
            continue;
        }
        if a == "--" {
            only_operands = true;
            continue;
        }
        let (o, inline) = if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = long.split_once('=').map_or((long, None), |(n, v)| (n, Some(v.to_string())));
            (c.opts.iter().chain([&HELP]).find(|o| o.long == name), inline)
        } else {
            let mut chars = a[1..].chars();
            let s = chars.next();
            let rest: String = chars.collect();
            (
                c.opts.iter().chain([&HELP]).find(|o| o.short.is_some() && o.short == s),
                Some(rest).filter(|r| !r.is_empty()),
            )
        };
        let Some(o) = o else { return Err(err(format!("unknown option {a}"))) };
        if o.long == "help" {
            p.help = true;
            continue;
        }
        let value = match (o.value, inline) {
            (None, None) => None,
            (None, Some(_)) => return Err(err(format!("--{} takes no value", o.long))),
            (Some(_), Some(v)) => Some(v),
            (Some(what), None) => Some(it.next().cloned().ok_or_else(|| err(format!("{a} needs a value ({what})")))?),
        };
        p.opts.push((o.long, value));
    }
    if p.help {
        return Ok(p);
    }
    if p.operands.len() < c.min {
        return Err(err(format!("missing argument: rdbreak {} {}", c.name, c.operands)));
    }
    if let Some(max) = c.max.filter(|&m| p.operands.len() > m) {
        return Err(err(format!("unexpected argument {}", p.operands[max])));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_in_every_spelling() {
        let build = command("build").unwrap();
        let p = parse(build, &args(&["-o", "x", "--kver=6.1", "-mvirtio_blk", "--modules", "ext4", "--host-modules"]))
            .unwrap();
        assert_eq!(p.value("output"), Some("x"));
        assert_eq!(p.value("kver"), Some("6.1"));
        assert_eq!(p.values("modules").collect::<Vec<_>>(), ["virtio_blk", "ext4"]);
        assert!(p.flag("host-modules") && !p.flag("storage"));
        let e = parse(build, &args(&["--kver"])).unwrap_err().to_string();
        assert!(e.contains("--kver needs a value") && e.contains("usage: rdbreak build"), "{e}");
        let e = parse(build, &args(&["--host-modules=yes"])).unwrap_err().to_string();
        assert!(e.contains("takes no value"), "{e}");
        let ls = command("ls").unwrap();
        let p = parse(ls, &args(&["-", "--", "-l"])).unwrap();
        assert_eq!(p.operands, ["-", "-l"]);
        assert!(parse(ls, &args(&["x", "--help"])).unwrap().help);
    }

    #[test]
    fn every_command_has_help_with_an_example() {
        for c in COMMANDS {
            let h = help(c);
            assert!(
                h.contains(&format!("usage: rdbreak {}", c.name))
                    && h.contains("example:\n  rdbreak ")
                    && h.contains("exit status"),
                "{h}"
            );
            for o in c.opts {
                assert!(h.contains(&format!("--{}", o.long)), "{}: --{}", c.name, o.long);
            }
        }
    }
}
