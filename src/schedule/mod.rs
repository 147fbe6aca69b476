//! schedule. STUB.
