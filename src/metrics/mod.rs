//! metrics. STUB.
