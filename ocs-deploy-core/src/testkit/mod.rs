//! In-memory twins of the traits, fault injection, the fleet simulator, and the
//! conformance suites every implementation must pass (feature `testkit`).
//!
//! - [`MemoryStore`]: a [`Store`](crate::store::Store) in memory.
//! - [`MemoryFiles`]: [`PackageFiles`](crate::store::PackageFiles) in memory.
//! - [`LoopbackTransport`]: an agent's [`Transport`](crate::agent::Transport) to an
//!   in-process service.
//! - [`ScriptedExecutor`]: an [`Executor`](crate::agent::Executor) whose installs end as
//!   a [`Script`] says (exit codes, virtual durations, failure rates per package).
//! - [`VirtualClock`]: time that moves only when told to.
//! - [`FaultyTransport`]: injects [`Faults`] (fragment loss and corruption, servers down,
//!   missing info files) into any transport, from one seed.
//! - [`fleet`]: the fleet simulator: thousands of agents in virtual time against the real
//!   service, with a [`FleetReport`](fleet::FleetReport) (table, CSV, SVG).
//! - [`conformance`]: the behaviour every `Store` must have, as public async functions, to
//!   run against your own implementation.

mod clock;
pub mod conformance;
mod executor;
mod faults;
pub mod fleet;
mod loopback;
mod memory_files;
mod memory_store;
mod rng;

pub use clock::VirtualClock;
pub use executor::{Script, ScriptedExecutor};
pub use faults::{DownWindow, FaultCounts, Faults, FaultyTransport};
pub use loopback::LoopbackTransport;
pub use memory_files::MemoryFiles;
pub use memory_store::MemoryStore;
