#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rdbreak_init::storage::tpm2::fuzz_one(data));
