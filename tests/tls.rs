//! sfsync against a fake org that only speaks HTTPS: trusting its
//! certificate through `ca_file` works, and leaving `ca_file` out fails
//! verification, which is never switched off.

mod common;

use common::{stderr, Env, CONTACTS};
use fake_org::{FakeOrg, GenSpec, Org};

/// A small org over TLS, its certificate saved beside the configuration.
fn tls_env() -> Env {
    let org = Org::generate(&GenSpec {
        seed: 11,
        accounts: 10,
        contacts: 120,
        opportunities: 20,
        contact_roles: 30,
    });
    let org = FakeOrg::spawn_tls(org).expect("the TLS fake org starts");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let env = Env { org, dir };
    let pem = env.org.ca_pem().expect("a TLS org has a certificate");
    std::fs::write(env.dir.path().join("fake-org-ca.pem"), pem).expect("PEM written");
    env
}

/// sync.toml for the TLS org, with `ca_file` pointing at its PEM or left
/// out.
fn write_config(env: &Env, ca_file: bool) {
    let url = env.org.base_url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let credentials = env.org.credentials();
    let ca_line = match ca_file {
        true => {
            let pem = env.dir.path().join("fake-org-ca.pem");
            format!("ca_file = \"{}\"\n", pem.display())
        }
        false => String::new(),
    };
    let text = format!(
        "[salesforce]\nlogin_url = \"{url}\"\ninstance_url = \"{url}\"\nauth = \"password\"\n\
         client_id = \"{client}\"\nusername = \"{user}\"\n{ca_line}max_retries = 1\n\
         retry_delay_ms = 10\ntimeout_secs = 10\n\n[catalog]\npath = \"catalog.db\"\n{CONTACTS}",
        client = credentials.client_id,
        user = credentials.username,
    );
    std::fs::write(env.config_path(), text).expect("sync.toml written");
}

#[test]
fn sync_all_over_https_trusts_the_ca_file() {
    let env = tls_env();
    write_config(&env, true);
    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");

    let mut ids = env.column("select sf_object_id from items where type = 'Contact'");
    ids.sort();
    assert_eq!(ids, env.contacts_with_email());
    assert!(env.org.api_calls() > 0, "the data went over https");
}

#[test]
fn without_ca_file_the_certificate_is_refused_with_exit_3() {
    let env = tls_env();
    write_config(&env, false);
    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out).to_lowercase();
    assert!(err.contains("certificate") || err.contains("tls"), "{err}");
    assert!(
        env.org.requests().is_empty(),
        "no request reaches an untrusted server"
    );
}
