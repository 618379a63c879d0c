//! The token endpoint's grants and errors, and bearer checks.

use std::time::{SystemTime, UNIX_EPOCH};

use fake_org::{FakeOrg, Org, JWT_TEST_PRIVATE_KEY_PEM};
use reqwest::Client;
use serde_json::{json, Value};

use crate::common::{assert_sf_error, Session, V};

async fn token(org: &FakeOrg, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (u16, Value) {
    let mut request = Client::new()
        .post(format!("{}/services/oauth2/token", org.base_url()))
        .form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn assert_success(body: &Value, org: &FakeOrg) {
    assert!(body["access_token"].as_str().unwrap().starts_with("00D"));
    assert_eq!(body["instance_url"], org.base_url());
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["issued_at"].as_str().unwrap().parse::<u64>().is_ok());
    assert!(body["id"].as_str().unwrap().contains("/id/00D"));
    assert!(body["signature"].is_string());
    assert!(body.get("refresh_token").is_none());
}

#[tokio::test]
async fn password_grant_succeeds_and_fails_like_salesforce() {
    let org = FakeOrg::start(Org::empty()).await.unwrap();
    let c = org.credentials();
    let mut form = vec![
        ("grant_type", "password"),
        ("client_id", c.client_id.as_str()),
        ("client_secret", c.client_secret.as_str()),
        ("username", c.username.as_str()),
        ("password", "fake-passwordfake-token"),
    ];
    let (status, body) = token(&org, &form, None).await;
    assert_eq!(status, 200);
    assert_success(&body, &org);

    form[4].1 = "fake-password";
    let (status, body) = token(&org, &form, None).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "authentication failure"})
    );

    form[1].1 = "someone-else";
    let (_, body) = token(&org, &form, None).await;
    assert_eq!(body["error"], "invalid_client_id");
}

#[tokio::test]
async fn refresh_and_client_credentials_grants() {
    let org = FakeOrg::start(Org::empty()).await.unwrap();
    let c = org.credentials();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", "fake-refresh-token"),
        ("client_id", "fake-client-id"),
    ];
    let (status, body) = token(&org, &form, None).await;
    assert_eq!(status, 200);
    assert_success(&body, &org);

    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", "fake-refresh-token"),
    ];
    let (status, _) = token(&org, &form, Some((&c.client_id, &c.client_secret))).await;
    assert_eq!(status, 200);

    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", "stale"),
        ("client_id", "fake-client-id"),
    ];
    let (status, body) = token(&org, &form, None).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_description"], "expired access/refresh token");

    let form = [("grant_type", "client_credentials")];
    let (status, body) = token(&org, &form, Some((&c.client_id, &c.client_secret))).await;
    assert_eq!(status, 200);
    assert_success(&body, &org);
    let (status, _) = token(&org, &form, Some((&c.client_id, "wrong"))).await;
    assert_eq!(status, 400);

    let (status, body) = token(&org, &[("grant_type", "authorization_code")], None).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "unsupported_grant_type");
}

fn assertion(aud: &str, exp_offset: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = json!({"iss": "fake-client-id", "sub": "integration@example.com", "aud": aud, "exp": now + exp_offset});
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(JWT_TEST_PRIVATE_KEY_PEM.as_bytes()).unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .unwrap()
}

#[tokio::test]
async fn jwt_bearer_grant_checks_signature_audience_and_expiry() {
    let org = FakeOrg::start(Org::empty()).await.unwrap();
    let grant = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    let good = assertion("https://login.salesforce.com", 180);
    let (status, body) = token(&org, &[("grant_type", grant), ("assertion", &good)], None).await;
    assert_eq!(status, 200);
    assert_success(&body, &org);

    let wrong_aud = assertion("https://example.com", 180);
    let (status, body) = token(
        &org,
        &[("grant_type", grant), ("assertion", &wrong_aud)],
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error_description"], "audience is invalid");

    let expired = assertion("https://test.salesforce.com", -600);
    let (_, body) = token(
        &org,
        &[("grant_type", grant), ("assertion", &expired)],
        None,
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");

    let (_, body) = token(
        &org,
        &[("grant_type", grant), ("assertion", "not.a.jwt")],
        None,
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn data_requests_need_a_live_bearer_token() {
    let s = Session::start().await;
    let response = s
        .client
        .get(s.url(&format!("{V}/sobjects")))
        .send()
        .await
        .unwrap();
    assert_sf_error(response, 401, "INVALID_SESSION_ID").await;

    assert_eq!(s.get(&format!("{V}/sobjects")).await.status(), 200);
    s.org.expire_tokens();
    let message = assert_sf_error(
        s.get(&format!("{V}/sobjects")).await,
        401,
        "INVALID_SESSION_ID",
    )
    .await;
    assert_eq!(message, "Session expired or invalid");
}

#[tokio::test]
async fn tokens_can_expire_after_k_requests() {
    let mut s = Session::start().await;
    s.org.expire_tokens_after(2);
    assert_eq!(s.get(&format!("{V}/sobjects")).await.status(), 200);
    assert_eq!(s.get(&format!("{V}/sobjects")).await.status(), 200);
    assert_eq!(s.get(&format!("{V}/sobjects")).await.status(), 401);
    s.token = crate::common::login(&s.client, &s.org).await;
    assert_eq!(s.get(&format!("{V}/sobjects")).await.status(), 200);
}

#[tokio::test]
async fn every_response_carries_api_usage() {
    let s = Session::start().await;
    s.org.clear_log();
    for n in 1..=3 {
        let response = s.get(&format!("{V}/sobjects")).await;
        let info = response.headers()["sforce-limit-info"]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(info, format!("api-usage={n}/100000"));
    }
    assert_eq!(s.org.api_calls(), 3);
    s.org.set_api_limit(3);
    assert_sf_error(
        s.get(&format!("{V}/sobjects")).await,
        403,
        "REQUEST_LIMIT_EXCEEDED",
    )
    .await;
}
