//! The integration tests of ocs-deploy-http, in one binary: a real server on loopback
//! sockets, reqwest and the crate's own `HttpTransport` as clients. Reference messages are read from
//! `../shared/reference/`, as the real OCS Unix agent sent them.

mod admin;
mod client;
mod download;
mod endpoint;
mod files;
mod reference;
mod support;
mod tls;
