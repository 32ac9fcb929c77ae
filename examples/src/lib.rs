//! Runnable compositions of the ocs-deploy crates; see the `[[example]]`s in `Cargo.toml`.
