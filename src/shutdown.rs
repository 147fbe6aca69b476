//! Shutdown. STUB.
