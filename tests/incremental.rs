//! Incremental reads, Bulk API reads and split reads: the semantics, not the speed.

mod common;

use common::{stderr, Env, CONTACTS};
use fake_org::{Fault, GenSpec, Org};
use serde_json::{json, Value};
use time::Duration;

/// The query strings of the data requests logged since the last clear.
fn queries(env: &Env) -> Vec<String> {
    env.org
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/query"))
        .filter_map(|r| r.query)
        .map(|q| url_decode(&q))
        .collect()
}

fn url_decode(q: &str) -> String {
    url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn watermark(env: &Env) -> Option<String> {
    env.column("select watermark from type_state where type = 'Contact'")
        .pop()
}

fn email_of(env: &Env, id: &str) -> String {
    env.column(&format!(
        "select email from contact where sf_object_id = '{id}'"
    ))
    .pop()
    .unwrap_or_default()
}

#[test]
fn a_second_sync_asks_only_for_what_changed() {
    let env = Env::small();
    env.sfsync().arg("sync-all").assert().success();
    let mark = watermark(&env).expect("a full read leaves a watermark");
    let id = env.contacts_with_email()[0].clone();
    env.org
        .update("Contact", &id, json!({"Email": "moved@example.com"}));
    env.org.clear_log();

    env.sfsync().arg("sync-all").assert().success();
    let asked = queries(&env);
    assert!(
        asked.iter().any(|q| q.contains("SystemModstamp >=")),
        "{asked:?}"
    );
    assert!(
        asked
            .iter()
            .any(|q| q.starts_with("q=SELECT Id FROM Contact")),
        "an id listing: {asked:?}"
    );
    assert_eq!(email_of(&env, &id), "moved@example.com");
    assert!(watermark(&env).unwrap() >= mark);
}

#[test]
fn a_late_commit_inside_the_lookback_is_picked_up() {
    let env = Env::small();
    env.sfsync().arg("sync-all").assert().success();
    let id = env.contacts_with_email()[1].clone();
    // Committed after the last run, but stamped five minutes before it.
    let stamp = env.org.now() - Duration::minutes(5);
    env.org
        .update_with_modstamp("Contact", &id, json!({"Email": "late@example.com"}), stamp);
    env.sfsync().arg("sync-all").assert().success();
    assert_eq!(email_of(&env, &id), "late@example.com");
}

#[test]
fn records_sharing_a_stamp_across_pages_are_all_read() {
    let env = Env::small();
    env.org.set_page_size(50);
    let ids = env.contacts_with_email();
    let stamp = env.org.now() + Duration::minutes(1);
    for id in &ids[..120] {
        env.org
            .update_with_modstamp("Contact", id, json!({"Title": "same stamp"}), stamp);
    }
    env.sfsync().arg("sync-all").assert().success();
    // Five more land later with that very stamp, the watermark itself.
    for id in &ids[120..125] {
        env.org.update_with_modstamp(
            "Contact",
            id,
            json!({"Email": format!("same-{id}@example.com")}),
            stamp,
        );
    }
    env.sfsync().arg("sync-all").assert().success();
    for id in &ids[120..125] {
        assert_eq!(email_of(&env, id), format!("same-{id}@example.com"));
    }
}

#[test]
fn deletes_hard_deletes_and_leaving_the_criteria_are_found_incrementally() {
    let env = Env::small();
    env.sfsync().arg("sync-all").assert().success();
    let ids = env.contacts_with_email();
    env.org.soft_delete("Contact", &ids[0]);
    env.org.hard_delete("Contact", &ids[1]);
    env.org.update("Contact", &ids[2], json!({"Email": null}));
    env.org.clear_log();
    env.sfsync().arg("sync-all").assert().success();
    assert!(
        queries(&env)
            .iter()
            .any(|q| q.contains("SystemModstamp >=")),
        "the read was incremental"
    );
    let rejected =
        env.column("select sf_object_id from events where kind = 'rejected' order by sf_object_id");
    let mut expected = ids[..3].to_vec();
    expected.sort();
    assert_eq!(rejected, expected);
}

#[test]
fn a_record_entering_the_criteria_without_a_new_stamp_is_fetched() {
    let env = Env::small();
    env.sfsync().arg("sync-all").assert().success();
    let outsider = env
        .org
        .records("Contact")
        .into_iter()
        .find(|r| r["Email"].is_null())
        .expect("a contact without email");
    let id = outsider["Id"].as_str().unwrap().to_string();
    let stamp = env.org.now() - Duration::days(30);
    env.org.update_with_modstamp(
        "Contact",
        &id,
        json!({"Email": "arrived@example.com"}),
        stamp,
    );
    env.sfsync().arg("sync-all").assert().success();
    assert_eq!(email_of(&env, &id), "arrived@example.com");
}

#[test]
fn a_formula_change_waits_for_the_full_read() {
    let env = Env::small();
    let types = CONTACTS.replace(
        "[types.fields]\n",
        "[types.fields]\nband = \"Score_Band__c\"\n",
    );
    env.write_config("password", &types);
    env.sfsync().arg("sync-all").assert().success();
    let id = env.contacts_with_email()[4].clone();
    env.org
        .set_silently("Contact", &id, json!({"Score_Band__c": "Changed"}));
    let band = |env: &Env| {
        env.column(&format!(
            "select band from contact where sf_object_id = '{id}'"
        ))
        .pop()
    };

    env.sfsync().arg("sync-all").assert().success();
    assert_ne!(
        band(&env).as_deref(),
        Some("Changed"),
        "an incremental read cannot see it"
    );
    env.sfsync().args(["sync-all", "--full"]).assert().success();
    assert_eq!(band(&env).as_deref(), Some("Changed"));

    // `full_every` schedules the same: a zero interval makes every read full.
    env.org
        .set_silently("Contact", &id, json!({"Score_Band__c": "Again"}));
    env.write_config(
        "password",
        &types.replace(
            "on_missing = \"reject\"",
            "on_missing = \"reject\"\nfull_every = \"0s\"",
        ),
    );
    env.sfsync().arg("sync-all").assert().success();
    assert_eq!(band(&env).as_deref(), Some("Again"));
}

#[test]
fn the_watermark_never_advances_after_a_failed_read() {
    let env = Env::small();
    env.org.set_page_size(50);
    env.sfsync().arg("sync-all").assert().success();
    let before = watermark(&env);
    let id = env.contacts_with_email()[0].clone();
    env.org
        .update("Contact", &id, json!({"Email": "x@example.com"}));
    for _ in 0..4 {
        env.org
            .inject_fault(Fault::server_error().on_path("/query"));
    }
    env.sfsync().arg("sync-all").assert().code(3);
    assert_eq!(watermark(&env), before);
    env.sfsync().arg("sync-all").assert().success();
    assert!(watermark(&env) > before);
}

#[test]
fn a_query_timeout_is_split_not_failed() {
    let env = Env::small();
    env.write_config(
        "password",
        &CONTACTS.replace(
            "on_missing = \"reject\"",
            "on_missing = \"reject\"\nincremental = false",
        ),
    );
    // Let the count pass, then time out the read itself.
    env.org
        .inject_fault(Fault::query_timeout().on_path("/query").after(1));
    let out = env.sfsync().args(["-v", "sync-all"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        env.count("select count(*) from items") as usize,
        env.contacts_with_email().len()
    );
    let asked = queries(&env);
    assert!(
        asked
            .iter()
            .filter(|q| q.contains("SystemModstamp <"))
            .count()
            >= 1,
        "{asked:?}"
    );
}

/// Regression: halving a range whose newest record is stamped at the end of
/// time panicked the reader task, the closed channel passed for the end of
/// the read, and the type was applied with the pages read before the panic.
#[test]
fn a_range_reaching_the_last_stamp_is_halved_without_losing_records() {
    let env = Env::small();
    env.org.set_page_size(50);
    env.write_config(
        "password",
        &CONTACTS.replace(
            "on_missing = \"reject\"",
            "on_missing = \"reject\"\nincremental = false",
        ),
    );
    let id = env.contacts_with_email()[0].clone();
    env.org.update_with_modstamp(
        "Contact",
        &id,
        json!({"Email": "late@example.com"}),
        time::macros::datetime!(9999-12-31 23:59:59 UTC),
    );
    // Let the count and the first page pass, then time out the second page.
    env.org
        .inject_fault(Fault::query_timeout().on_path("/query").after(2));
    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        env.count("select count(*) from items") as usize,
        env.contacts_with_email().len()
    );
}

/// An org with enough contacts to cross the thresholds the tests lower.
fn larger_env(contacts: usize) -> Env {
    Env::with_org(Org::generate(&GenSpec {
        seed: 11,
        accounts: 30,
        contacts,
        opportunities: 10,
        contact_roles: 0,
    }))
}

/// 9,000 contacts, more than a REST read takes in one range, read through
/// REST in up to `parallel` ranges.
fn ranged_env(parallel: usize) -> Env {
    let env = larger_env(9_000);
    let config = bulk_types(0).replace(
        "bulk_threshold = 0",
        &format!("bulk_threshold = 0\nparallel = {parallel}"),
    );
    env.write_config("password", &config);
    env
}

/// The contacts mapping without child subqueries, so Bulk can read it.
/// 300 contacts, synced once, read incrementally with a Bulk id listing.
fn synced_with_bulk_listing() -> Env {
    let env = larger_env(300);
    env.write_config(
        "password",
        &bulk_types(10).replace("incremental = false", "incremental = true"),
    );
    env.sfsync().arg("sync-all").assert().success();
    env
}

fn bulk_types(threshold: u64) -> String {
    CONTACTS
        .lines()
        .filter(|l| !l.starts_with("roles"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(
            "on_missing = \"reject\"",
            &format!("on_missing = \"reject\"\nbulk_threshold = {threshold}\nincremental = false"),
        )
}

#[test]
fn bulk_and_rest_reads_give_the_same_items() {
    let env = larger_env(300);
    env.write_config("password", &bulk_types(0));
    env.sfsync().arg("sync-all").assert().success();
    let rest_digests = env.column("select digest from items order by sf_object_id");

    env.write_config("password", &bulk_types(10));
    env.org.clear_log();
    env.sfsync().arg("sync-all").assert().success();
    assert!(
        env.org
            .requests()
            .iter()
            .any(|r| r.path.contains("/jobs/query")),
        "read through Bulk"
    );
    assert_eq!(
        env.count("select count(*) from events where kind = 'updated'"),
        0,
        "no item changed"
    );
    assert_eq!(
        env.column("select digest from items order by sf_object_id"),
        rest_digests
    );
}

#[test]
fn a_failed_bulk_job_falls_back_to_rest() {
    let env = larger_env(300);
    env.write_config("password", &bulk_types(10));
    env.org
        .fail_next_bulk_job("InvalidBatch : something went wrong");
    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("reading through REST"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        env.count("select count(*) from items") as usize,
        env.contacts_with_email().len()
    );
}

#[test]
fn a_large_read_is_cut_into_ranges_read_side_by_side() {
    let env = larger_env(9_000);
    env.org.clear_log();
    env.write_config("password", &bulk_types(0));
    env.sfsync().arg("sync-all").assert().success();
    assert_eq!(
        env.count("select count(*) from items") as usize,
        env.contacts_with_email().len()
    );
    let ranged = queries(&env)
        .iter()
        .filter(|q| q.contains("SystemModstamp <"))
        .count();
    assert!(ranged >= 3, "{ranged} ranged queries");
    // One grouped query plans the read: the count, the stamp edges and the
    // spread per month come together, not as four queries.
    let planning: Vec<String> = queries(&env)
        .into_iter()
        .filter(|q| q.contains("GROUP BY") || q.contains("count()") || q.contains("LIMIT 1"))
        .collect();
    assert_eq!(planning.len(), 1, "{planning:?}");
    assert!(planning[0].contains("MIN(SystemModstamp), MAX(SystemModstamp)"));
    // Each range but the last may end on a part page; one more query
    // catches up with what changed during the read.
    let ranges = ranged + 1;
    let pages = env.contacts_with_email().len().div_ceil(2000);
    let asked = env
        .org
        .requests()
        .iter()
        .filter(|r| r.path.contains("/query"))
        .count();
    assert!(
        asked <= pages + ranges + 1,
        "{asked} queries for {pages} pages"
    );
    let fields: Value =
        serde_json::from_str(&env.column("select fields from items limit 1")[0]).unwrap();
    assert!(fields.get("email").is_some());
}

#[test]
fn a_large_type_lists_its_ids_through_bulk_and_falls_back_to_rest() {
    let env = synced_with_bulk_listing();
    let ids = env.contacts_with_email();

    env.org.hard_delete("Contact", &ids[0]);
    env.org.clear_log();
    env.sfsync().arg("sync-all").assert().success();
    let jobs = env
        .org
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/jobs/query"))
        .count();
    assert_eq!(jobs, 1, "one id listing job");
    assert!(
        queries(&env)
            .iter()
            .any(|q| q.contains("SystemModstamp >=")),
        "records read incrementally"
    );
    assert_eq!(
        env.column("select sf_object_id from events where kind = 'rejected'"),
        [ids[0].clone()]
    );

    env.org.hard_delete("Contact", &ids[1]);
    env.org.fail_next_bulk_job("InternalServerError");
    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("reading through REST"),
        "{}",
        stderr(&out)
    );
    let rejected =
        env.column("select sf_object_id from events where kind = 'rejected' order by id");
    assert_eq!(rejected, [ids[0].clone(), ids[1].clone()]);
}

#[test]
fn records_with_child_lists_are_read_in_at_most_four_ranges_at_once() {
    let env = larger_env(9_000);
    // Each range may hold a child list's cursor besides its own.
    let config = CONTACTS.replace(
        "on_missing = \"reject\"",
        "on_missing = \"reject\"\nbulk_threshold = 0\nparallel = 8",
    );
    env.write_config("password", &config);
    let out = env.sfsync().args(["-vv", "sync-all"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("reading 4 ranges, 4 at a time"), "{err}");
    assert_eq!(
        env.count("select count(*) from items") as usize,
        env.contacts_with_email().len()
    );
}

#[test]
fn a_record_changed_during_a_ranged_read_is_not_taken_for_missing() {
    let env = ranged_env(2);
    env.sfsync().arg("sync-all").assert().success();
    let mut records: Vec<Value> = env
        .org
        .records("Contact")
        .into_iter()
        .filter(|r| !r["Email"].is_null())
        .collect();
    records.sort_by(|a, b| {
        a["SystemModstamp"]
            .as_str()
            .cmp(&b["SystemModstamp"].as_str())
    });
    let old = records[records.len() / 3]["Id"]
        .as_str()
        .unwrap()
        .to_string();

    // A slow full read in ranges; a range times out and is read again in
    // halves later, while the record moves to the newest stamp. The read
    // is planned by one query (the survey); the one after it is a range's.
    env.org.set_latency(std::time::Duration::from_millis(60));
    env.org
        .inject_fault(Fault::query_timeout().on_path("/query").after(1));
    env.org.clear_log();
    let sync = env
        .sfsync_child()
        .args(["sync-all", "--full"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    env.org
        .update("Contact", &old, json!({"Title": "changed during the read"}));
    let out = sync.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let events = env.column(&format!(
        "select kind from events where sf_object_id = '{old}' order by id"
    ));
    assert!(!events.iter().any(|k| k == "not_found"), "{events:?}");
    let last = queries(&env).into_iter().last().unwrap_or_default();
    assert!(
        last.contains("SystemModstamp >=") && !last.contains("SystemModstamp <"),
        "a catch-up query ends the read: {last}"
    );
}

#[test]
fn a_bulk_listing_that_ends_short_is_refused_not_taken_for_deletes() {
    let env = synced_with_bulk_listing();
    let one = env.contacts_with_email()[0].clone();
    // The id listing's results come back as one row with no locator: a cut
    // page. Taken at its word, every other item would look deleted.
    env.org.inject_fault(
        Fault::new(fake_org::FaultKind::ReplaceBody {
            status: 200,
            content_type: "text/csv".into(),
            body: format!("\"Id\"\n\"{one}\"\n").into_bytes(),
        })
        .on_path("/results"),
    );
    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("its results held 1"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        env.count("select count(*) from events where kind = 'not_found'"),
        0
    );
}

#[test]
fn the_id_listing_job_runs_while_the_changes_are_read() {
    let env = synced_with_bulk_listing();
    let ids = env.contacts_with_email();
    for (n, id) in ids[..120].iter().enumerate() {
        env.org.update(
            "Contact",
            id,
            json!({"Email": format!("moved{n}@example.com")}),
        );
    }
    env.org.set_page_size(30);
    env.org.set_latency(std::time::Duration::from_millis(40));
    env.org.clear_log();
    env.sfsync().arg("sync-all").assert().success();

    let log = env.org.requests();
    let job = log
        .iter()
        .position(|r| r.method == "POST" && r.path.ends_with("/jobs/query"))
        .expect("an id listing job");
    let last_page = log
        .iter()
        .rposition(|r| r.path.contains("/query") && !r.path.contains("/jobs/"))
        .expect("pages of changes");
    assert!(
        job < last_page,
        "the job is asked for before the last page of changes: {log:?}"
    );
    assert_eq!(
        env.count("select count(*) from events where kind = 'updated'"),
        120
    );
    assert_eq!(email_of(&env, &ids[7]), "moved7@example.com");
}

/// The bounds a ranged record query read: `SystemModstamp >= from` and
/// `SystemModstamp < to`, each the literal's first 19 characters.
fn range_bounds(query: &str) -> (Option<String>, Option<String>) {
    let after = |marker: &str| {
        query
            .split(marker)
            .nth(1)
            .map(|rest| rest.chars().take(19).collect::<String>())
    };
    (after("SystemModstamp >= "), after("SystemModstamp < "))
}

#[test]
fn ranges_hold_about_as_many_records_each_when_stamps_bunch() {
    let env = ranged_env(4);
    // A few records touched now, long after the rest: cut evenly in time,
    // the first range would hold nearly every record.
    let ids = env.contacts_with_email();
    for id in ids.iter().take(5) {
        env.org
            .update("Contact", id, json!({"Title": "touched today"}));
    }
    env.org.clear_log();
    env.sfsync().arg("sync-all").assert().success();
    assert_eq!(env.count("select count(*) from items") as usize, ids.len());

    let ranges: Vec<(Option<String>, Option<String>)> = queries(&env)
        .iter()
        .filter(|q| q.starts_with("q=SELECT Id, ") && !q.contains("LIMIT 1"))
        .map(|q| range_bounds(q))
        .filter(|(from, to)| from.is_some() || to.is_some())
        .collect();
    assert!(ranges.len() >= 3, "{ranges:?}");
    let stamps: Vec<String> = env
        .org
        .records("Contact")
        .iter()
        .filter(|r| !r["Email"].is_null())
        .map(|r| r["SystemModstamp"].as_str().unwrap()[..19].to_string())
        .collect();
    for (from, to) in &ranges {
        let held = stamps
            .iter()
            .filter(|s| from.as_ref().is_none_or(|f| *s >= f) && to.as_ref().is_none_or(|t| *s < t))
            .count();
        assert!(
            held * 10 <= stamps.len() * 4,
            "a range holds {held} of {} records: {ranges:?}",
            stamps.len()
        );
    }
}

#[test]
fn ranges_span_equal_time_when_the_org_will_not_count_per_month() {
    let env = ranged_env(4);
    env.org.inject_fault(
        Fault::status(
            400,
            "MALFORMED_QUERY",
            "aggregate queries are not allowed here",
        )
        .on_query("GROUP BY"),
    );
    let out = env.sfsync().args(["-vv", "sync-all"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("cutting evenly in time"), "{err}");
    assert!(err.contains("reading 4 ranges"), "{err}");
    assert_eq!(
        env.count("select count(*) from items") as usize,
        env.contacts_with_email().len()
    );
}

#[test]
fn a_first_sync_asks_for_its_survey_while_the_picklists_are_described() {
    let env = ranged_env(4);
    // The describe takes 2 s; the survey, asked meanwhile, is answered
    // (and logged) before it.
    env.org.inject_fault(
        Fault::delay(std::time::Duration::from_secs(2)).on_path("/sobjects/Contact/describe"),
    );
    let out = env.sfsync().args(["-v", "sync-all"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let log = env.org.requests();
    let position = |what: &dyn Fn(&fake_org::LoggedRequest) -> bool| {
        log.iter().position(what).expect("the request was made")
    };
    let described = position(&|r| r.path.ends_with("/sobjects/Contact/describe"));
    let surveyed = position(&|r| {
        r.query
            .as_deref()
            .is_some_and(|q| q.contains("GROUP+BY") || q.contains("GROUP%20BY"))
    });
    assert!(surveyed < described, "{log:#?}");
    assert_eq!(
        env.count("select count(*) from items") as usize,
        env.contacts_with_email().len()
    );
}

#[test]
fn a_slow_survey_still_cuts_the_ranges_when_it_answers_before_the_count() {
    let env = ranged_env(4);
    // The survey answers after 6 s; the count asked after 5 s would take
    // 30 s more. Faults fire in order: the first delays the survey.
    env.org
        .inject_fault(Fault::delay(std::time::Duration::from_secs(6)).on_query("GROUP BY"));
    env.org
        .inject_fault(Fault::delay(std::time::Duration::from_secs(30)).on_query("count()"));
    let started = std::time::Instant::now();
    let out = env.sfsync().args(["-vv", "sync-all"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("counting as well"), "{err}");
    assert!(!err.contains("cutting evenly in time"), "{err}");
    assert!(err.contains("reading 4 ranges"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the sync waited for the count"
    );
    assert_eq!(
        env.count("select count(*) from items") as usize,
        env.contacts_with_email().len()
    );
}

#[test]
fn ranges_are_not_kept_waiting_by_a_slow_count_per_month() {
    let env = ranged_env(4);
    let slow = std::time::Duration::from_secs(30);
    env.org
        .inject_fault(Fault::delay(slow).on_query("GROUP BY"));
    let started = std::time::Instant::now();
    let out = env.sfsync().args(["-vv", "sync-all"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("no count per month within 5s; counting as well"),
        "{err}"
    );
    assert!(err.contains("reading 4 ranges"), "{err}");
    assert!(
        started.elapsed() < slow,
        "the sync waited for the count per month"
    );
    assert_eq!(
        env.count("select count(*) from items") as usize,
        env.contacts_with_email().len()
    );
}
