//! The fake org over HTTPS: a client trusting only the fake's certificate
//! logs in and queries; one that does not trust it is refused.

use fake_org::{FakeOrg, Org};
use reqwest::{Certificate, Client};
use serde_json::Value;

use crate::common::{login, small_spec, V};

fn client_trusting(pem: &str) -> Client {
    let certificate = Certificate::from_pem(pem.as_bytes()).expect("the fake's PEM parses");
    Client::builder()
        .tls_certs_only([certificate])
        .build()
        .expect("a client")
}

#[tokio::test]
async fn a_client_trusting_the_certificate_logs_in_and_queries() {
    let org = FakeOrg::start_tls(Org::generate(&small_spec()))
        .await
        .expect("the fake org starts");
    assert!(org.base_url().starts_with("https://127.0.0.1:"));
    let client = client_trusting(org.ca_pem().expect("a TLS org has a certificate"));

    let token = login(&client, &org).await;
    let body: Value = client
        .get(format!("{}{V}/query", org.base_url()))
        .query(&[("q", "SELECT Id FROM Contact")])
        .bearer_auth(&token)
        .send()
        .await
        .expect("the query is answered")
        .json()
        .await
        .expect("JSON");
    assert_eq!(body["totalSize"], 1000);
}

#[tokio::test]
async fn the_certificate_is_valid_for_localhost_too() {
    let org = FakeOrg::start_tls(Org::empty()).await.expect("starts");
    let client = client_trusting(org.ca_pem().unwrap());
    let url = org.base_url().replace("127.0.0.1", "localhost");
    let response = client
        .get(format!("{url}/services/data"))
        .send()
        .await
        .expect("answered over https://localhost");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_client_not_trusting_the_certificate_is_refused() {
    let org = FakeOrg::start_tls(Org::empty()).await.expect("starts");
    let other = FakeOrg::start_tls(Org::empty()).await.expect("starts");
    let strangers = [
        Client::new(),
        client_trusting(other.ca_pem().expect("a certificate")),
    ];
    for client in strangers {
        let err = client
            .get(format!("{}/services/data", org.base_url()))
            .send()
            .await
            .expect_err("an untrusted certificate is refused");
        assert!(err.is_connect(), "{err:?}");
    }
    assert!(org.requests().is_empty(), "nothing got through");
}

#[tokio::test]
async fn plain_orgs_have_no_certificate() {
    let org = FakeOrg::start(Org::empty()).await.expect("starts");
    assert!(org.base_url().starts_with("http://"));
    assert_eq!(org.ca_pem(), None);
}
