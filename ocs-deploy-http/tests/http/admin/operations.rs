//! Every operation end to end.

use bytes::Bytes;
use ocs_deploy_core::protocol::{DeviceId, Request};
use ocs_deploy_core::store::Store;
use ocs_deploy_core::{PackageId, StatusCode as OcsStatus};
use ocs_deploy_http::server::AdminConfig;
use ocs_deploy_http::server::admin::api::{
    Activation, AffectResponse, Group, Package, Removed, Setting, Settings, Stats, StatusClassName,
    StatusPage, TimelinePoint,
};
use reqwest::{Method, StatusCode};

use super::{Admin, error, fragments, parse, zip_with_script};
use crate::support::NOW;

#[tokio::test]
#[allow(clippy::too_many_lines)] // One deployment, start to end.
async fn every_operation_end_to_end() {
    let a = Admin::start(AdminConfig::default()).await;
    let archive = zip_with_script(b"#!/bin/sh\necho installed\n");

    // Build: the ZIP streamed in chunks, two fragments by count.
    let chunks: Vec<Result<Bytes, std::io::Error>> = archive
        .chunks(16)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let response = a
        .request(
            Method::POST,
            "/packages?name=installer&action=launch&command=./install.sh&priority=4&fragments=2",
        )
        .header("Content-Length", archive.len())
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let package: Package = parse(response, StatusCode::CREATED).await;
    assert_eq!(location, format!("/admin/v1/packages/{}", package.id));
    assert_eq!(package.name, "installer");
    assert_eq!(package.priority, 4);
    assert_eq!(package.fragments, 2);
    assert_eq!(package.size, archive.len() as u64);
    assert!(package.built);
    assert_eq!(package.created, NOW.as_secs());
    assert_eq!(fragments(&a.files, &package).await, archive);
    let info = package.info.clone().unwrap();
    assert!(info.contains(&format!("ID=\"{}\"", package.id)), "{info}");
    let id = package.id;

    // An Execute without file: no body.
    let execute: Package = parse(
        a.request(
            Method::POST,
            "/packages?name=no%20file&action=execute&command=true",
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(execute.fragments, 0);
    assert_ne!(execute.id, id);

    let listed: Vec<Package> = a.get("/packages").await;
    let ids: Vec<u64> = listed.iter().map(|p| p.id).collect();
    assert_eq!(ids, vec![id, execute.id]);
    assert!(listed.iter().all(|p| p.info.is_none()));
    let shown: Package = a.get(&format!("/packages/{id}")).await;
    assert_eq!(shown, package);

    // Activate.
    let activation: Activation = a.activate(id).await;
    assert_eq!(activation.package, id);
    assert_eq!(activation.info_location, "ocs.example.com/download");
    let activations: Vec<Activation> = a.get(&format!("/packages/{id}/activations")).await;
    assert_eq!(activations, vec![activation.clone()]);

    // Affect two computers by device id, a third by criteria.
    a.register("pc-one-2026-01-01-00-00-00", "pc-one").await;
    a.register("pc-two-2026-01-01-00-00-00", "pc-two").await;
    a.register("srv-2026-01-01-00-00-00", "srv-paris").await;
    let affected: AffectResponse = parse(
        a.send_json(
            Method::POST,
            &format!("/packages/{id}/affectations"),
            &serde_json::json!({
                "devices": ["pc-one-2026-01-01-00-00-00", "pc-two-2026-01-01-00-00-00"],
            }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(affected.activation, activation.id);
    assert_eq!(affected.computers.as_ref().map(Vec::len), Some(2));
    let by_criteria: AffectResponse = parse(
        a.send_json(
            Method::POST,
            &format!("/packages/{id}/affectations"),
            &serde_json::json!({
                "criteria": {"name": {"starts_with": "SRV-"}},
                "schedule": NOW.as_secs() + 3600,
            }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_criteria.computers.as_ref().map(Vec::len), Some(1));

    // Status: all waiting; one agent is told, then succeeds.
    let page: StatusPage = a.get(&format!("/packages/{id}/status")).await;
    assert_eq!(page.computers.len(), 3);
    assert!(
        page.computers
            .iter()
            .all(|c| c.status == "WAITING_NOTIFICATION"),
        "{page:?}"
    );
    assert_eq!(
        a.prolog("pc-one-2026-01-01-00-00-00").await,
        vec![PackageId::new(id).unwrap()]
    );
    a.prolog("pc-two-2026-01-01-00-00-00").await;
    a.service
        .handle(
            &Request::DownloadResult {
                device_id: "pc-one-2026-01-01-00-00-00".into(),
                package_id: PackageId::new(id).unwrap(),
                status: "SUCCESS".parse::<OcsStatus>().unwrap(),
            },
            NOW,
        )
        .await
        .unwrap();
    let success: StatusPage = a.get(&format!("/packages/{id}/status?class=success")).await;
    let devices: Vec<&str> = success
        .computers
        .iter()
        .map(|c| c.device_id.as_str())
        .collect();
    assert_eq!(devices, ["pc-one-2026-01-01-00-00-00"]);
    assert_eq!(success.computers[0].status, "SUCCESS");
    let exact: StatusPage = a
        .get(&format!("/packages/{id}/status?status=NOTIFIED&limit=10"))
        .await;
    assert_eq!(exact.computers.len(), 1);
    assert_eq!(exact.computers[0].device_id, "pc-two-2026-01-01-00-00-00");

    // Stats.
    let stats: Stats = a.get(&format!("/packages/{id}/stats")).await;
    assert_eq!(stats.package, id);
    assert_eq!(stats.total, 3);
    let share = |class| {
        stats
            .statuses
            .iter()
            .filter(|s| s.class == class)
            .map(|s| s.count)
            .sum::<u64>()
    };
    assert_eq!(share(StatusClassName::Success), 1);
    assert_eq!(share(StatusClassName::Notified), 1);
    assert_eq!(share(StatusClassName::Waiting), 1);
    let sum: f64 = stats.statuses.iter().map(|s| s.percent).sum();
    assert!((sum - 100.0).abs() < 1e-9, "{stats:?}");

    // Validate: successes, then the ones not told; the notified one stays.
    let removed: Removed = parse(
        a.request(
            Method::POST,
            &format!("/packages/{id}/validate?scope=success"),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(removed.removed, 1);
    let removed: Removed = parse(
        a.request(
            Method::POST,
            &format!("/packages/{id}/validate?scope=not-notified"),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(removed.removed, 1);
    let removed: Removed = parse(
        a.request(Method::POST, &format!("/packages/{id}/validate"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(removed.removed, 0);
    let left: StatusPage = a.get(&format!("/packages/{id}/status")).await;
    assert_eq!(left.computers.len(), 1);
    assert_eq!(left.computers[0].status, "NOTIFIED");

    // Groups: create, members, affect through the group, remove, delete.
    let group: Group = parse(
        a.send_json(
            Method::POST,
            "/groups",
            &serde_json::json!({"name": "paris", "visible": true}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(group.name, "paris");
    assert!(group.visible);
    let again = a
        .send_json(
            Method::POST,
            "/groups",
            &serde_json::json!({"name": "paris"}),
        )
        .await;
    assert!(error(again, StatusCode::CONFLICT).await.contains("paris"));
    let added = a
        .send_json(
            Method::POST,
            "/groups/paris/members",
            &serde_json::json!({"devices": ["srv-2026-01-01-00-00-00", "pc-two-2026-01-01-00-00-00"]}),
        )
        .await;
    assert_eq!(added.status(), StatusCode::NO_CONTENT);
    let shown: Group = a.get("/groups/paris").await;
    let mut members = shown.members.unwrap();
    members.sort();
    assert_eq!(
        members,
        ["pc-two-2026-01-01-00-00-00", "srv-2026-01-01-00-00-00"]
    );
    let groups: Vec<Group> = a.get("/groups").await;
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].id, group.id);
    let via_group: AffectResponse = parse(
        a.send_json(
            Method::POST,
            &format!("/packages/{id}/affectations"),
            &serde_json::json!({"group": "paris"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(via_group.group.as_deref(), Some("paris"));
    // The member whose affectation was cleared gets it again through the group.
    assert_eq!(
        a.prolog("srv-2026-01-01-00-00-00").await,
        vec![PackageId::new(id).unwrap()]
    );
    let removed = a
        .request(
            Method::DELETE,
            "/groups/paris/members/srv-2026-01-01-00-00-00",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let twice = a
        .request(
            Method::DELETE,
            "/groups/paris/members/srv-2026-01-01-00-00-00",
        )
        .send()
        .await
        .unwrap();
    error(twice, StatusCode::NOT_FOUND).await;
    let deleted = a
        .request(Method::DELETE, "/groups/paris")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = a
        .request(Method::GET, "/groups/paris")
        .send()
        .await
        .unwrap();
    error(gone, StatusCode::NOT_FOUND).await;

    // Configuration.
    let set: Setting = parse(
        a.send_json(
            Method::PUT,
            "/config/frag_latency",
            &serde_json::json!({"value": 10}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(set.key, "DOWNLOAD_FRAG_LATENCY");
    assert_eq!(set.value, 10);
    let settings: Settings = a.get("/config").await;
    assert_eq!(settings.get("DOWNLOAD_FRAG_LATENCY"), Some(&10));
    let cleared = a
        .request(Method::DELETE, "/config/DOWNLOAD_FRAG_LATENCY")
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    let settings: Settings = a.get("/config").await;
    assert_eq!(settings.get("DOWNLOAD_FRAG_LATENCY"), None);

    // Deactivate, then delete.
    let deactivated = a
        .request(Method::DELETE, &format!("/activations/{}", activation.id))
        .send()
        .await
        .unwrap();
    assert_eq!(deactivated.status(), StatusCode::NO_CONTENT);
    let twice = a
        .request(Method::DELETE, &format!("/activations/{}", activation.id))
        .send()
        .await
        .unwrap();
    error(twice, StatusCode::NOT_FOUND).await;
    let shown: Package = a.get(&format!("/packages/{id}")).await;
    assert!(shown.activations.is_empty());
    let deleted = a
        .request(Method::DELETE, &format!("/packages/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = a
        .request(Method::GET, &format!("/packages/{id}"))
        .send()
        .await
        .unwrap();
    assert!(
        error(gone, StatusCode::NOT_FOUND)
            .await
            .contains(&id.to_string())
    );
    assert!(a.files.list(PackageId::new(id).unwrap()).is_empty());
    let listed: Vec<Package> = a.get("/packages").await;
    assert_eq!(listed.len(), 1);
    a.stop().await;
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // One failure, start to end.
async fn unaffect_reaffect_timeline_group_unaffect_and_download_server() {
    let a = Admin::start(AdminConfig::default()).await;
    let package: Package = parse(
        a.request(Method::POST, "/packages?name=x&action=execute&command=true")
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let id = package.id;
    let activation: Activation = a.activate(id).await;
    let failing = "pc-fail-2026-01-01-00-00-00";
    let other = "pc-other-2026-01-01-00-00-00";
    a.register(failing, "pc-fail").await;
    a.register(other, "pc-other").await;
    let affected = a
        .send_json(
            Method::POST,
            &format!("/packages/{id}/affectations"),
            &serde_json::json!({"devices": [failing, other]}),
        )
        .await;
    assert_eq!(affected.status(), StatusCode::OK);

    // Not failed yet: nothing to re-affect.
    let early = a
        .request(
            Method::POST,
            &format!("/packages/{id}/affectations/{failing}/reaffect"),
        )
        .send()
        .await
        .unwrap();
    error(early, StatusCode::CONFLICT).await;
    a.prolog(failing).await;
    a.service
        .handle(
            &Request::DownloadResult {
                device_id: failing.into(),
                package_id: PackageId::new(id).unwrap(),
                status: "ERR_BAD_DIGEST".parse::<OcsStatus>().unwrap(),
            },
            NOW,
        )
        .await
        .unwrap();
    let timeline: Vec<TimelinePoint> = a.get(&format!("/packages/{id}/timeline")).await;
    let last = timeline.last().unwrap();
    let bad = last
        .statuses
        .iter()
        .find(|s| s.status == "ERR_BAD_DIGEST")
        .unwrap();
    assert_eq!(bad.count, 1);
    assert!((bad.percent - 50.0).abs() < 1e-9, "{timeline:?}");

    let again = a
        .request(
            Method::POST,
            &format!("/packages/{id}/affectations/{failing}/reaffect"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    let page: StatusPage = a.get(&format!("/packages/{id}/status?class=waiting")).await;
    let waiting: Vec<&str> = page
        .computers
        .iter()
        .map(|c| c.device_id.as_str())
        .collect();
    assert!(waiting.contains(&failing), "{page:?}");

    // Unaffect one computer.
    let path = format!("/packages/{id}/affectations/{other}");
    let removed = a.request(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let twice = a.request(Method::DELETE, &path).send().await.unwrap();
    error(twice, StatusCode::NOT_FOUND).await;
    let page: StatusPage = a.get(&format!("/packages/{id}/status")).await;
    assert_eq!(page.computers.len(), 1);

    // A group's affectation, removed.
    let created = a
        .send_json(
            Method::POST,
            "/groups",
            &serde_json::json!({"name": "lyon"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let via_group = a
        .send_json(
            Method::POST,
            &format!("/packages/{id}/affectations"),
            &serde_json::json!({"group": "lyon"}),
        )
        .await;
    assert_eq!(via_group.status(), StatusCode::OK);
    let path = format!("/groups/lyon/affectations/{}", activation.id);
    let removed = a.request(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let twice = a.request(Method::DELETE, &path).send().await.unwrap();
    error(twice, StatusCode::NOT_FOUND).await;

    // A site's download server.
    let path = format!("/computers/{failing}/download-server");
    let set = a
        .send_json(Method::PUT, &path, &serde_json::json!({"server": other}))
        .await;
    assert_eq!(set.status(), StatusCode::NO_CONTENT);
    let computer = |device: &'static str| {
        let store = a.store.clone();
        async move {
            store
                .computer_by_device(&DeviceId::parse(device).unwrap())
                .await
                .unwrap()
                .unwrap()
        }
    };
    let server_id = computer(other).await.id;
    assert_eq!(computer(failing).await.download_server, Some(server_id));
    let cleared = a
        .send_json(Method::PUT, &path, &serde_json::json!({"server": null}))
        .await;
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    assert_eq!(computer(failing).await.download_server, None);
    let unknown = a
        .send_json(
            Method::PUT,
            "/computers/nobody-2026-01-01-00-00-00/download-server",
            &serde_json::json!({"server": null}),
        )
        .await;
    error(unknown, StatusCode::NOT_FOUND).await;
    a.stop().await;
}
