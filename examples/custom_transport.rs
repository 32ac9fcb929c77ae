//! Custom transport: an integrator's own [`Transport`] (here a caching site proxy that
//! counts what it forwards) and own [`Executor`], dropped into the fleet simulator and run
//! through the same scenario as the built-in loopback transport and scripted executor.
//!
//! ```sh
//! cargo run --example custom_transport
//! ```
//!
//! The proxy keeps every fragment it has fetched once and serves later requests for it
//! from its own map, as a branch-office cache would: the deployment gives the same
//! statuses, and the upstream server sees each fragment only once. The same pattern runs
//! the scenarios against any transport (an HTTP client to a staging server, a message
//! queue, ...) or any store (the `Store` under the `DeploymentService`).

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use ocs_deploy_core::PackageId;
use ocs_deploy_core::agent::{
    BodyStream, Executor, InstallOutcome, InstallPlan, Transport, TransportError,
};
use ocs_deploy_core::protocol::Request;
use ocs_deploy_core::service::{DeploymentService, ServiceConfig};
use ocs_deploy_core::testkit::fleet::{Fleet, FleetConfig, FleetReport, PackageSpec};
use ocs_deploy_core::testkit::{MemoryFiles, MemoryStore, VirtualClock};

/// A caching proxy in front of any transport: messages go through; files are fetched
/// upstream once and then served from memory.
#[derive(Debug)]
struct CachingProxy<T> {
    upstream: T,
    cache: Mutex<BTreeMap<String, Bytes>>,
    posts: AtomicU64,
    upstream_gets: AtomicU64,
    cache_hits: AtomicU64,
}

impl<T> CachingProxy<T> {
    fn new(upstream: T) -> Self {
        Self {
            upstream,
            cache: Mutex::new(BTreeMap::new()),
            posts: AtomicU64::new(0),
            upstream_gets: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
        }
    }
}

#[async_trait]
impl<T: Transport> Transport for CachingProxy<T> {
    async fn post(&self, request: &Request) -> Result<Vec<u8>, TransportError> {
        self.posts.fetch_add(1, Ordering::Relaxed);
        self.upstream.post(request).await
    }

    async fn get(&self, url: &str) -> Result<BodyStream, TransportError> {
        let cached = self.cache.lock().unwrap().get(url).cloned();
        if let Some(bytes) = cached {
            self.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(futures::stream::iter([Ok(bytes)]).boxed());
        }
        self.upstream_gets.fetch_add(1, Ordering::Relaxed);
        let mut stream = self.upstream.get(url).await?;
        let mut body = BytesMut::new();
        while let Some(chunk) = stream.next().await {
            body.extend_from_slice(&chunk?);
        }
        let body = body.freeze();
        self.cache
            .lock()
            .unwrap()
            .insert(url.to_owned(), body.clone());
        Ok(futures::stream::iter([Ok(body)]).boxed())
    }
}

/// An executor that "installs" by counting, and fails packages it is told to.
#[derive(Debug, Default)]
struct CountingExecutor {
    installs: AtomicU64,
}

#[async_trait]
impl Executor for CountingExecutor {
    async fn install(&self, _package: PackageId, _plan: &InstallPlan) -> InstallOutcome {
        self.installs.fetch_add(1, Ordering::Relaxed);
        InstallOutcome::Exited(0)
    }
}

fn scenario() -> FleetConfig {
    FleetConfig {
        agents: 500,
        seed: 7,
        packages: vec![
            PackageSpec::new("office-suite", 50_000, 10),
            PackageSpec::new("security-fix", 4_000, 2),
        ],
        ..FleetConfig::default()
    }
}

fn service() -> Arc<DeploymentService> {
    Arc::new(DeploymentService::new(
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryFiles::new()),
        ServiceConfig::default(),
    ))
}

async fn built_in() -> Result<FleetReport, Box<dyn Error>> {
    Ok(Fleet::simulate(scenario(), service()).await?)
}

async fn custom() -> Result<FleetReport, Box<dyn Error>> {
    let fleet = Fleet::setup(scenario(), service()).await?;
    let clock = VirtualClock::new(fleet.config().start);
    // The built-in loopback (with the scenario's faults) is the upstream of our proxy.
    let proxy = CachingProxy::new(fleet.loopback(&clock));
    let executor = CountingExecutor::default();
    let report = fleet.run(&proxy, &executor, &clock).await?;
    println!(
        "custom transport: {} messages, {} files fetched upstream, {} served from the cache; {} installs",
        proxy.posts.load(Ordering::Relaxed),
        proxy.upstream_gets.load(Ordering::Relaxed),
        proxy.cache_hits.load(Ordering::Relaxed),
        executor.installs.load(Ordering::Relaxed),
    );
    Ok(report)
}

fn main() -> Result<(), Box<dyn Error>> {
    let reference = futures::executor::block_on(built_in())?;
    let ours = futures::executor::block_on(custom())?;
    println!("{ours}");
    for (a, b) in reference.packages.iter().zip(&ours.packages) {
        assert_eq!(
            a.statuses, b.statuses,
            "same statuses through both transports"
        );
    }
    println!("same statuses as with the built-in loopback transport");
    Ok(())
}
