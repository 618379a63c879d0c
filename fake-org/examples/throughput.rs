//! Measures how fast the fake org serves a large REST query: generates an
//! org in-process, logs in, and pages through every contact with
//! 2,000-record pages, printing pages per second.
//!
//! `cargo run --release -p fake-org --example throughput -- [CONTACTS] [--parse]`
//!
//! Without `--parse` the client only reads each page's head (to find the
//! next locator), so the figure is the server's; with it, the client also
//! parses every page into a `serde_json::Value`.

use std::time::Instant;

use fake_org::{FakeOrg, GenSpec, Org};
use serde_json::Value;

/// The fields a typical sync asks for, parents included.
const SOQL: &str = "SELECT Id, FirstName, LastName, Name, Email, Phone, Birthdate, AccountId, \
    Account.Name, MailingStreet, MailingCity, MailingState, MailingPostalCode, MailingCountry, \
    MailingAddress, LeadSource, Experience__c, Specialty__c, Industries__c, Newsletter__c, \
    Score__c, Score_Band__c, Last_Event__c, CreatedDate, LastModifiedDate, SystemModstamp, \
    IsDeleted FROM Contact";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let contacts: usize = std::env::args().nth(1).map_or(Ok(100_000), |a| a.parse())?;
    let full_parse = std::env::args().any(|a| a == "--parse");
    let spec = GenSpec {
        contacts,
        accounts: 1000,
        ..GenSpec::default()
    };
    let started = Instant::now();
    let org = FakeOrg::start(Org::generate(&spec)).await?;
    println!(
        "generated {contacts} contacts in {:.2}s",
        started.elapsed().as_secs_f64()
    );
    let client = reqwest::Client::new();
    let token = login(&client, &org).await?;
    let started = Instant::now();
    let (pages, records, bytes) = read_all(&client, &org, &token, full_parse).await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{records} records in {pages} pages, {:.1} MB, {seconds:.2}s: {:.1} pages/s, {:.0} records/s",
        bytes as f64 / 1e6,
        pages as f64 / seconds,
        records as f64 / seconds
    );
    Ok(())
}

async fn login(client: &reqwest::Client, org: &FakeOrg) -> anyhow::Result<String> {
    let c = org.credentials();
    let body: Value = client
        .post(format!("{}/services/oauth2/token", org.base_url()))
        .form(&[
            ("grant_type", "password"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
            ("username", c.username.as_str()),
            ("password", c.password.as_str()),
        ])
        .send()
        .await?
        .json()
        .await?;
    Ok(body["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

/// Pages through the whole query; returns pages, records and body bytes.
async fn read_all(
    client: &reqwest::Client,
    org: &FakeOrg,
    token: &str,
    full_parse: bool,
) -> anyhow::Result<(usize, usize, usize)> {
    let first = format!(
        "{}/services/data/v62.0/query?q={}",
        org.base_url(),
        encode(SOQL)
    );
    let mut url = Some(first);
    let (mut pages, mut records, mut bytes) = (0, 0, 0);
    while let Some(next) = url.take() {
        let body = client
            .get(&next)
            .bearer_auth(token)
            .header("Sforce-Query-Options", "batchSize=2000")
            .send()
            .await?
            .bytes()
            .await?;
        pages += 1;
        bytes += body.len();
        let (head, next) = page_head(&body)?;
        if full_parse {
            let page: Value = serde_json::from_slice(&body)?;
            records += page["records"].as_array().map_or(0, Vec::len);
        } else {
            let total = head["totalSize"].as_u64().unwrap_or(0) as usize;
            records = (records + 2000).min(total);
        }
        url = next.map(|path| format!("{}{path}", org.base_url()));
    }
    Ok((pages, records, bytes))
}

/// Parses only what precedes `"records"` (totalSize, done, nextRecordsUrl),
/// so the measurement is of the server, not of client-side JSON parsing.
fn page_head(body: &[u8]) -> anyhow::Result<(Value, Option<String>)> {
    let text = std::str::from_utf8(body)?;
    let cut = text.find("\"records\":").unwrap_or(text.len());
    let head: Value = serde_json::from_str(&format!("{}}}", text[..cut].trim_end_matches(',')))?;
    let next = head["nextRecordsUrl"].as_str().map(str::to_string);
    Ok((head, next))
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
