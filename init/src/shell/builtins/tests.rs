use super::*;
use std::sync::{Arc, Mutex};

/// Runs a line in a fresh shell inside `dir`; returns (status, stdout, stderr).
fn run(sh: &mut Shell<'_>, line: &str) -> (i32, String, String) {
    let out = Arc::new(Mutex::new(Vec::new()));
    let err = Arc::new(Mutex::new(Vec::new()));
    let (o, e) = (out.clone(), err.clone());
    let status = sh.run_line(line, &mut || Io::capture(o.clone(), e.clone()));
    let s = |b: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&b.lock().unwrap()).to_string();
    (status, s(&out), s(&err))
}

#[test]
fn file_builtins_in_a_temp_dir() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let mut sh = Shell::new(None);
    assert_eq!(
        run(&mut sh, &format!("mkdir -p {d}/a/b && touch {d}/a/b/f && ls {d}/a/b")),
        (0, "f\n".into(), "".into())
    );
    assert_eq!(run(&mut sh, &format!("echo hello > {d}/x; echo more >> {d}/x; cat {d}/x")).1, "hello\nmore\n");
    assert_eq!(run(&mut sh, &format!("cp {d}/x {d}/a && cat {d}/a/x")).1, "hello\nmore\n");
    assert_eq!(run(&mut sh, &format!("mv {d}/a/x {d}/y && ls {d}/a")).1, "b\n");
    assert_eq!(run(&mut sh, &format!("ln -s y {d}/l && cat {d}/l")).1, "hello\nmore\n");
    let (st, _, err) = run(&mut sh, &format!("rm {d}/a"));
    assert_eq!(st, 1);
    assert!(err.contains("is a directory (use rm -r)"), "{err}");
    assert_eq!(run(&mut sh, &format!("rm -r {d}/a && ls {d}")).1, "l  x  y\n");
    assert_eq!(run(&mut sh, &format!("cp -r {d} {d}/../copy-test-$$x; rm -rf {d}/../copy-test-x")).0, 0);
    let (st, _, err) = run(&mut sh, &format!("cat {d}/missing"));
    assert_eq!(st, 1);
    assert!(err.contains(&format!("cat: {d}/missing: No such file")), "{err}");
}

/// /dev/kmsg makes a record of each write, and sysfs a value: `echo` must write once.
#[test]
fn echo_writes_its_line_at_once() {
    struct Writes(Arc<Mutex<Vec<Vec<u8>>>>);
    impl Write for Writes {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push(b.to_vec());
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let writes = Arc::new(Mutex::new(Vec::new()));
    let mut io = Io {
        input: None,
        out: Box::new(Writes(writes.clone())),
        err: Box::new(std::io::sink()),
        out_file: None,
        err_file: None,
    };
    let mut sh = Shell::new(None);
    assert_eq!(echo(&mut sh, &["boot".into(), "mark".into()], &mut io), 0);
    assert_eq!(*writes.lock().unwrap(), [b"boot mark\n".to_vec()]);
}

#[test]
fn lists_status_and_variables() {
    let mut sh = Shell::new(None);
    assert_eq!(run(&mut sh, "cat /nonexistent || echo fallback").1, "fallback\n");
    assert_eq!(run(&mut sh, "cat /nonexistent && echo never").1, "");
    assert_eq!(run(&mut sh, "cat /nonexistent; echo $?").1, "1\n");
    assert_eq!(run(&mut sh, "X=42; export Y=7; echo $X ${Y}").1, "42 7\n");
    let (st, _, err) = run(&mut sh, "no-such-command-here");
    assert_eq!(st, 127);
    assert!(err.contains("command not found"));
    let (st, _, err) = run(&mut sh, "echo 'unclosed");
    assert_eq!(st, 2);
    assert!(err.contains("missing closing '"));
}

#[test]
fn help_for_every_builtin() {
    let mut sh = Shell::new(None);
    for b in BUILTINS.iter().filter(|b| !LANGUAGE.contains(&b.name)) {
        let (st, out, _) = run(&mut sh, &format!("{} --help", b.name));
        assert_eq!(st, 0);
        assert!(out.starts_with(b.name), "{}: {out}", b.name);
        let (st, out2, _) = run(&mut sh, &format!("help {}", b.name));
        assert_eq!((st, &out2), (0, &out));
    }
    for b in BUILTINS {
        let (st, out, _) = run(&mut sh, &format!("help {}", b.name));
        assert!(st == 0 && out.starts_with(b.name), "{}: {out}", b.name);
    }
    assert!(run(&mut sh, "help").1.contains("chroot"));
}

#[test]
fn exit_leaves_the_shell() {
    let mut sh = Shell::new(None);
    run(&mut sh, "exit; echo not reached");
    assert!(sh.leave);
    let mut sh = Shell::new(None);
    assert_eq!(run(&mut sh, "exit 3").0, 3);
}

#[test]
fn external_programs_and_redirection() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let mut sh = Shell::new(None);
    assert_eq!(run(&mut sh, &format!("/bin/sh -c 'echo out; echo err >&2' > {d}/o 2>&1")).0, 0);
    assert_eq!(std::fs::read_to_string(format!("{d}/o")).unwrap(), "out\nerr\n");
    assert_eq!(run(&mut sh, "sh -c 'exit 7'").0, 7);
}

