//! The integration tests of ocs-deploy-http, in one binary: a real server on loopback
//! sockets, reqwest as the client. Reference messages are read from
//! `../shared/reference/`, as the real OCS Unix agent sent them.

mod download;
mod endpoint;
mod reference;
mod support;
mod tls;
