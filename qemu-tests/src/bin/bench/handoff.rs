//! The hand-off suite: what the hand-off to dracut's init costs. Stock dracut against `dracut -a
//! rdbreak` booted with `rd.rdbreak=0`, systemd and shell init, rounds interleaved, on the guest's
//! kernel-log clock. The cost is how much later dracut's init logs its first line than in the
//! stock image. Run by `rdbreak-bench --suites handoff` and by `rdbreak-bench-handoff`.
//!
//! With `icount` QEMU counts instructions (`-icount shift=0,sleep=off`: the guest clock moves
//! one nanosecond per instruction), so repeated boots agree within milliseconds where TCG's wall
//! clock swings by tenths of a second.

use rdbreak_qemu_tests::assets::DracutVariant;
use rdbreak_qemu_tests::{assets, vm, Initrd, Modules, Root, Scenario};

const UUID: &str = "3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b0a";
const HANDING: &str = "handing the boot to dracut's init";

struct Variant {
    name: &'static str,
    initrd: Initrd,
    /// A stock image: the one the hand-off after it is compared with.
    stock: bool,
    append: &'static str,
    /// The first kmsg line of dracut's init: systemd's banner, or init.sh's first `info`.
    first: &'static str,
}

/// What rdbreak's hand-off line says it ran before the exec (`… (rdbreak ran 3.2 ms: …)`), in s.
fn ran(transcript: &str) -> Option<f64> {
    let line = transcript.lines().find(|l| l.contains(HANDING))?;
    let ms: f64 = line.split("(rdbreak ran ").nth(1)?.split(" ms").next()?.parse().ok()?;
    Some(ms / 1000.0)
}

fn median(v: &mut [f64]) -> Option<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied()
}

/// Runs the suite, `rounds` rounds interleaved (`icount`: instruction-counted); returns the
/// markdown table.
pub fn suite(rounds: usize, icount: bool) -> String {
    let a = assets::get();
    let shell = DracutVariant { shell_init: true, ..Default::default() };
    let variants = [
        Variant {
            name: "stock dracut (systemd)",
            initrd: Initrd::StockDracut { systemd: true },
            stock: true,
            append: "",
            first: "running in system mode",
        },
        Variant {
            name: "dracut -a rdbreak, rd.rdbreak=0 (systemd)",
            initrd: Initrd::Dracut(Modules::Plain),
            stock: false,
            append: "rd.rdbreak=0",
            first: "running in system mode",
        },
        Variant {
            name: "stock dracut (shell init)",
            initrd: Initrd::StockDracut { systemd: false },
            stock: true,
            append: "",
            first: "] dracut: ",
        },
        Variant {
            name: "dracut -a rdbreak, rd.rdbreak=0 (shell init)",
            initrd: Initrd::DracutVariant(shell),
            stock: false,
            append: "rd.rdbreak=0",
            first: "] dracut: ",
        },
    ];
    eprintln!("building the images…");
    for v in &variants {
        v.initrd.path();
    }
    // Per variant: /init → dracut's first line, /init → rdbreak's hand-off line.
    let mut first: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut hand: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    // And /init → rdbreak's first instruction (its hand-off line less what it says it ran).
    let mut exec: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for round in 0..rounds {
        for (i, v) in variants.iter().enumerate() {
            let append = format!("root=UUID={UUID} ro {}", v.append);
            let mut vm = Scenario::new(&format!("bench-handoff-{i}-{round}"))
                .root(Root::standard(UUID))
                .initrd(v.initrd.clone())
                .append(&append)
                .instruction_counted(icount)
                .boot();
            vm.expect("RDBREAK-TEST-INIT pid=", 300);
            let t = vm.wait_exit(120);
            let run = vm::kernel_time(&t, "Run /init as init process");
            let f = vm::kernel_time(&t, v.first).zip(run).map(|(f, r)| f - r);
            let h = vm::kernel_time(&t, HANDING).zip(run).map(|(h, r)| h - r);
            let e = h.zip(ran(&t)).map(|(h, r)| h - r);
            eprintln!(
                "round {} {:<46} /init → dracut's first line {f:?}  /init → hand-off line {h:?}  /init → rdbreak runs {e:?}",
                round + 1,
                v.name
            );
            first[i].extend(f);
            hand[i].extend(h);
            exec[i].extend(e);
        }
    }
    let clock = if icount { "instruction-counted (-icount shift=0)" } else { "wall clock" };
    let mut md = format!("\n## The hand-off\n\nKernel {} under QEMU TCG, {clock}, {rounds} rounds interleaved; medians, milliseconds of guest time after the kernel ran /init.\n\n", a.kver);
    md += "| variant | rdbreak's first instruction | rdbreak's hand-off line | dracut's init logs its first line | cost of the hand-off |\n|---|---|---|---|---|\n";
    for (i, v) in variants.iter().enumerate() {
        let f = median(&mut first[i]);
        let stock = if v.stock { None } else { i.checked_sub(1).and_then(|j| median(&mut first[j])) };
        let ms = |x: Option<f64>| x.map_or("–".to_string(), |x| format!("{:.0}", x * 1000.0));
        md += &format!(
            "| {} | {} | {} | {} | {} |\n",
            v.name,
            ms(median(&mut exec[i])),
            ms(median(&mut hand[i])),
            ms(f),
            ms(f.zip(stock).map(|(f, s)| f - s))
        );
    }
    md
}

#[cfg(test)]
mod tests {
    #[test]
    fn what_rdbreak_ran_is_read_off_its_hand_off_line() {
        let t = "[    0.912345] rdbreak Warning: handing the boot to dracut's init (/init.dracut, systemd): rd.rdbreak=0 is on the command line (rdbreak ran 3.2 ms: 1.1 starting, 2.0 reading the image)\n";
        assert_eq!(super::ran(t), Some(0.0032));
        assert_eq!(super::ran("[ 0.9] handing the boot to dracut's init (/init.dracut, systemd): x\n"), None);
    }
}
