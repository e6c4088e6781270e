#![no_main]
// As rdbreak-fuzzing's `kmsg` target: a record as PID 1 logs it, and as the report shows it.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rdbreak_init::kmsg::fuzz_one(data);
    rdbreak_init::report::fuzz_one(data);
});
