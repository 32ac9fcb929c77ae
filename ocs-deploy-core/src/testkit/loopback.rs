//! A [`Transport`] that hands an agent's messages to an in-process service: no sockets.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt as _;

use crate::Timestamp;
use crate::agent::{BodyStream, Transport, TransportError};
use crate::protocol::Request;
use crate::service::{DeploymentService, Reply, ServiceError};
use crate::store::{FileName, FilesError};

/// The time source of a loopback transport.
type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// An agent's [`Transport`] to a [`DeploymentService`] in the same process: messages go
/// to [`DeploymentService::handle`] and come back encoded as the server would send them;
/// files come from the service's [`PackageFiles`](crate::store::PackageFiles), whatever
/// the host in the URL.
///
/// ```
/// use std::sync::Arc;
/// use ocs_deploy_core::agent::Transport;
/// use ocs_deploy_core::protocol::{PrologReply, Request};
/// use ocs_deploy_core::service::{DeploymentService, ServiceConfig};
/// use ocs_deploy_core::testkit::{LoopbackTransport, MemoryFiles, MemoryStore};
/// use ocs_deploy_core::Timestamp;
///
/// # futures::executor::block_on(async {
/// let service = DeploymentService::new(Arc::new(MemoryStore::new()), Arc::new(MemoryFiles::new()), ServiceConfig::default());
/// let transport = LoopbackTransport::new(Arc::new(service), || Timestamp::from_secs(1_700_000_000));
/// let reply = transport.post(&Request::Prolog { device_id: "pc-2026-11-24-10-00-00".into() }).await?;
/// let reply = PrologReply::decode(&reply)?;
/// assert!(reply.download.is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct LoopbackTransport {
    service: Arc<DeploymentService>,
    clock: Clock,
}

impl std::fmt::Debug for LoopbackTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackTransport").finish_non_exhaustive()
    }
}

impl LoopbackTransport {
    /// A transport to `service`; `clock` gives the time the service sees.
    pub fn new(
        service: Arc<DeploymentService>,
        clock: impl Fn() -> Timestamp + Send + Sync + 'static,
    ) -> Self {
        Self {
            service,
            clock: Arc::new(clock),
        }
    }

    /// The service.
    pub fn service(&self) -> &Arc<DeploymentService> {
        &self.service
    }
}

#[async_trait]
impl Transport for LoopbackTransport {
    async fn post(&self, request: &Request) -> Result<Vec<u8>, TransportError> {
        match self.service.handle(request, (self.clock)()).await {
            Ok(Reply::Prolog(outcome)) => Ok(outcome.reply.encode().into_bytes()),
            Ok(Reply::Inventory(reply)) => Ok(reply.encode().into_bytes()),
            // A refused result is still answered 200 with an empty body, as OCS does.
            Ok(Reply::Result(_)) | Err(ServiceError::ResultRefused(_)) => Ok(Vec::new()),
            Ok(_) => Err(TransportError::Status(400)),
            Err(e) if e.is_bad_input() => Err(TransportError::Status(400)),
            Err(_) => Err(TransportError::Status(500)),
        }
    }

    async fn get(&self, url: &str) -> Result<BodyStream, TransportError> {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| TransportError::Refused(format!("not an http(s) URL: {url}")))?;
        // `<dir>/<name>`, the last two segments, without copying them.
        let relative = rest
            .rfind('/')
            .and_then(|last| rest[..last].rfind('/'))
            .map(|cut| &rest[cut + 1..])
            .ok_or(TransportError::Status(404))?;
        let (package, file) =
            FileName::parse_relative(relative).ok_or(TransportError::Status(404))?;
        match self.service.files().read(package, file).await {
            Ok(bytes) => Ok(futures::stream::iter([Ok(bytes)]).boxed()),
            Err(FilesError::NotFound { .. }) => Err(TransportError::Status(404)),
            Err(e) => Err(TransportError::Unreachable(e.to_string())),
        }
    }
}
