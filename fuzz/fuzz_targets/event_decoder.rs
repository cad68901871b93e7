//! Fuzz target: `flowo_fuzz::event_decoder` (see flowo-fuzz for what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flowo_fuzz::event_decoder(data));
