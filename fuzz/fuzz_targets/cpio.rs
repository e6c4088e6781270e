#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rdbreak::cpio::fuzz_one(data));
