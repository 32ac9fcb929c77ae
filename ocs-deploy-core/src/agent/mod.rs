//! The agent's sans-IO core: one [`Job`] per package, from the PROLOG notice to the
//! reported result, driven together with the [`schedule`](crate::schedule).
//!
//! A driver (the `ocs-deploy-agent` runtime on a real machine, the fleet simulator in
//! virtual time) asks a job for its next [`Task`] at each scheduler step, does it (fetch,
//! build, install, report) and tells the job what happened. The job decides every status
//! code: `ERR_DOWNLOAD_INFO`, `ERR_BAD_ID`, `ERR_BAD_PARAM`, `ERR_DOWNLOAD_PACK` after
//! repeated failures of one fragment, `ERR_BUILD`, `ERR_BAD_DIGEST` (or, with our
//! per-fragment SHA-256, the bad fragment fetched again alone), `ERR_OUT_OF_SPACE`,
//! `ERR_UNZIP`, the exit-code results in the chosen [`ResultStyle`],
//! `ERR_EXECUTE_TIMEOUT`, `ERR_ABORTED`, `ERR_TIMEOUT`, `SUCCESS_ALREADY_SETUP`.

mod executor;
mod job;
mod outcome;
mod transport;

pub use executor::Executor;
pub use job::{
    BuildError, FetchFailed, FragmentReceiver, InstallOutcome, InstallPlan, Job, JobConfig,
    JobSnapshot, PostCommand, Receipt, Stage, Task, Verdict, parse_schedule,
};
pub use outcome::ResultStyle;
pub use transport::{BodyStream, Transport, TransportError};
