//! Record batch v2. STUB.

/// Proptest strategies. STUB.
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {}
