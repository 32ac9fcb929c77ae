//! Status codes and how the console counts them.

mod code;

pub use code::{DeploymentStatus, StatusClass, StatusCode};
