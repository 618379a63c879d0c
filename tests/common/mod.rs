//! What every integration test needs: a fake org on loopback, a temporary
//! folder with a sync.toml and a catalog, and the real `sfsync` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use fake_org::{FakeOrg, GenSpec, Org};
use rusqlite::Connection;
use tempfile::TempDir;

/// A fake org, a folder, and a configuration pointing one at the other.
pub struct Env {
    pub org: FakeOrg,
    pub dir: TempDir,
}

/// The `[[types]]` most tests use: contacts with an email, by name.
pub const CONTACTS: &str = r#"
[[types]]
name = "Contact"
sobject = "Contact"
criteria = "Email != null"
order_by = "LastName, FirstName"
container = "people"
title = "Name"
on_update = "publish"
on_missing = "reject"
[types.fields]
name = "Name"
email = "Email"
account_name = "Account.Name"
birthdate = { sf = "Birthdate", type = "date" }
industries = { sf = "Industries__c", type = "multipicklist" }
roles = { relationship = "OpportunityContactRoles", fields = { role = "Role", opportunity = "Opportunity.Name" } }
"#;

/// Contacts with two plain fields: no child subqueries or picklists, so
/// every request under `/query` after the count is one page of the read.
pub const PLAIN: &str = r#"
[[types]]
name = "Contact"
sobject = "Contact"
criteria = "Email != null"
order_by = "LastName, FirstName"
container = "people"
title = "Name"
on_update = "publish"
on_missing = "reject"
[types.fields]
name = "Name"
email = "Email"
"#;

impl Env {
    /// A small generated org (20 accounts, 200 contacts).
    pub fn small() -> Env {
        Env::with_org(Org::generate(&GenSpec {
            seed: 7,
            accounts: 20,
            contacts: 200,
            opportunities: 40,
            contact_roles: 60,
        }))
    }

    /// An org made by the caller.
    pub fn with_org(org: Org) -> Env {
        let org = FakeOrg::spawn(org).expect("the fake org starts");
        let dir = tempfile::tempdir().expect("a temporary folder");
        let env = Env { org, dir };
        env.write_config("password", CONTACTS);
        env
    }

    /// Writes sync.toml with the given flow and `[[types]]` text.
    pub fn write_config(&self, auth: &str, types: &str) {
        let text = format!(
            "[salesforce]\nlogin_url = \"{url}\"\ninstance_url = \"{url}\"\nauth = \"{auth}\"\n\
             client_id = \"{client}\"\nusername = \"{user}\"\nmax_retries = 3\nretry_delay_ms = 10\n\
             timeout_secs = 10\n\n[catalog]\npath = \"catalog.db\"\n{types}",
            url = self.org.base_url(),
            client = self.org.credentials().client_id,
            user = self.org.credentials().username,
        );
        std::fs::write(self.config_path(), text).expect("sync.toml written");
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("sync.toml")
    }

    pub fn catalog_path(&self) -> PathBuf {
        self.dir.path().join("catalog.db")
    }

    /// The real binary, with the password flow's secrets in its environment.
    pub fn sfsync(&self) -> Command {
        let creds = self.org.credentials();
        let mut cmd = Command::cargo_bin("sfsync").expect("the sfsync binary is built");
        cmd.current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .env_remove("SFSYNC_CONFIG")
            .env("SFSYNC_CLIENT_SECRET", &creds.client_secret)
            .env("SFSYNC_PASSWORD", &creds.password)
            .arg("-c")
            .arg(self.config_path());
        cmd
    }

    /// The real binary as a plain child process, for tests that must
    /// signal it or let it run beside another; same setup as [`Env::sfsync`].
    pub fn sfsync_child(&self) -> std::process::Command {
        let creds = self.org.credentials();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sfsync"));
        cmd.current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .env_remove("SFSYNC_CONFIG")
            .env("SFSYNC_CLIENT_SECRET", &creds.client_secret)
            .env("SFSYNC_PASSWORD", &creds.password)
            .arg("-c")
            .arg(self.config_path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    }

    /// A connection to the catalog, for checking what a run left.
    pub fn db(&self) -> Connection {
        Connection::open(self.catalog_path()).expect("the catalog opens")
    }

    /// One column of a query over the catalog, as text.
    pub fn column(&self, sql: &str) -> Vec<String> {
        let db = self.db();
        let mut stmt = db.prepare(sql).expect("valid test SQL");
        let rows = stmt
            .query_map([], |row| row.get::<_, rusqlite::types::Value>(0))
            .expect("the query runs");
        rows.map(|v| match v.expect("a row") {
            rusqlite::types::Value::Null => "NULL".to_string(),
            rusqlite::types::Value::Integer(i) => i.to_string(),
            rusqlite::types::Value::Real(r) => r.to_string(),
            rusqlite::types::Value::Text(t) => t,
            rusqlite::types::Value::Blob(_) => "<blob>".to_string(),
        })
        .collect()
    }

    /// A single number from the catalog.
    pub fn count(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).expect("a count")
    }

    /// Ids of the org's contacts that have an email.
    pub fn contacts_with_email(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .org
            .records("Contact")
            .into_iter()
            .filter(|r| !r["Email"].is_null())
            .filter_map(|r| r["Id"].as_str().map(str::to_string))
            .collect();
        ids.sort();
        ids
    }
}

/// The text of a command's stdout.
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The text of a command's stderr.
pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Whether a path exists.
pub fn exists(path: &Path) -> bool {
    path.exists()
}