#[test]
fn getarg_semantics() {
    let c = crate::cmdline::Cmdline::parse("rd.break root=UUID=x ip=a ip=b rd.retry=");
    let mut boot = crate::boot::Boot::new(c);
    let mut sh = Shell::new(Some(&mut boot));
    assert_eq!(run(&mut sh, "getarg root"), (0, "UUID=x\n".into(), "".into()));
    assert_eq!(run(&mut sh, "getarg root="), (0, "UUID=x\n".into(), "".into()));
    assert_eq!(run(&mut sh, "getarg rd.break"), (0, "".into(), "".into()));
    assert_eq!(run(&mut sh, "getarg rd.retry"), (0, "\n".into(), "".into()));
    assert_eq!(run(&mut sh, "getarg nothing").0, 1);
    assert_eq!(run(&mut sh, "getarg ip=b").0, 0);
    assert_eq!(run(&mut sh, "getarg ip=a").0, 1);
    assert_eq!(run(&mut sh, "getargs ip=a").0, 0);
    assert_eq!(run(&mut sh, "getargs ip"), (0, "a\nb\n".into(), "".into()));
    assert_eq!(run(&mut sh, "getargs nothing").0, 1);
    assert_eq!(run(&mut sh, "getarg").0, 1);
}

#[test]
fn chroot_takes_no_labels_as_a_flag_not_a_directory() {
    let mut sh = Shell::new(None);
    let (st, _, err) = run(&mut sh, "chroot --no-labels /nonexistent-root true");
    assert_eq!(st, 125);
    assert!(err.contains("chroot: /nonexistent-root: no such directory"), "{err}");
}

#[test]
fn sleep_reads_decimal_seconds_and_units() {
    use std::time::Duration;
    let t = session::sleep_time;
    assert_eq!(t("2"), Some(Duration::from_secs(2)));
    assert_eq!(t("0.5"), Some(Duration::from_millis(500)));
    assert_eq!(t(".25"), Some(Duration::from_millis(250)));
    assert_eq!(t("3."), Some(Duration::from_secs(3)));
    assert_eq!(t("0.000000001"), Some(Duration::from_nanos(1)));
    assert_eq!(t("1.5m"), Some(Duration::from_secs(90)));
    assert_eq!(t("2h"), Some(Duration::from_secs(7200)));
    assert_eq!(t("1d"), Some(Duration::from_secs(86400)));
    assert_eq!(t("0.1s"), Some(Duration::from_millis(100)));
    assert_eq!(t("99999999999999999999999"), Some(Duration::from_secs(1_000_000_000)));
    for bad in ["", ".", "s", "-1", "1e3", "inf", "nan", "1.2.3", "1x", " 1", "½"] {
        assert_eq!(t(bad), None, "{bad:?}");
    }
}

#[test]
fn a_glob_over_a_huge_directory_is_a_named_error() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..10 {
        std::fs::write(dir.path().join(format!("f{i}")), "").unwrap();
    }
    let d = dir.path().display().to_string();
    let mut sh = Shell::new(None);
    assert_eq!(run(&mut sh, &format!("echo {d}/f* | wc -w")).0, 0);
    sh.limits.glob = 5;
    sh.interactive = true;
    let (st, out, err) = run(&mut sh, &format!("echo {d}/f*; echo not reached"));
    assert_eq!((st, out.as_str()), (2, ""));
    assert!(err.contains("reads more than 5 names; narrow the pattern"), "{err}");
    assert!(!sh.leave, "the prompt stays");
}

#[test]
fn runaway_recursion_stops_at_the_depth_cap() {
    let mut sh = Shell::new(None);
    sh.interactive = true;
    sh.limits.depth = 30;
    let (st, _, err) = run(&mut sh, "f() { f; }; f; echo not reached");
    assert_eq!(st, 2);
    assert!(err.contains("functions nested more than 30 levels deep (runaway recursion?)"), "{err}");
    let (st, _, err) = run(&mut sh, "x='eval \"$x\"'; eval \"$x\"");
    assert_eq!(st, 2);
    assert!(err.contains("eval: nested more than 30 levels deep"), "{err}");
    assert_eq!(run(&mut sh, "echo still here").1, "still here\n");
}

#[test]
fn language_builtins_in_the_shell_process() {
    let mut sh = Shell::new(None);
    assert_eq!(run(&mut sh, "x=5; f() { local x=1; x=2; echo $x; }; f; echo $x").1, "2\n5\n");
    assert_eq!(run(&mut sh, "set -- a b c; shift; echo $# $1; set -- ; echo $#").1, "2 b\n0\n");
    assert_eq!(run(&mut sh, "i=0; while true; do i=$((i+1)); [ $i -ge 3 ] && break; done; echo $i").1, "3\n");
    assert_eq!(run(&mut sh, "case /dev/sda1 in /dev/sd[a-z][0-9]) echo disk;; esac").1, "disk\n");
    assert_eq!(run(&mut sh, "printf '%s=%d\\n' a 1 b 2").1, "a=1\nb=2\n");
    assert_eq!(run(&mut sh, "readonly R=1; R=2; echo $?").0, 2);
    assert_eq!(run(&mut sh, "trap 'echo t' EXIT; trap").1, "trap -- 'echo t' EXIT\n");
    assert_eq!(run(&mut sh, "command -v cd; type mount").1, "cd\nmount is a shell builtin\n");
    let (st, _, err) = run(&mut sh, "echo ${nothing:?is not set}");
    assert!(st == 2 && err.contains("nothing: is not set"), "{err}");
}
