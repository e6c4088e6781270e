//! The real root's `/sbin/init` in the test images. It reports, on one console line, what the
//! initramfs handed over (PID, arguments, root mount, API mounts, environment), keeps a copy on
//! the disk when it can write there, reaps its children, and powers the machine off.

use std::io::Write;

/// (target, source, fstype, mount options, superblock options) of each mount.
fn mounts() -> Vec<(String, String, String, String, String)> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (a, b) = l.split_once(" - ")?;
            let a: Vec<&str> = a.split(' ').collect();
            let b: Vec<&str> = b.split(' ').collect();
            Some((
                a.get(4)?.to_string(),
                b.get(1)?.to_string(),
                b.first()?.to_string(),
                a.get(5)?.to_string(),
                b.get(2)?.to_string(),
            ))
        })
        .collect()
}

/// `rdbreak_test=hibernate:SWAP` (the kernel hands unknown `key=value` words to init's
/// environment): swap on SWAP and hibernate to it. The process goes on here after the next boot
/// resumes the image, and says so.
fn hibernate_if_asked(out: &mut impl Write) {
    let Some(swap) = std::env::var("rdbreak_test").ok().and_then(|v| v.strip_prefix("hibernate:").map(str::to_string))
    else {
        return;
    };
    let on = std::process::Command::new("/sbin/swapon").arg(&swap).status();
    let _ = writeln!(out, "RDBREAK-TEST-INIT swapon {swap}: {on:?}");
    let _ = out.flush();
    // The kernel writes the image to the swap /sys/power/resume names (resume= at boot names it
    // only for the initramfs); a write with no image there just records the device.
    match rustix::fs::stat(swap.as_str()) {
        Ok(st) => {
            let dev = format!("{}:{}", rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
            let r = std::fs::write("/sys/power/resume", format!("{dev}\n"));
            let _ = writeln!(out, "RDBREAK-TEST-INIT resume device {dev}: {r:?}");
        }
        Err(e) => {
            let _ = writeln!(out, "RDBREAK-TEST-INIT cannot stat {swap}: {e}");
        }
    }
    rustix::fs::sync();
    match std::fs::write("/sys/power/state", "disk\n") {
        Ok(()) => {
            let _ = writeln!(out, "RDBREAK-TEST-INIT resumed from hibernation");
        }
        Err(e) => {
            let _ = writeln!(out, "RDBREAK-TEST-INIT hibernation failed: {e}");
        }
    }
    let _ = out.flush();
}

fn main() {
    hibernate_if_asked(&mut std::io::stdout());
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    let argv0 = std::env::args().next().unwrap_or_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let proc_ok = std::path::Path::new("/proc/self").exists();
    let table = mounts();
    let root = table.iter().rev().find(|m| m.0 == "/");
    let api: Vec<&str> =
        ["/dev", "/proc", "/sys", "/run"].into_iter().filter(|d| table.iter().any(|m| m.0 == *d)).collect();
    let uptime = std::fs::read_to_string("/proc/uptime").unwrap_or_default();
    let uptime = uptime.split_whitespace().next().unwrap_or("?");
    let mut env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    env.sort();
    let initramfs_left = std::fs::read_dir("/run/initramfs").map(|d| d.count()).unwrap_or(0);
    // Who mounted /dev and /run shows in their flags (dracut's init.sh, systemd, rdbreak).
    let opts_of = |dir: &str| table.iter().rev().find(|m| m.0 == dir).map_or("?".to_string(), |m| m.3.clone());
    let line = format!(
        "RDBREAK-TEST-INIT pid={pid} argv0={argv0} args=[{}] root={} fstype={} opts={} sopts={} api={} proc={} uptime={uptime} env=[{}] run_initramfs_entries={initramfs_left} devopts={} runopts={}",
        args.join("|"),
        root.map_or("?", |r| r.1.as_str()),
        root.map_or("?", |r| r.2.as_str()),
        root.map_or("?", |r| r.3.as_str()),
        root.map_or("?", |r| r.4.as_str()),
        api.join(","),
        if proc_ok { "yes" } else { "no" },
        env.join("|"),
        opts_of("/dev"),
        opts_of("/run"),
    );
    let mut out = std::io::stdout();
    let _ = writeln!(out, "\n{line}");
    let _ = out.flush();
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open("/test-init.log") {
        let _ = writeln!(f, "{line}");
    }
    // Reap what the initramfs left as our children (rdbreak's initramfs wiper), as any init does.
    let mut reaped = 0;
    while let Ok(Some(_)) = rustix::process::wait(rustix::process::WaitOptions::empty()) {
        reaped += 1;
    }
    let _ = writeln!(out, "RDBREAK-TEST-INIT reaped {reaped} children");
    rustix::fs::sync();
    let _ = writeln!(out, "RDBREAK-TEST-INIT powering off");
    let _ = rustix::system::reboot(rustix::system::RebootCommand::PowerOff);
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
