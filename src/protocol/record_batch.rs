//! Record batch v2. STUB.

/// Proptest strategies. STUB.
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {}

/// A record header. STUB until the batch branch lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header key.
    pub key: String,
    /// Header value, or null.
    pub value: Option<Vec<u8>>,
}
