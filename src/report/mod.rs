//! report. STUB.
