#![no_main]
// As rdbreak-fuzzing's `cmdline` target: the command line parsed, and read by the rooms above it.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rdbreak_init::cmdline::fuzz_one(data);
    rdbreak_init::stages::fuzz_one(data);
});
