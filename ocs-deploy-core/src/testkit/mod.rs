//! In-memory twins of the traits, and the conformance suites every implementation must
//! pass (feature `testkit`).
//!
//! - [`MemoryStore`]: a [`Store`](crate::store::Store) in memory.
//! - [`MemoryFiles`]: [`PackageFiles`](crate::store::PackageFiles) in memory.
//! - [`LoopbackTransport`]: an agent's [`Transport`](crate::agent::Transport) to an
//!   in-process service.
//! - [`conformance`]: the behaviour every `Store` must have, as public async functions, to
//!   run against your own implementation.

pub mod conformance;
mod loopback;
mod memory_files;
mod memory_store;

pub use loopback::LoopbackTransport;
pub use memory_files::MemoryFiles;
pub use memory_store::MemoryStore;
