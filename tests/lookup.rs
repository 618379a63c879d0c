//! `sfsync lookup`, run as the real binary on a real catalog: ids to items,
//! paths back to ids, stdin in bulk, and reading while a sync writes.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{stderr, stdout, Env};
use serde_json::{json, Map, Value};
use sfsync::catalog::{ApplyPolicy, Catalog, Item};
use sfsync::ids::SfId;

/// A synced small org and the first few of its items, as (id, path).
fn synced() -> (Env, Vec<(String, String)>) {
    let env = Env::small();
    env.sfsync().arg("sync-all").assert().success();
    let rows = env.column("select sf_object_id || ' ' || path from items order by id limit 5");
    let items = rows
        .iter()
        .map(|row| {
            let (id, path) = row.split_once(' ').unwrap();
            (id.to_string(), path.to_string())
        })
        .collect();
    (env, items)
}

fn lines(out: &std::process::Output) -> Vec<String> {
    stdout(out).lines().map(str::to_string).collect()
}

#[test]
fn ids_of_15_and_18_characters_in_any_case_find_items_in_input_order() {
    let (env, items) = synced();
    let (id_a, path_a) = &items[0];
    let (id_b, path_b) = &items[1];
    let short_b = &id_b[..15];
    let lower_a = id_a.to_ascii_lowercase();

    let out = env
        .sfsync()
        .args(["lookup", short_b, &lower_a])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let found: Vec<Value> = lines(&out)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(found.len(), 2);
    assert_eq!(found[0]["sf_object_id"], json!(id_b));
    assert_eq!(found[1]["sf_object_id"], json!(id_a));
    assert_eq!(found[1]["path"], json!(path_a));
    assert_eq!(found[0]["type"], "Contact");
    assert_eq!(found[0]["state"], "published");
    assert!(found[0]["fields"]["name"].is_string());
    assert!(found[0]["synced_at"].is_string());

    let out = env
        .sfsync()
        .args(["lookup", "--path", path_b, "--format", "id"])
        .output()
        .unwrap();
    assert_eq!(lines(&out), vec![id_b.to_string()]);
    let out = env
        .sfsync()
        .args(["lookup", id_a, "--format", "tsv"])
        .output()
        .unwrap();
    let row = format!("Contact\t{id_a}\t{path_a}\tpublished");
    assert_eq!(
        lines(&out),
        [row],
        "no header when stdout is not a terminal"
    );
}

