//! The bearer token, and the plain HTTP listener without the admin API.

use ocs_deploy_core::store::Store;
use ocs_deploy_http::server::AdminConfig;
use reqwest::{Method, StatusCode};

use super::{Admin, TOKEN, error};

#[tokio::test]
async fn requests_without_the_token_get_401_and_change_nothing() {
    let a = Admin::start(AdminConfig::default()).await;
    for (method, path) in [
        (Method::GET, "/packages"),
        (Method::POST, "/packages?name=x&action=execute&command=true"),
        (Method::DELETE, "/packages/1700000000"),
        (Method::PUT, "/config/FRAG_LATENCY"),
        (Method::GET, "/groups"),
        (Method::GET, "/no/such/route"),
    ] {
        let response = a
            .client
            .request(method.clone(), a.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .split(' ')
                .next(),
            Some("Bearer"),
            "{method} {path}"
        );
        let message = error(response, StatusCode::UNAUTHORIZED).await;
        assert_eq!(message, "admin token required", "{method} {path}");
    }
    assert!(a.store.packages().await.unwrap().is_empty());
    a.stop().await;
}

#[tokio::test]
async fn a_wrong_token_gets_401() {
    let a = Admin::start(AdminConfig::default()).await;
    let almost = format!("{}x", &TOKEN[..TOKEN.len() - 1]);
    let longer = format!("{TOKEN}0");
    let basic = format!("Basic {TOKEN}");
    for authorization in [
        format!("Bearer {almost}"),
        format!("Bearer {longer}"),
        format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]),
        "Bearer ".to_owned(),
        basic,
    ] {
        let response = a
            .client
            .post(a.url("/packages?name=x&action=execute&command=true"))
            .header("Authorization", &authorization)
            .send()
            .await
            .unwrap();
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        let message = error(response, StatusCode::UNAUTHORIZED).await;
        assert!(message.contains("token"), "{authorization}: {message}");
    }
    assert!(a.store.packages().await.unwrap().is_empty());
    // The right one works, whatever the scheme's case.
    let ok = a
        .client
        .get(a.url("/packages"))
        .header("Authorization", format!("bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    a.stop().await;
}

#[tokio::test]
async fn the_admin_api_is_not_on_the_plain_http_listener() {
    let a = Admin::start(AdminConfig::default()).await;
    for path in ["/packages", "/groups", "/config"] {
        let plain = a
            .client
            .get(a.http_url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(plain.status(), StatusCode::NOT_FOUND, "{path}");
        let tls = a.request(Method::GET, path).send().await.unwrap();
        assert_eq!(tls.status(), StatusCode::OK, "{path}");
    }
    let build = a
        .client
        .post(a.http_url("/packages?name=x&action=execute&command=true"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(build.status(), StatusCode::NOT_FOUND);
    assert!(a.store.packages().await.unwrap().is_empty());
    a.stop().await;
}
