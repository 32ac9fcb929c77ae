//! Tests of `ocs-deploy-store-sql`: one binary, one module per concern.
//!
//! `PostgreSQL` and `MariaDB` come from `OCS_DEPLOY_TEST_POSTGRES_URL` and
//! `OCS_DEPLOY_TEST_MYSQL_URL` (defaulting to the local services); each test gets its own
//! schema or database. A missing server fails the run when `CI=true`, else the test is
//! skipped with a printed reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
mod concurrency;
mod conformance;
mod connect;
mod differential;
mod files;
mod fleet;
mod service_concurrency;
