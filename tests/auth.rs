//! Every OAuth flow sfsync can log in with, end to end against the fake org.

mod common;

use common::{stderr, Env, CONTACTS};

/// Runs `sync-all` with `auth` and the given environment, expecting `code`.
fn sync_with(env: &Env, auth: &str, vars: &[(&str, &str)], code: i32) -> String {
    env.write_config(auth, CONTACTS);
    let mut cmd = env.sfsync();
    cmd.env_remove("SFSYNC_PASSWORD")
        .env_remove("SFSYNC_CLIENT_SECRET");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(code), "{auth}: {}", stderr(&out));
    stderr(&out)
}

fn grants(env: &Env) -> usize {
    env.org
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/oauth2/token"))
        .count()
}

#[test]
fn refresh_token_flow() {
    let env = Env::small();
    let token = env.org.credentials().refresh_token;
    sync_with(
        &env,
        "refresh_token",
        &[("SFSYNC_REFRESH_TOKEN", &token)],
        0,
    );
    assert_eq!(grants(&env), 1);
    assert!(env.count("select count(*) from items") > 100);

    let err = sync_with(
        &env,
        "refresh_token",
        &[("SFSYNC_REFRESH_TOKEN", "revoked")],
        3,
    );
    assert!(err.contains("Salesforce refused the login"), "{err}");
}

#[test]
fn client_credentials_flow() {
    let env = Env::small();
    let secret = env.org.credentials().client_secret;
    sync_with(
        &env,
        "client_credentials",
        &[("SFSYNC_CLIENT_SECRET", &secret)],
        0,
    );
    assert!(env.count("select count(*) from items") > 100);
    sync_with(
        &env,
        "client_credentials",
        &[("SFSYNC_CLIENT_SECRET", "wrong")],
        3,
    );
}

#[test]
fn jwt_bearer_flow_signs_with_the_key_file() {
    let env = Env::small();
    let key = env.dir.path().join("jwt.pem");
    std::fs::write(&key, fake_org::JWT_TEST_PRIVATE_KEY_PEM).unwrap();
    let key = key.to_string_lossy().into_owned();
    sync_with(&env, "jwt", &[("SFSYNC_JWT_KEY_FILE", &key)], 0);
    assert!(env.count("select count(*) from items") > 100);

    // A key that is not the one the connected app trusts is refused by the org.
    let other = env.dir.path().join("other.pem");
    std::fs::write(&other, OTHER_RSA_KEY).unwrap();
    let err = sync_with(
        &env,
        "jwt",
        &[("SFSYNC_JWT_KEY_FILE", &other.to_string_lossy())],
        3,
    );
    assert!(err.contains("Salesforce refused the login"), "{err}");

    // A file that is no key at all is a setup mistake: exit 2, naming the variable.
    let junk = env.dir.path().join("junk.pem");
    std::fs::write(&junk, "not a key").unwrap();
    let err = sync_with(
        &env,
        "jwt",
        &[("SFSYNC_JWT_KEY_FILE", &junk.to_string_lossy())],
        2,
    );
    assert!(err.contains("SFSYNC_JWT_KEY_FILE"), "{err}");
}

#[test]
fn a_given_access_token_is_used_as_is_and_never_renewed() {
    let env = Env::small();
    env.sfsync().arg("sync-all").assert().success();
    let token = env
        .org
        .issued_tokens()
        .pop()
        .expect("the first run logged in");
    env.org.clear_log();
    sync_with(&env, "access_token", &[("SFSYNC_ACCESS_TOKEN", &token)], 0);
    assert_eq!(grants(&env), 0, "no login with a given token");

    env.org.expire_tokens();
    let err = sync_with(&env, "access_token", &[("SFSYNC_ACCESS_TOKEN", &token)], 3);
    assert!(err.contains("INVALID_SESSION_ID"), "{err}");
}

/// A 2048-bit RSA key the fake org does not know, made for this test only.
const OTHER_RSA_KEY: &str = include_str!("data/other-rsa-key.pem");
