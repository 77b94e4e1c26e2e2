//! Fuzz target: see `kafka_sync::protocol::fuzzing::decode_request` for what it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kafka_sync::protocol::fuzzing::decode_request(data));
