//! Embedded demo live-commerce platform. STUB: the implementation replaces this file.
