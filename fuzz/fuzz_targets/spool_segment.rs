//! Fuzz target: see `kafka_sync::protocol::fuzzing::spool_segment` for what it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kafka_sync::protocol::fuzzing::spool_segment(data));
