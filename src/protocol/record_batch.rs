//! Record batch v2. STUB.
