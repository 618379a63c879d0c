//! The benchmark's limit: the pages a sync reads, fetched by a bare HTTP
//! client and thrown away, one after another. Nothing is parsed beyond the
//! page links, nothing is stored.
//!
//! Usage: `bare_fetch BASE_URL SOQL` with `SFSYNC_CLIENT_SECRET` and
//! `SFSYNC_PASSWORD` set for the fake org's password flow. Prints the number
//! of pages and bytes read.

use std::env;

use anyhow::{anyhow, Context, Result};
use serde::Deserialize;

#[derive(Deserialize)]
struct Token {
    access_token: String,
    instance_url: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Links {
    next_records_url: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let mut args = env::args().skip(1);
    let base = args
        .next()
        .ok_or_else(|| anyhow!("usage: bare_fetch BASE_URL SOQL"))?;
    let soql = args
        .next()
        .ok_or_else(|| anyhow!("usage: bare_fetch BASE_URL SOQL"))?;
    let http = reqwest::Client::builder()
        .tls_certs_merge(ca_certificates()?)
        .build()?;
    let form = [
        ("grant_type", "password".to_string()),
        ("client_id", "fake-client-id".to_string()),
        (
            "client_secret",
            env::var("SFSYNC_CLIENT_SECRET").context("SFSYNC_CLIENT_SECRET")?,
        ),
        ("username", "integration@example.com".to_string()),
        (
            "password",
            env::var("SFSYNC_PASSWORD").context("SFSYNC_PASSWORD")?,
        ),
    ];
    let token: Token = http
        .post(format!("{base}/services/oauth2/token"))
        .form(&form)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut url = format!("{}/services/data/v62.0/query", token.instance_url);
    let mut query = vec![("q", soql)];
    let (mut pages, mut bytes) = (0u64, 0u64);
    loop {
        let body = http
            .get(&url)
            .query(&query)
            .bearer_auth(&token.access_token)
            .header("Sforce-Query-Options", "batchSize=2000")
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        pages += 1;
        bytes += body.len() as u64;
        // Only the link to the next page is read; the records are skipped.
        let links: Links = serde_json::from_slice(&body)?;
        match links.next_records_url {
            Some(next) => {
                url = format!("{}{next}", token.instance_url);
                query.clear();
            }
            None => break,
        }
    }
    println!("{pages} pages, {bytes} bytes");
    Ok(())
}

/// Trusts `SSL_CERT_FILE` too, for the fake org's certificate over TLS.
fn ca_certificates() -> Result<Vec<reqwest::Certificate>> {
    match env::var("SSL_CERT_FILE") {
        Ok(path) => Ok(reqwest::Certificate::from_pem_bundle(&std::fs::read(
            path,
        )?)?),
        Err(_) => Ok(Vec::new()),
    }
}
