//! What the deployment service refuses, and why.

use crate::fragment::FragmentError;
use crate::protocol::ProtocolError;
use crate::store::{ActivationId, FilesError, StoreError};
use crate::{PackageId, StatusClass};

use super::LocationError;

/// A service operation failed.
///
/// The variants callers act on are distinct: bad input of the caller
/// ([`is_bad_input`](Self::is_bad_input): an HTTP layer answers 4xx) versus a failing store
/// or file storage (5xx, with the details in the log).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The store failed.
    #[error("store operation failed")]
    Store(#[from] StoreError),
    /// Writing or removing package files failed.
    #[error("package files operation failed")]
    Files(#[from] FilesError),
    /// No package with this id.
    #[error("package {0} does not exist")]
    UnknownPackage(PackageId),
    /// The package is still being built (or its build failed).
    #[error("package {0} is not built")]
    PackageNotBuilt(PackageId),
    /// No activation with this key.
    #[error("activation {0} does not exist")]
    UnknownActivation(ActivationId),
    /// No computer with this device id (or key).
    #[error("computer {0} does not exist")]
    UnknownComputer(String),
    /// No group with this name (or key).
    #[error("group {0} does not exist")]
    UnknownGroup(String),
    /// A group with this name exists.
    #[error("group {0} already exists")]
    GroupExists(String),
    /// A user tried to put a computer in a group that is not visible.
    #[error("group {0} is not visible: users cannot put computers in it")]
    GroupNotVisible(String),
    /// The device id is not one an agent makes.
    #[error("bad device id")]
    BadDeviceId(#[source] ProtocolError),
    /// A location was refused.
    #[error("bad {which} location")]
    BadLocation {
        /// `info` or `fragment`.
        which: &'static str,
        /// Why.
        #[source]
        source: LocationError,
    },
    /// The package already has an activation with these two locations.
    #[error("package {package} is already activated at {info_location} / {pack_location}")]
    DuplicateActivation {
        /// The package.
        package: PackageId,
        /// `INFO_LOC`.
        info_location: String,
        /// `PACK_LOC`.
        pack_location: String,
    },
    /// The computer already has the package through another activation.
    #[error("computer {computer} already has package {package} through another activation")]
    AlreadyAffected {
        /// The computer's device id.
        computer: String,
        /// The package.
        package: PackageId,
    },
    /// Re-affecting is for a computer whose deployment failed.
    #[error(
        "package {package} on computer {computer} is {class:?}, not in error: nothing to re-affect"
    )]
    NotInError {
        /// The computer's device id.
        computer: String,
        /// The package.
        package: PackageId,
        /// Its current class.
        class: StatusClass,
    },
    /// The build request is inconsistent (for example a Launch without an archive).
    #[error("bad build request: {0}")]
    BadBuild(String),
    /// Reading the archive failed.
    #[error("reading the archive of package {package} failed")]
    Archive {
        /// The package being built.
        package: PackageId,
        /// The stream's error.
        #[source]
        source: crate::store::BackendError,
    },
    /// Splitting the archive failed.
    #[error("splitting the archive of package {package} failed")]
    Split {
        /// The package being built.
        package: PackageId,
        /// Why.
        #[source]
        source: FragmentError,
    },
    /// A result was not recorded.
    #[error("result refused")]
    ResultRefused(#[from] super::ResultRefusal),
    /// No unused package id was found (a store that keeps answering "conflict").
    #[error("no free package id after {0} attempts")]
    NoFreePackageId(u32),
}

impl ServiceError {
    /// Whether the caller's input is at fault (not the store or the files).
    ///
    /// ```
    /// use ocs_deploy_core::PackageId;
    /// use ocs_deploy_core::service::ServiceError;
    ///
    /// let e = ServiceError::UnknownPackage(PackageId::new(1_700_000_000)?);
    /// assert!(e.is_bad_input());
    /// # Ok::<(), ocs_deploy_core::package::PackageIdError>(())
    /// ```
    pub fn is_bad_input(&self) -> bool {
        !matches!(
            self,
            Self::Store(_) | Self::Files(_) | Self::NoFreePackageId(_) | Self::Archive { .. }
        )
    }
}
