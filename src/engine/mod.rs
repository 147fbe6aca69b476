//! engine. STUB.
