//! The man pages say what the programs do: every option of the `rdbreak` CLI (its table,
//! packaging/src/cli.rs) is in rdbreak(1), every command-line key of README's table in
//! rdbreak.cmdline(7), every shell builtin (init/src/shell/builtins) in rdbreak-init(8). A
//! new option, key or builtin without its line in the page fails here.

const RDBREAK_1: &str = include_str!("../man/rdbreak.1");
const CMDLINE_7: &str = include_str!("../man/rdbreak.cmdline.7");
const INIT_8: &str = include_str!("../man/rdbreak-init.8");

/// The page's text as it reads: font changes gone, `\-` a hyphen.
fn text(roff: &str) -> String {
    let mut s = roff.replace("\\-", "-").replace("\\&", "").replace("\\e", "\\");
    for font in ["\\fB", "\\fI", "\\fR", "\\fP"] {
        s = s.replace(font, "");
    }
    s
}

#[test]
fn every_cli_command_and_option_is_in_rdbreak_1() {
    let page = text(RDBREAK_1);
    let mut missing = Vec::new();
    for c in rdbreak::cli::COMMANDS {
        if !page.contains(&format!("rdbreak {}", c.name)) {
            missing.push(format!("rdbreak {}", c.name));
        }
        for o in c.opts.iter().chain([&rdbreak::cli::HELP]) {
            if !page.contains(&format!("--{}", o.long)) {
                missing.push(format!("rdbreak {} --{}", c.name, o.long));
            }
            if let Some(s) = o.short.filter(|s| !page.contains(&format!("-{s}"))) {
                missing.push(format!("rdbreak {} -{s}", c.name));
            }
        }
    }
    for must in ["--version", "EXIT STATUS", "0600", "--preserve-setid"] {
        if !page.contains(must) {
            missing.push(must.to_string());
        }
    }
    assert!(missing.is_empty(), "rdbreak(1) lacks: {missing:?}");
}

/// README's "Kernel command line" table: the keys of its first column.
fn readme_keys() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let start = readme.find("## Kernel command line").expect("README has the table");
    let table = &readme[start..];
    let table = &table[..table[3..].find("\n## ").map_or(table.len(), |e| e + 3)];
    let mut keys = Vec::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let first = row.split(" | ").next().unwrap_or_default();
        for tick in first.split('`').skip(1).step_by(2) {
            let key = match tick.split_once('=') {
                Some((k, _)) => format!("{k}="),
                None => tick.to_string(),
            };
            keys.push(key);
        }
    }
    keys
}

#[test]
fn every_command_line_key_is_in_rdbreak_cmdline_7() {
    let keys = readme_keys();
    assert!(keys.len() > 40 && keys.iter().any(|k| k == "rd.luks.uuid="), "{keys:?}");
    let page = text(CMDLINE_7);
    let missing: Vec<&String> = keys.iter().filter(|k| !page.contains(k.as_str())).collect();
    assert!(missing.is_empty(), "rdbreak.cmdline(7) lacks {missing:?}");
    for form in ["/dev/disk/by-id/", "/dev/disk/by-path/", "/dev/mapper/", "rd_LVM_LV=", "rd_MD_UUID=", "rd_LUKS_UUID="]
    {
        assert!(page.contains(form), "rdbreak.cmdline(7) lacks {form}");
    }
}

/// The builtins' names, read from the table in the shell's source.
fn builtins() -> Vec<String> {
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../init/src/shell/builtins/mod.rs"))
        .expect("the builtins' table");
    src.split("Builtin { name: \"").skip(1).filter_map(|s| s.split('"').next()).map(str::to_string).collect()
}

#[test]
fn every_shell_builtin_is_in_rdbreak_init_8() {
    let names = builtins();
    assert!(names.len() > 30 && names.iter().any(|n| n == "cryptsetup"), "{names:?}");
    let page = text(INIT_8);
    let start = page.find("Built-in commands:").expect("the builtins' paragraph");
    let end = page[start..].find(".PP").map_or(page.len(), |e| start + e);
    let listed: Vec<&str> = page[start + 18..end].split([',', ' ', '\n']).map(|w| w.trim_end_matches('.')).collect();
    let listed: Vec<&str> = listed.into_iter().chain(page[start + 18..end].split([',', '\n']).map(str::trim)).collect();
    let missing: Vec<&String> = names.iter().filter(|n| !listed.contains(&n.as_str())).collect();
    assert!(missing.is_empty(), "rdbreak-init(8) lacks the builtins {missing:?}");
    assert!(!page.contains("planned"), "rdbreak-init(8) still calls something planned");
    for stack in ["LUKS", "rd.luks.uuid=", "rd.md.uuid=", "rd.lvm.vg="] {
        assert!(page.contains(stack), "{stack}");
    }
}

/// The bash completion offers every command and option of the table.
#[test]
fn the_bash_completion_knows_every_option() {
    let script = include_str!("../completions/rdbreak.bash");
    for c in rdbreak::cli::COMMANDS {
        assert!(
            script.contains(&format!("{}) opts=", c.name)) || script.contains(&format!("{} |", c.name)),
            "{}",
            c.name
        );
        for o in c.opts {
            assert!(script.contains(&format!("--{}", o.long)), "{} --{}", c.name, o.long);
            if let Some(s) = o.short {
                assert!(script.contains(&format!(" -{s} ")) || script.contains(&format!(" -{s}\"")), "{} -{s}", c.name);
            }
        }
    }
    let o = std::process::Command::new("bash")
        .arg("-n")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/completions/rdbreak.bash"))
        .output();
    if let Ok(o) = o {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

/// The zsh completion too.
#[test]
fn the_zsh_completion_knows_every_option() {
    let script = include_str!("../completions/_rdbreak");
    for c in rdbreak::cli::COMMANDS {
        assert!(script.contains(&format!("{}:'", c.name)), "{}", c.name);
        for o in c.opts {
            assert!(script.contains(&format!("--{}", o.long)), "{} --{}", c.name, o.long);
            if let Some(s) = o.short {
                assert!(script.contains(&format!("{{-{s},--{}}}", o.long)), "{} -{s}", c.name);
            }
        }
    }
}

#[test]
fn install_sh_installs_the_man_pages() {
    let dest = tempfile::tempdir().unwrap();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let o = std::process::Command::new("sh")
        .arg(format!("{root}/install.sh"))
        .env("DESTDIR", dest.path())
        .env("RDBREAK_INIT_BIN", "/bin/true")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (page, src) in
        [("man1/rdbreak.1", RDBREAK_1), ("man7/rdbreak.cmdline.7", CMDLINE_7), ("man8/rdbreak-init.8", INIT_8)]
    {
        let installed = std::fs::read_to_string(dest.path().join("usr/share/man").join(page)).unwrap_or_default();
        assert_eq!(installed, src, "{page} installed under DESTDIR");
    }
    assert!(dest.path().join("usr/share/bash-completion/completions/rdbreak").is_file());
    assert!(dest.path().join("usr/share/zsh/vendor-completions/_rdbreak").is_file());
}
