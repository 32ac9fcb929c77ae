//! Uploads: bounded while streaming, and streamed into the build.

use std::time::Duration;

use bytes::Bytes;
use futures::SinkExt as _;
use ocs_deploy_core::PackageId;
use ocs_deploy_core::store::{FileName, Store};
use ocs_deploy_http::server::AdminConfig;
use ocs_deploy_http::server::admin::api::Package;
use reqwest::{Method, StatusCode};

use super::{Admin, error, fragments, noise, parse};
use crate::support::NOW;

#[tokio::test]
async fn an_oversize_upload_is_refused_and_leaves_no_package() {
    let limit = 64 * 1024;
    let a = Admin::start(AdminConfig::default().with_max_upload(limit)).await;
    let archive = noise(100 * 1024);

    // Streamed without a length: refused once the limit is passed.
    let chunks: Vec<Result<Bytes, std::io::Error>> = archive
        .chunks(8 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let response = a
        .request(
            Method::POST,
            "/packages?name=big&action=store&command=/tmp/big&fragment_size=10000",
        )
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    let message = error(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(message.contains(&limit.to_string()), "{message}");
    assert!(a.store.packages().await.unwrap().is_empty());
    // The build wrote fragments before the limit was passed; they are gone. Build ids
    // start at NOW, so the refused build had one of the first ids.
    for n in 0..3 {
        let id = PackageId::new(NOW.as_secs() + n).unwrap();
        assert!(a.files.list(id).is_empty(), "files of {id} left behind");
    }

    // With a declared length over the limit: refused before reading.
    let response = a
        .request(
            Method::POST,
            "/packages?name=big&action=store&command=/tmp/big",
        )
        .body(archive.clone())
        .send()
        .await
        .unwrap();
    error(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(a.store.packages().await.unwrap().is_empty());

    // Exactly the limit is fine.
    let response = a
        .request(
            Method::POST,
            "/packages?name=fits&action=store&command=/tmp/fits",
        )
        .body(archive[..usize::try_from(limit).unwrap()].to_vec())
        .send()
        .await
        .unwrap();
    let package: Package = parse(response, StatusCode::CREATED).await;
    assert_eq!(package.size, limit);
    a.stop().await;
}

/// The build starts while the upload is still arriving: the package row exists (not
/// built) before the last bytes are sent, and an upload far larger than the JSON limit
/// goes through.
#[tokio::test]
async fn uploads_stream_into_the_build() {
    let a = Admin::start(
        AdminConfig::default()
            .with_max_json(4 * 1024)
            .with_max_upload(1 << 20),
    )
    .await;
    let archive = noise(300_000);
    let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let request = a
        .request(
            Method::POST,
            "/packages?name=streamed&action=launch&command=./setup&fragment_size=100000",
        )
        .body(reqwest::Body::wrap_stream(rx));
    let upload = tokio::spawn(request.send());

    let (head, tail) = archive.split_at(120_000);
    for chunk in head.chunks(10_000) {
        tx.send(Ok(Bytes::copy_from_slice(chunk))).await.unwrap();
    }
    // Wait until the build has started and written its first fragment, with 180 000
    // bytes unsent. A server that buffered the whole body would never get there (the
    // bound only turns that deadlock into a failure; it measures nothing).
    let started = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let packages = a.store.packages().await.unwrap();
            if let Some(p) = packages.first()
                && a.files.list(p.id).contains(&FileName::Fragment(1))
            {
                break p.clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the build did not start before the upload ended");
    assert!(!started.is_built(), "built before the upload ended");
    for chunk in tail.chunks(10_000) {
        tx.send(Ok(Bytes::copy_from_slice(chunk))).await.unwrap();
    }
    drop(tx);
    let response = upload.await.unwrap().unwrap();
    let package: Package = parse(response, StatusCode::CREATED).await;
    assert_eq!(package.id, started.id.get());
    assert_eq!(package.fragments, 3);
    assert_eq!(package.size, archive.len() as u64);
    assert_eq!(fragments(&a.files, &package).await, archive);
    a.stop().await;
}
