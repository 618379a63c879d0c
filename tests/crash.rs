//! SIGKILL at many moments of a sync: the catalog stays a sound database
//! holding either the whole type before the run or the whole type after
//! it, and the next run converges to what an uninterrupted run produces.
//!
//! `SFSYNC_CRASH_MOMENTS` sets how many moments are tried (default 10;
//! try 200 for a longer manual run).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{stderr, Env};
use serde_json::json;

/// Every item with everything a sync writes but its timestamps.
fn snapshot(env: &Env) -> Vec<String> {
    env.column(
        "select sf_object_id || '|' || path || '|' || state || '|' || title \
         || '|' || fields || '|' || digest from items order by sf_object_id",
    )
}

fn integrity(env: &Env) -> String {
    env.db()
        .query_row("pragma integrity_check", [], |row| row.get(0))
        .unwrap()
}

const FILES: [&str; 2] = ["catalog.db", "catalog.db-wal"];

/// Copies the catalog's files (the writer is gone, so they are consistent).
fn save(env: &Env, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for name in FILES {
        let from = env.dir.path().join(name);
        if from.exists() {
            std::fs::copy(&from, to.join(name)).unwrap();
        }
    }
}

fn restore(env: &Env, from: &Path) {
    for name in FILES.iter().chain(&["catalog.db-shm"]) {
        let _ = std::fs::remove_file(env.dir.path().join(name));
    }
    for name in FILES {
        if from.join(name).exists() {
            std::fs::copy(from.join(name), env.dir.path().join(name)).unwrap();
        }
    }
}

/// Changes, removes, adds and hides contacts: a run has work in every step.
fn change_org(env: &Env) {
    let ids = env.contacts_with_email();
    for (n, id) in ids.iter().take(12).enumerate() {
        env.org.update(
            "Contact",
            id,
            json!({"Email": format!("new{n}@example.com")}),
        );
    }
    for id in &ids[12..17] {
        env.org.update("Contact", id, json!({"Email": null}));
    }
    for id in &ids[17..20] {
        env.org.hard_delete("Contact", id);
    }
    for n in 0..15 {
        env.org.insert(
            "Contact",
            json!({"LastName": format!("Added{n}"), "Email": format!("added{n}@example.com")}),
        );
    }
}

fn moments() -> usize {
    std::env::var("SFSYNC_CRASH_MOMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

#[test]
fn a_sync_killed_at_any_moment_leaves_before_or_after_and_converges() {
    let env = Env::small();
    env.sfsync().arg("sync-all").assert().success();
    let saved = env.dir.path().join("before");
    save(&env, &saved);
    let before = snapshot(&env);

    change_org(&env);
    env.org.set_page_size(10);
    env.org.set_latency(Duration::from_millis(10));
    let started = Instant::now();
    let clean = env.sfsync().arg("sync-all").output().unwrap();
    let length = started.elapsed();
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    let after = snapshot(&env);
    assert_ne!(before, after, "the changes give the run work to do");

    let n = moments();
    let (mut saw_before, mut saw_after) = (0, 0);
    for i in 0..n {
        restore(&env, &saved);
        let moment = length.mul_f64(1.1 * i as f64 / n as f64);
        let mut child = env.sfsync_child().arg("sync-all").spawn().unwrap();
        std::thread::sleep(moment);
        child.kill().unwrap();
        child.wait().unwrap();

        assert_eq!(integrity(&env), "ok", "killed after {moment:?}");
        let left = snapshot(&env);
        if left == before {
            saw_before += 1;
        } else if left == after {
            saw_after += 1;
        } else {
            panic!("killed after {moment:?}: the type is neither before nor after the run");
        }

        let rerun = env.sfsync().arg("sync-all").output().unwrap();
        assert_eq!(rerun.status.code(), Some(0), "{}", stderr(&rerun));
        assert_eq!(
            snapshot(&env),
            after,
            "killed after {moment:?}: no convergence"
        );
    }
    assert!(saw_before > 0, "no kill landed before the apply");
    eprintln!("{n} kills: {saw_before} left the catalog before, {saw_after} after");
}

/// Runs `cmd` with files capped at `bytes` and `SIGXFSZ` ignored, so a
/// write past the cap fails with `EFBIG` as a full disk would.
fn with_file_limit(cmd: &mut std::process::Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn a_full_disk_exits_4_and_leaves_the_type_as_it_was() {
    let env = Env::small();
    env.sfsync().arg("sync-all").assert().success();
    let before = snapshot(&env);
    let largest = FILES
        .iter()
        .filter_map(|name| std::fs::metadata(env.dir.path().join(name)).ok())
        .map(|m| m.len())
        .max()
        .unwrap();
    for n in 0..3000 {
        env.org.insert(
            "Contact",
            json!({"LastName": format!("Filler{n:05}"), "Email": format!("filler{n}@example.com")}),
        );
    }

    let mut cmd = env.sfsync_child();
    cmd.args(["sync-all", "--allow-mass-missing"]);
    with_file_limit(&mut cmd, largest + 64 * 1024);
    let out = cmd.output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("disk is full"), "{err}");
    assert!(err.contains("catalog.db"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    assert_eq!(integrity(&env), "ok");
    assert_eq!(snapshot(&env), before, "the type is what it was");
    let rerun = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(rerun.status.code(), Some(0), "{}", stderr(&rerun));
    assert_eq!(
        env.count("select count(*) from items where state = 'published'") as usize,
        env.contacts_with_email().len()
    );
}
