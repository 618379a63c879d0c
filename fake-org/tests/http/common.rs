//! Shared helpers: start an org, log in, and make authenticated calls.

use fake_org::{FakeOrg, GenSpec, Org};
use reqwest::{Client, Response};
use serde_json::Value;

pub const V: &str = "/services/data/v62.0";

/// A small generated org: 20 accounts, 1000 contacts, 30 opportunities,
/// 60 contact roles.
pub fn small_spec() -> GenSpec {
    GenSpec {
        seed: 7,
        accounts: 20,
        contacts: 1000,
        opportunities: 30,
        contact_roles: 60,
    }
}

/// A running org, a client and a valid access token.
pub struct Session {
    pub org: FakeOrg,
    pub client: Client,
    pub token: String,
}

impl Session {
    pub async fn start() -> Session {
        Session::with_org(Org::generate(&small_spec())).await
    }

    pub async fn with_org(org: Org) -> Session {
        let org = FakeOrg::start(org).await.expect("fake org starts");
        let client = Client::new();
        let token = login(&client, &org).await;
        Session { org, client, token }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.org.base_url())
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request is answered")
    }

    pub async fn query(&self, soql: &str) -> Response {
        self.client
            .get(self.url(&format!("{V}/query")))
            .query(&[("q", soql)])
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("query is answered")
    }

    pub async fn query_json(&self, soql: &str) -> Value {
        let response = self.query(soql).await;
        assert_eq!(response.status(), 200, "query `{soql}`");
        response.json().await.expect("query answers JSON")
    }
}

/// Logs in with the password grant and returns the access token.
pub async fn login(client: &Client, org: &FakeOrg) -> String {
    let c = org.credentials();
    let body: Value = client
        .post(format!("{}/services/oauth2/token", org.base_url()))
        .form(&[
            ("grant_type", "password"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("username", &c.username),
            ("password", &c.password),
        ])
        .send()
        .await
        .expect("token request is answered")
        .json()
        .await
        .expect("token answer is JSON");
    body["access_token"]
        .as_str()
        .expect("an access token")
        .to_string()
}

/// Asserts a Salesforce error answer and returns its message.
pub async fn assert_sf_error(response: Response, status: u16, code: &str) -> String {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("error body is JSON");
    let first = &body.as_array().expect("errors come as an array")[0];
    assert_eq!(first["errorCode"], code, "{body}");
    first["message"].as_str().expect("a message").to_string()
}
