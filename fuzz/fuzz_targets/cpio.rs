#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rdbreak::listing::fuzz_one(data));
