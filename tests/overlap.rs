//! Overlapping runs: two `sync-all` on one catalog, a killed holder, and
//! the commands that must keep working while a `sync-all` runs.

mod common;

use std::process::Child;
use std::time::{Duration, Instant};

use common::{stderr, stdout, Env};

/// Makes every sync of the small org take a couple of seconds.
fn slow(env: &Env) {
    env.org.set_page_size(10);
    env.org.set_latency(Duration::from_millis(120));
}

fn lock_path(env: &Env) -> std::path::PathBuf {
    env.dir.path().join("catalog.db.lock")
}

/// Waits until the lock file names `child` as its holder.
fn wait_for_holder(env: &Env, child: &Child) {
    let wanted = format!("pid {} since", child.id());
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        let text = std::fs::read_to_string(lock_path(env)).unwrap_or_default();
        if text.starts_with(&wanted) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the first sync never took the lock");
}

fn start_sync_all(env: &Env) -> Child {
    let child = env.sfsync_child().arg("sync-all").spawn().unwrap();
    wait_for_holder(env, &child);
    child
}

#[test]
fn a_second_sync_all_gives_up_at_once_naming_the_first() {
    let env = Env::small();
    slow(&env);
    let first = start_sync_all(&env);
    let pid = first.id();

    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("another sync is running"), "{err}");
    assert!(err.contains(&format!("pid {pid} since 20")), "{err}");
    assert!(err.contains("--wait"), "{err}");

    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(
        env.column("select outcome from runs"),
        ["ok"],
        "the refused run writes nothing, not even a run row"
    );
}

#[test]
fn a_run_lock_that_cannot_be_opened_is_a_catalog_failure() {
    let env = Env::small();
    std::fs::create_dir(lock_path(&env)).unwrap();

    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("catalog.db.lock"), "{}", stderr(&out));
}

#[test]
fn a_second_sync_all_with_wait_runs_after_the_first() {
    let env = Env::small();
    slow(&env);
    let first = start_sync_all(&env);

    let second = env
        .sfsync()
        .args(["sync-all", "--wait", "120"])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));

    assert_eq!(env.column("select outcome from runs"), ["ok", "ok"]);
    let overlap = env.count(
        "select count(*) from runs a join runs b on a.id < b.id \
         where b.started_at < a.finished_at",
    );
    assert_eq!(overlap, 0, "the second run began after the first ended");
}

#[test]
fn a_lock_left_by_a_killed_run_is_taken_over() {
    let env = Env::small();
    slow(&env);
    let mut first = start_sync_all(&env);
    let dead = first.id();
    first.kill().unwrap();
    first.wait().unwrap();
    let left = std::fs::read_to_string(lock_path(&env)).unwrap();
    assert!(left.starts_with(&format!("pid {dead} ")), "{left}");

    env.org.set_latency(Duration::ZERO);
    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        env.count("select count(*) from items") as usize,
        env.contacts_with_email().len()
    );
}

#[test]
fn sync_one_lookup_and_status_work_while_a_sync_all_runs() {
    let env = Env::small();
    env.sfsync().arg("sync-all").assert().success();
    let id = env.contacts_with_email()[3].clone();
    slow(&env);
    let mut all = start_sync_all(&env);

    let one = env
        .sfsync()
        .args(["sync-one", "--type", "Contact", "--id", &id])
        .output()
        .unwrap();
    assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));

    let lookup = env.sfsync().args(["lookup", &id]).output().unwrap();
    assert_eq!(lookup.status.code(), Some(0), "{}", stderr(&lookup));
    assert!(stdout(&lookup).contains(&id), "{}", stdout(&lookup));

    let status = env.sfsync().arg("status").output().unwrap();
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    assert!(stdout(&status).contains("Contact"), "{}", stdout(&status));

    assert!(
        all.try_wait().unwrap().is_none(),
        "the sync-all finished before the others ran; make it slower"
    );
    let all = all.wait_with_output().unwrap();
    assert_eq!(all.status.code(), Some(0), "{}", stderr(&all));
}

#[test]
fn readers_answer_during_a_first_sync_and_sync_one_waits_for_it() {
    let env = Env::small();
    env.write_config("password", common::PLAIN);
    let id = env.contacts_with_email()[3].clone();
    let contacts = env.contacts_with_email().len() as i64;
    slow(&env);
    let mut all = start_sync_all(&env);
    // The count comes first, then the pages: by the second query the first
    // sync is writing, inside its transaction.
    let started = Instant::now();
    while env
        .org
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/query"))
        .count()
        < 2
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the read never began"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    let lookup = env.sfsync().args(["lookup", &id]).output().unwrap();
    assert_eq!(lookup.status.code(), Some(1), "not there until the commit");
    let status = env.sfsync().arg("status").output().unwrap();
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    assert!(
        all.try_wait().unwrap().is_none(),
        "the sync-all finished before the readers ran; make it slower"
    );

    let one = env
        .sfsync()
        .args(["sync-one", "--type", "Contact", "--id", &id])
        .output()
        .unwrap();
    assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));
    assert_eq!(
        env.count("select count(*) from items where type = 'Contact'"),
        contacts,
        "sync-one ran only after the first sync had committed every contact"
    );
    let all = all.wait_with_output().unwrap();
    assert_eq!(all.status.code(), Some(0), "{}", stderr(&all));
}
