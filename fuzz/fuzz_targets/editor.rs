#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rdbreak_init::shell::editor::fuzz_one(data));
