//! Bad input: a 4xx with a JSON error, never a 500, nothing changed.

use ocs_deploy_http::server::AdminConfig;
use ocs_deploy_http::server::admin::api::{Activation, Package};
use reqwest::{Method, StatusCode};

use super::{Admin, error, parse};

#[tokio::test]
#[allow(clippy::too_many_lines)] // One table of refusals.
async fn bad_input_gets_a_4xx_with_a_json_error() {
    let a = Admin::start(AdminConfig::default().with_max_json(1024)).await;
    let built: Package = parse(
        a.request(Method::POST, "/packages?name=x&action=execute&command=true")
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let id = built.id;
    let unknown = 1_600_000_000u64;
    let locations = serde_json::json!({
        "info_location": "ocs.example.com/download",
        "pack_location": "ocs.example.com/download",
    });

    // Unknown package: 404 everywhere.
    for (method, path) in [
        (Method::GET, format!("/packages/{unknown}")),
        (Method::DELETE, format!("/packages/{unknown}")),
        (Method::GET, format!("/packages/{unknown}/stats")),
        (Method::GET, format!("/packages/{unknown}/status")),
        (Method::GET, format!("/packages/{unknown}/activations")),
        (Method::POST, format!("/packages/{unknown}/validate")),
        (Method::DELETE, "/activations/999".to_owned()),
        (Method::GET, "/groups/nobody".to_owned()),
        (Method::DELETE, "/groups/nobody".to_owned()),
        (Method::GET, "/no/such/route".to_owned()),
    ] {
        let response = a.request(method.clone(), &path).send().await.unwrap();
        error(response, StatusCode::NOT_FOUND).await;
    }
    let activate_unknown = a
        .send_json(
            Method::POST,
            &format!("/packages/{unknown}/activations"),
            &locations,
        )
        .await;
    assert!(
        error(activate_unknown, StatusCode::NOT_FOUND)
            .await
            .contains("does not exist")
    );

    // Malformed ids, query strings and bodies: 400.
    for (method, path) in [
        (Method::GET, "/packages/abc".to_owned()),
        (Method::GET, "/packages/0170".to_owned()),
        (Method::DELETE, "/activations/x".to_owned()),
        (
            Method::POST,
            "/packages?name=x&action=jump&command=true".to_owned(),
        ),
        (Method::POST, "/packages?name=x&action=execute".to_owned()),
        (
            Method::POST,
            "/packages?name=x&action=execute&command=true&priority=11".to_owned(),
        ),
        (
            Method::POST,
            "/packages?name=x&action=execute&command=true&colour=red".to_owned(),
        ),
        (
            Method::POST,
            "/packages?name=x&action=launch&command=./install.sh".to_owned(),
        ),
        (
            Method::POST,
            format!("/packages/{id}/validate?scope=everything"),
        ),
        (
            Method::GET,
            format!("/packages/{id}/status?class=success&status=SUCCESS"),
        ),
        (Method::GET, format!("/packages/{id}/status?limit=0")),
        (Method::GET, format!("/packages/{id}/status?offset=-1")),
    ] {
        let response = a.request(method.clone(), &path).send().await.unwrap();
        let message = error(response, StatusCode::BAD_REQUEST).await;
        assert!(!message.is_empty(), "{method} {path}");
    }
    for body in [
        "{",
        "[]",
        r#"{"info_location": 1}"#,
        r#"{"info_location": "a/b"}"#,
    ] {
        let response = a
            .request(Method::POST, &format!("/packages/{id}/activations"))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let message = error(response, StatusCode::BAD_REQUEST).await;
        assert!(message.starts_with("bad JSON body"), "{body}: {message}");
    }
    let not_json = a
        .request(Method::POST, &format!("/packages/{id}/activations"))
        .body(locations.to_string())
        .send()
        .await
        .unwrap();
    error(not_json, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let huge = serde_json::json!({"devices": vec!["pc-2026-01-01-00-00-00"; 100]});
    let too_large = a
        .send_json(Method::POST, &format!("/packages/{id}/affectations"), &huge)
        .await;
    error(too_large, StatusCode::PAYLOAD_TOO_LARGE).await;
    let bad_location = a
        .send_json(
            Method::POST,
            &format!("/packages/{id}/activations"),
            &serde_json::json!({"info_location": "https://x/download", "pack_location": "x/download"}),
        )
        .await;
    assert!(
        error(bad_location, StatusCode::BAD_REQUEST)
            .await
            .contains("location")
    );

    // Affectations: not activated yet (409), then bad targets.
    let not_activated = a
        .send_json(
            Method::POST,
            &format!("/packages/{id}/affectations"),
            &serde_json::json!({"all": true}),
        )
        .await;
    assert!(
        error(not_activated, StatusCode::CONFLICT)
            .await
            .contains("not activated")
    );
    let activation: Activation = parse(
        a.send_json(
            Method::POST,
            &format!("/packages/{id}/activations"),
            &locations,
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let duplicate = a
        .send_json(
            Method::POST,
            &format!("/packages/{id}/activations"),
            &locations,
        )
        .await;
    assert!(
        error(duplicate, StatusCode::CONFLICT)
            .await
            .contains("already activated")
    );
    for (body, status) in [
        (serde_json::json!({}), StatusCode::BAD_REQUEST),
        (
            serde_json::json!({"all": true, "group": "g"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            serde_json::json!({"devices": ["not a device id"]}),
            StatusCode::BAD_REQUEST,
        ),
        (serde_json::json!({"criteria": {}}), StatusCode::BAD_REQUEST),
        (
            serde_json::json!({"group": "g", "force": true}),
            StatusCode::BAD_REQUEST,
        ),
        (
            serde_json::json!({"devices": ["pc-2026-01-01-00-00-00"]}),
            StatusCode::NOT_FOUND,
        ),
        (
            serde_json::json!({"group": "nobody"}),
            StatusCode::NOT_FOUND,
        ),
        (
            serde_json::json!({"all": true, "activation": activation.id + 1}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let response = a
            .send_json(Method::POST, &format!("/packages/{id}/affectations"), &body)
            .await;
        let message = error(response, status).await;
        assert!(!message.is_empty(), "{body}");
    }

    // Settings and groups.
    let unknown_setting = a
        .send_json(
            Method::PUT,
            "/config/COLOUR",
            &serde_json::json!({"value": 1}),
        )
        .await;
    error(unknown_setting, StatusCode::NOT_FOUND).await;
    let no_value = a
        .send_json(
            Method::PUT,
            "/config/TIMEOUT",
            &serde_json::json!({"value": "x"}),
        )
        .await;
    error(no_value, StatusCode::BAD_REQUEST).await;
    let empty_name = a
        .send_json(Method::POST, "/groups", &serde_json::json!({"name": " "}))
        .await;
    error(empty_name, StatusCode::BAD_REQUEST).await;
    let unknown_member = a
        .send_json(
            Method::POST,
            "/groups/nobody/members",
            &serde_json::json!({"devices": ["pc-2026-01-01-00-00-00"]}),
        )
        .await;
    error(unknown_member, StatusCode::NOT_FOUND).await;

    // Nothing was built by the refused builds.
    let listed: Vec<Package> = a.get("/packages").await;
    assert_eq!(listed.len(), 1);
    a.stop().await;
}
