//! Shared helpers for hyperlab's root tests: packet builders, checksum
//! verification, a loaded-data-plane fixture and lab guards.
