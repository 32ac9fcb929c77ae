//! Guides.

#[doc = include_str!("serving-files.md")]
pub mod serving_files {}
