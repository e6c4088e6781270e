//! What the hand-off to dracut's init costs (the suite is `bench/handoff.rs`, also run by
//! `rdbreak-bench --suites handoff`).
//!
//!   cargo run --release -p rdbreak-qemu-tests --bin rdbreak-bench-handoff -- [--rounds N] [--icount]

#[path = "bench/handoff.rs"]
mod handoff;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize =
        args.iter().position(|a| a == "--rounds").and_then(|i| args.get(i + 1)?.parse().ok()).unwrap_or(5);
    let icount = args.iter().any(|a| a == "--icount");
    println!("{}", handoff::suite(rounds, icount));
}
