//! Compression codecs. STUB.
