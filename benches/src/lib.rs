//! What the benchmark binaries share: the fleet that `prolog-load` and `prolog-fill`
//! build (N computers registered by inventory, P Execute packages affected to each).

use std::error::Error;
use std::sync::Arc;

use futures::StreamExt as _;
use ocs_deploy_core::protocol::DeviceId;
use ocs_deploy_core::service::{BuildRequest, DeploymentService};
use ocs_deploy_core::store::{AffectOptions, ComputerId, ComputerUpdate, Store};
use ocs_deploy_core::{Action, PackageId, Timestamp};

/// The DEVICEID of computer `n` of a benchmark fleet.
///
/// ```
/// assert_eq!(ocs_deploy_benches::device_text(7), "pc0000007-2026-01-01-00-00-00");
/// ```
pub fn device_text(n: u32) -> String {
    format!("pc{n:07}-2026-01-01-00-00-00")
}

/// [`device_text`] as a [`DeviceId`].
///
/// # Panics
/// Never: the text is a valid device id for every `n`.
pub fn device(n: u32) -> DeviceId {
    DeviceId::parse(&device_text(n)).expect("valid device id")
}

/// Registers computers `0..computers` (name, IP address) through inventories sent 16 at
/// a time, as from a real fleet, calling `each` after every one; returns their ids.
///
/// # Errors
/// The store's.
pub async fn register_computers(
    store: &Arc<dyn Store>,
    computers: u32,
    now: Timestamp,
    mut each: impl FnMut(),
) -> Result<Vec<ComputerId>, Box<dyn Error>> {
    let mut inventories = futures::stream::iter(0..computers)
        .map(|n| {
            let store = Arc::clone(store);
            async move {
                let mut update = ComputerUpdate::new(device(n));
                update.name = Some(format!("pc{n:07}"));
                update.ip_address = Some(format!("10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255));
                store.upsert_computer(&update, now).await
            }
        })
        .buffer_unordered(16);
    let mut ids = Vec::with_capacity(computers as usize);
    while let Some(id) = inventories.next().await {
        ids.push(id?);
        each();
    }
    Ok(ids)
}

/// Builds `packages` Execute packages, activates each and affects it to every computer
/// of `ids` (in chunks of 10,000), calling `each` after every package; returns the
/// packages in order.
///
/// # Errors
/// The service's and the store's.
pub async fn affect_packages(
    service: &DeploymentService,
    store: &Arc<dyn Store>,
    ids: &[ComputerId],
    packages: u32,
    now: Timestamp,
    mut each: impl FnMut(),
) -> Result<Vec<PackageId>, Box<dyn Error>> {
    let mut built = Vec::with_capacity(packages as usize);
    for p in 0..packages {
        let request = BuildRequest::new(
            format!("package {p}"),
            Action::Execute {
                command: "true".into(),
            },
        );
        let package = service
            .build(
                request,
                None::<futures::stream::Empty<Result<bytes::Bytes, std::io::Error>>>,
                now,
            )
            .await?;
        let activation = service
            .activate(
                package.id,
                "ocs.example.com/download",
                "ocs.example.com/download",
                now,
            )
            .await?;
        for chunk in ids.chunks(10_000) {
            store
                .affect(activation, chunk, &AffectOptions::default(), now)
                .await?;
        }
        built.push(package.id);
        each();
    }
    Ok(built)
}
