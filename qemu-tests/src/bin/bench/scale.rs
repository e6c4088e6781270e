//! The scale suite: how the time from `/init` to the `rd.break` prompt grows with disks the root
//! does not need (blank disks on a virtio-scsi controller beside the root's virtio disk) and with
//! the LVs of the root's VG (only the root LV asked for), for stock dracut's shell init and the
//! same image with `-a rdbreak` (the storage suite's images: both with dracut's lvm module), rounds
//! interleaved. The disks are the scale scenarios' layouts (`layouts::many_lvs`,
//! `layouts::blank_disks`).

use std::path::Path;

use rdbreak_qemu_tests::assets::Assets;
use rdbreak_qemu_tests::layouts::{self, scale};

use crate::storage::{self, Layout};

/// One point of a curve: which axis, how many, and the layout booted.
pub struct Point {
    pub axis: &'static str,
    pub n: usize,
    pub layout: Layout,
}

/// The points: `disks` blank SCSI disks beside the root (0 is the one-disk machine), and VGs of
/// `lvs` LVs.
pub fn points(dir: &Path, disks: &[usize], lvs: &[usize]) -> Vec<Point> {
    let mut out = Vec::new();
    if !disks.is_empty() {
        let root = layouts::scale_root().build(dir, "scale-root");
        for &n in disks {
            out.push(Point {
                axis: "disks",
                n,
                layout: Layout {
                    name: "disks",
                    disks: vec![root.clone()],
                    cmdline: format!("root=UUID={} ro", scale::ROOT_UUID),
                    passphrase: None,
                    plain: false,
                    scsi: n,
                },
            });
        }
    }
    for &n in lvs {
        let vg = scale::VG;
        out.push(Point {
            axis: "lvs",
            n,
            layout: Layout {
                name: "lvs",
                disks: vec![layouts::many_lvs(dir, n.max(1))],
                cmdline: format!("root=/dev/mapper/{vg}-root ro rd.lvm.lv={vg}/root"),
                passphrase: None,
                plain: false,
                scsi: 0,
            },
        });
    }
    out
}

/// The median, of two middle values their mean (as plot.py's `statistics.median`).
fn median(v: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// `/init` → prompt of every sample that has both.
fn to_prompt(samples: &[storage::Sample]) -> Vec<f64> {
    samples.iter().filter_map(|s| s.prompt.zip(s.run_init).map(|(p, r)| p - r)).collect()
}

/// Runs the suite; returns the markdown (a table, and each point's growth against the axis's
/// first point) and writes `results-scale.json` for `plot.py`. `icount`: guest seconds are
/// instructions counted (a nanosecond each), not TCG's wall clock.
pub fn suite(a: &Assets, rounds: usize, disks: &[usize], lvs: &[usize], out: &Path, icount: bool) -> String {
    eprintln!("building the scale disks and the storage images…");
    let images = storage::images(a);
    let dir = rdbreak_qemu_tests::workdir("bench-scale");
    let points = points(&dir, disks, lvs);
    let mut samples = vec![vec![Vec::<storage::Sample>::new(); images.len()]; points.len()];
    for round in 0..rounds {
        for (pi, p) in points.iter().enumerate() {
            for (ii, img) in images.iter().enumerate() {
                let tag = format!("bench-scale-{}-{}-{ii}-{round}", p.axis, p.n);
                let s = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    storage::measure_break(&tag, &img.path, &p.layout, icount)
                }))
                .unwrap_or_else(|_| {
                    eprintln!("{tag}: {} {} with {} failed, see target/qemu-logs/", p.n, p.axis, img.name);
                    storage::Sample::default()
                });
                let t = s.prompt.zip(s.run_init).map(|(p, r)| p - r);
                eprintln!("round {} {:>5} {:<6} {:<20} /init → prompt {t:?}", round + 1, p.n, p.axis, img.name);
                samples[pi][ii].push(s);
            }
        }
    }
    let med = |v: &[f64]| median(v);
    let clock = if icount {
        "instruction-counted (-icount shift=0,sleep=off: a nanosecond per instruction)"
    } else {
        "TCG's wall clock"
    };
    let mut md = format!(
        "\n## At scale\n\nBlank disks on a virtio-scsi controller beside the root's virtio disk, and a VG of N LVs with only `rd.lvm.lv=bigvg/root` asked for; stock dracut's shell init and the same image with `-a rdbreak` (both with dracut's lvm module); {rounds} rounds interleaved; medians of guest seconds ({clock}) from the kernel running /init to the break prompt, [min–max], and the growth against the axis's first point.\n\n| axis | N | variant | /init → break prompt | growth | stock ÷ rdbreak |\n|---|---|---|---|---|---|\n"
    );
    let mut json = String::from("[\n");
    for (pi, p) in points.iter().enumerate() {
        let first = points.iter().position(|q| q.axis == p.axis).unwrap_or(pi);
        for (ii, img) in images.iter().enumerate() {
            let t = to_prompt(&samples[pi][ii]);
            let base = med(&to_prompt(&samples[first][ii]));
            let m = med(&t);
            let range = match (t.iter().copied().reduce(f64::min), t.iter().copied().reduce(f64::max)) {
                (Some(lo), Some(hi)) => format!(" [{lo:.2}–{hi:.2}]"),
                _ => String::new(),
            };
            let growth = m.zip(base).map_or("–".into(), |(m, b)| format!("×{:.2}", m / b));
            let ahead = if ii + 1 == images.len() {
                med(&to_prompt(&samples[pi][0])).zip(m).map_or("–".into(), |(s, r)| format!("{:.1}×", s / r))
            } else {
                String::new()
            };
            md += &format!(
                "| {} | {} | {} | {}{range} | {growth} | {ahead} |\n",
                p.axis,
                p.n,
                img.name,
                m.map_or("–".into(), |m| format!("{m:.2}"))
            );
            json += &format!(
                "  {{\"axis\": \"{}\", \"n\": {}, \"variant\": \"{}\", \"to_prompt\": {t:?}}}{}\n",
                p.axis,
                p.n,
                img.name,
                if pi + 1 < points.len() || ii + 1 < images.len() { "," } else { "" }
            );
        }
    }
    json += "]\n";
    std::fs::write(out.join("results-scale.json"), json).expect("write the scale results");
    md
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(super::median(&[3.0, 1.0]), Some(2.0));
        assert_eq!(super::median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(super::median(&[]), None);
    }
}