#[test]
fn missing_keys_exit_1_and_are_named_while_the_rest_is_printed() {
    let (env, items) = synced();
    let unknown = SfId::parse("003000000000999").unwrap().to_string();
    let out = env
        .sfsync()
        .args(["lookup", &items[0].0, &unknown, "--path", "people/nobody"])
        .args(["--format", "path"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines(&out), [items[0].1.clone()]);
    let err = stderr(&out);
    assert!(err.contains(&format!("`{unknown}`")), "{err}");
    assert!(err.contains("`people/nobody`"), "{err}");

    let out = env
        .sfsync()
        .args(["lookup", &items[0].0, "--type", "Account"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown type is a usage error"
    );
}

#[test]
fn a_malformed_id_exits_2() {
    let (env, items) = synced();
    for bad in ["003ABC", "003000000000001AAZ", "not-an-id"] {
        let out = env
            .sfsync()
            .args(["lookup", &items[0].0, bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(stderr(&out).contains("is not a Salesforce id"), "{bad}");
    }
}

#[test]
fn stdin_mixes_ids_and_paths_and_a_line_without_slash_is_an_id() {
    let (env, items) = synced();
    let input = format!("{}\n\n{}\n{}\r\n", items[0].0, items[1].1, items[2].0);
    let out = env
        .sfsync()
        .args(["lookup", "-", "--format", "path"])
        .write_stdin(input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected = [items[0].1.clone(), items[1].1.clone(), items[2].1.clone()];
    assert_eq!(lines(&out), expected);

    let out = env
        .sfsync()
        .args(["lookup", "-"])
        .write_stdin(format!("{}\nnoslash\n", items[0].0))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`noslash` is not a Salesforce id"));
}

/// Fills the catalog with `n` contacts through the library, as a sync
/// would, without the org.
fn fill_catalog(env: &Env, n: usize) -> Vec<String> {
    let catalog = Catalog::open(&env.catalog_path()).unwrap();
    let run = catalog.begin_run("test fill").unwrap();
    let mut stage = catalog.stage("Contact").unwrap();
    let mut ids = Vec::with_capacity(n);
    let mut batch = Vec::new();
    for i in 0..n {
        let id = SfId::parse(&format!("003{i:012}")).unwrap().to_string();
        let mut fields = Map::new();
        fields.insert("name".into(), json!(format!("Person {i}")));
        batch.push(Item {
            sf_object_id: id.clone(),
            title: format!("Person {i}"),
            fields: serde_json::Value::Object(fields).to_string(),
            digest: i.to_string(),
        });
        ids.push(id);
        if batch.len() == 5000 {
            stage.add_batch(&batch).unwrap();
            batch.clear();
        }
    }
    stage.add_batch(&batch).unwrap();
    stage.apply(&ApplyPolicy::new(run, "people")).unwrap();
    ids
}

#[test]
fn a_hundred_thousand_ids_from_stdin_come_back_in_order() {
    let env = Env::small();
    let ids = fill_catalog(&env, 100_000);
    // Every third id in its 15-character form, every fifth in lower case.
    let mut input = String::with_capacity(ids.len() * 19);
    for (i, id) in ids.iter().enumerate().rev() {
        let key = match i {
            _ if i % 3 == 0 => id[..15].to_string(),
            _ if i % 5 == 0 => id.to_ascii_lowercase(),
            _ => id.clone(),
        };
        input.push_str(&key);
        input.push('\n');
    }
    env.org.clear_log();
    let started = Instant::now();
    let out = env
        .sfsync()
        .args(["lookup", "-", "--format", "id"])
        .write_stdin(input)
        .output()
        .unwrap();
    eprintln!(
        "100,000 ids looked up in {:?} (debug build)",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed = lines(&out);
    assert_eq!(printed.len(), ids.len());
    assert!(printed.iter().eq(ids.iter().rev()), "input order");
    assert!(
        env.org.requests().is_empty(),
        "lookup never calls Salesforce"
    );
}

#[test]
fn lookup_answers_while_a_sync_is_writing() {
    let (env, items) = synced();

    // A writer holding the catalog's write lock, as a sync's apply does.
    let writer = env.db();
    writer
        .execute_batch("BEGIN IMMEDIATE; UPDATE items SET state = 'private';")
        .unwrap();
    let started = Instant::now();
    let out = env
        .sfsync()
        .args(["lookup", &items[0].0, "--format", "tsv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).ends_with("\tpublished\n"), "the last commit");
    assert!(started.elapsed() < Duration::from_secs(5), "no waiting");
    writer.execute_batch("ROLLBACK").unwrap();

    // And a real sync, slowed down, running in the background.
    env.org.set_page_size(50);
    env.org.set_latency(Duration::from_millis(100));
    let mut sync = background_sync(&env);
    let mut answered = 0;
    while sync.try_wait().unwrap().is_none() && answered < 5 {
        let out = env
            .sfsync()
            .args(["lookup", &items[answered].0, "--format", "path"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(lines(&out), [items[answered].1.clone()]);
        answered += 1;
    }
    let status = sync.wait().unwrap();
    assert!(status.success());
    assert!(answered > 0, "the sync ended before any lookup ran");
}

/// `sfsync sync-all --full` as a child process.
fn background_sync(env: &Env) -> std::process::Child {
    let creds = env.org.credentials();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("sfsync"))
        .current_dir(env.dir.path())
        .env_remove("RUST_LOG")
        .env("SFSYNC_CLIENT_SECRET", &creds.client_secret)
        .env("SFSYNC_PASSWORD", &creds.password)
        .arg("-c")
        .arg(env.config_path())
        .args(["sync-all", "--full"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdin.take().map(|mut s| s.flush()));
    child
}
