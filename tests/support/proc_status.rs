//! This process's memory figures from `/proc/self/status` (Linux), for the
//! tests that bound memory. Included with `#[path]` by each such test.

/// A `/proc/self/status` field (`"VmRSS:"`, `"VmHWM:"`, `"VmData:"`), in
/// bytes; `None` where there is no `/proc`.
pub fn status_bytes(field: &str) -> Option<usize> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: usize = s.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Resident memory now, in bytes.
#[allow(dead_code)]
pub fn rss_bytes() -> Option<usize> {
    status_bytes("VmRSS:")
}
