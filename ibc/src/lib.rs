//! IBC between zones. Empty until the settlement issue: the workspace keeps
//! the crate so the dependency direction (ibc depends on node crates, never
//! the reverse) is fixed from the start.
#![deny(clippy::unwrap_used)]
