//! Tests of the catalog against real SQLite files in temporary directories.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tempfile::TempDir;

use super::*;

/// A catalog in a fresh temporary directory, with one run begun.
struct Fixture {
    _dir: TempDir,
    path: PathBuf,
    catalog: Catalog,
    run_id: i64,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let catalog = Catalog::open(&path).unwrap();
        let run_id = catalog.begin_run("sync-all").unwrap();
        Fixture {
            _dir: dir,
            path,
            catalog,
            run_id,
        }
    }

    /// A policy for `Contact` items under `contacts`, collecting events.
    fn policy(&self) -> ApplyPolicy {
        ApplyPolicy {
            collect_events: true,
            ..ApplyPolicy::new(self.run_id, "contacts")
        }
    }

    /// Stages `items` as one batch and applies them with `policy`.
    fn sync(&self, items: &[Item], policy: &ApplyPolicy) -> Result<Applied> {
        let mut stage = self.catalog.stage("Contact")?;
        stage.add_batch(items)?;
        stage.apply(policy)
    }

    fn item(&self, id: &str) -> ItemRecord {
        self.catalog
            .find_item(Some("Contact"), id)
            .unwrap()
            .unwrap()
    }

    fn event_count(&self) -> i64 {
        self.catalog
            .conn
            .query_row("SELECT count(*) FROM events", [], |row| row.get(0))
            .unwrap()
    }
}

/// A record with a title and one field; the digest follows the content.
fn item(id: &str, title: &str, email: &str) -> Item {
    let mut fields = Map::new();
    fields.insert("name".into(), json!(title));
    fields.insert("email".into(), json!(email));
    Item {
        sf_object_id: id.to_string(),
        title: title.to_string(),
        digest: format!("{title}|{email}"),
        fields: Value::Object(fields).to_string(),
    }
}

fn kinds(applied: &Applied) -> Vec<(&str, EventKind)> {
    applied
        .events
        .iter()
        .map(|e| (e.sf_object_id.as_str(), e.kind))
        .collect()
}

fn id(n: usize) -> String {
    format!("003{n:015}")
}

#[test]
fn migrations_are_valid_and_apply_to_an_empty_database() {
    migrations::migrations().validate().unwrap();
    let fx = Fixture::new();
    let version: i64 = fx
        .catalog
        .conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(
        version, 3,
        "V1 items, runs, events; V2 picklists; V3 rejected"
    );
    let mode: String = fx
        .catalog
        .conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(fx.catalog);
    Catalog::open(&fx.path).unwrap();
    Catalog::open_read_only(&fx.path).unwrap();
}

#[test]
fn new_catalog_file_is_private_to_its_owner() {
    let fx = Fixture::new();
    let mode = std::fs::metadata(&fx.path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn read_only_open_of_an_absent_catalog_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.db");
    let err = Catalog::open_read_only(&path).err().unwrap();
    assert!(matches!(err, CatalogError::Missing(p) if p == path));
}

#[test]
fn a_file_that_is_not_a_database_is_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let err = Catalog::open(&path).err().unwrap();
    assert!(matches!(err, CatalogError::Unreadable { .. }), "{err}");
}

#[test]
fn records_are_created_updated_and_left_unchanged() {
    let fx = Fixture::new();
    let policy = fx.policy();
    let first = [
        item(&id(1), "Ada Lovelace", "ada@x"),
        item(&id(2), "Alan", "a@x"),
    ];
    let applied = fx.sync(&first, &policy).unwrap();
    assert_eq!(applied.counts.created, 2);
    assert_eq!(
        kinds(&applied),
        [
            (id(1).as_str(), EventKind::Created),
            (&id(2), EventKind::Created)
        ]
    );

    let ada = fx.item(&id(1));
    assert_eq!(ada.path, "contacts/ada-lovelace");
    assert_eq!(ada.state, "private");
    assert_eq!(
        ada.fields,
        json!({"name": "Ada Lovelace", "email": "ada@x"})
    );
    assert_eq!(ada.created_at, ada.synced_at);

    let second = [
        item(&id(1), "Ada Lovelace", "ada@y"),
        item(&id(2), "Alan", "a@x"),
    ];
    let mut stage = fx.catalog.stage("Contact").unwrap();
    let batch = stage.add_batch(&second).unwrap();
    assert_eq!(
        batch,
        BatchCounts {
            new: 0,
            changed: 1,
            unchanged: 1
        }
    );
    let applied = stage.apply(&policy).unwrap();
    drop(stage);
    assert_eq!(applied.counts.updated, 1);
    assert_eq!(applied.counts.unchanged, 1);
    assert_eq!(kinds(&applied), [(id(1).as_str(), EventKind::Updated)]);
    assert_eq!(fx.item(&id(1)).fields["email"], "ada@y");
    assert_eq!(fx.catalog.count_items("Contact").unwrap(), 2);
}

#[test]
fn more_items_than_n_is_told_of_the_type_alone() {
    let fx = Fixture::new();
    let held: Vec<Item> = (1..=3).map(|n| item(&id(n), "P", "x")).collect();
    fx.sync(&held, &fx.policy()).unwrap();
    let more = |type_name, n| fx.catalog.has_more_items_than(type_name, n).unwrap();
    assert!(more("Contact", 0) && more("Contact", 2));
    assert!(!more("Contact", 3) && !more("Contact", u64::MAX));
    assert!(!more("Account", 0));
}

#[test]
fn fields_are_stored_as_the_text_given_keys_in_order() {
    let fx = Fixture::new();
    let mut record = item(&id(1), "Z", "z@x");
    record.fields = r#"{"zeta":1,"alpha":1,"mu":1}"#.to_string();
    fx.sync(&[record], &fx.policy()).unwrap();
    let text: String = fx
        .catalog
        .conn
        .query_row("SELECT fields FROM items", [], |row| row.get(0))
        .unwrap();
    assert_eq!(text, r#"{"zeta":1,"alpha":1,"mu":1}"#);
}

/// Stages `record`, then lets another connection to the catalog write
/// before the stage is applied.
fn staged_while_another_writes(
    fx: &Fixture,
    record: Item,
    other: impl FnOnce(&Catalog),
) -> Stage<'_> {
    let mut stage = fx.catalog.stage("Contact").unwrap();
    stage.add_batch(&[record]).unwrap();
    other(&Catalog::open(&fx.path).unwrap());
    stage
}

impl Catalog {
    fn stage_and_apply(&self, items: &[Item], policy: &ApplyPolicy) {
        let mut stage = self.stage("Contact").unwrap();
        stage.add_batch(items).unwrap();
        stage.apply(policy).unwrap();
    }
}

#[test]
fn a_record_changed_by_another_writer_meanwhile_is_left_alone() {
    let fx = Fixture::new();
    let policy = fx.policy();
    fx.sync(&[item(&id(1), "Ada", "old")], &policy).unwrap();

    let mut stage = staged_while_another_writes(&fx, item(&id(1), "Ada", "new"), |other| {
        other.stage_and_apply(&[item(&id(1), "Ada", "new")], &policy);
    });
    let applied = stage.apply(&policy).unwrap();
    assert_eq!(applied.counts.unchanged, 1);
    assert!(applied.events.is_empty());
}

#[test]
fn a_new_record_whose_item_another_writer_made_meanwhile_updates_it() {
    let fx = Fixture::new();
    let policy = fx.policy();
    let mut stage = staged_while_another_writes(&fx, item(&id(1), "Ada", "new"), |other| {
        other.stage_and_apply(&[item(&id(1), "Ada", "old")], &policy);
    });
    let applied = stage.apply(&policy).unwrap();
    assert_eq!(kinds(&applied), [(id(1).as_str(), EventKind::Updated)]);
    assert_eq!((applied.counts.created, applied.counts.updated), (0, 1));
    let ada = fx.item(&id(1));
    assert_eq!(
        (ada.path.as_str(), &ada.fields["email"]),
        ("contacts/ada", &json!("new"))
    );
}

#[test]
fn a_changed_record_whose_item_another_writer_removed_meanwhile_is_created() {
    let fx = Fixture::new();
    let policy = fx.policy();
    fx.sync(&[item(&id(1), "Ada", "old")], &policy).unwrap();
    let delete = ApplyPolicy {
        on_missing: OnMissing::Delete,
        missing: MissingScope::Ids(vec![id(1)]),
        ..policy.clone()
    };
    let mut stage = staged_while_another_writes(&fx, item(&id(1), "Ada", "new"), |other| {
        other.stage_and_apply(&[], &delete);
    });

    let applied = stage.apply(&policy).unwrap();
    assert_eq!(kinds(&applied), [(id(1).as_str(), EventKind::Created)]);
    assert_eq!(fx.item(&id(1)).fields["email"], "new");
}

#[test]
fn new_items_are_created_together_with_their_events_in_read_order() {
    let fx = Fixture::new();
    let publish = ApplyPolicy {
        publish: true,
        ..fx.policy()
    };
    let records = [
        item(&id(3), "Cy", "c"),
        item(&id(1), "Ada", "a"),
        item(&id(2), "Bob", "b"),
    ];
    let applied = fx.sync(&records, &publish).unwrap();
    let order = [id(3), id(1), id(2)];
    let expected: Vec<(&str, EventKind)> = order
        .iter()
        .flat_map(|i| {
            [
                (i.as_str(), EventKind::Created),
                (i.as_str(), EventKind::Published),
            ]
        })
        .collect();
    assert_eq!(kinds(&applied), expected);
    assert_eq!((applied.counts.created, applied.counts.published), (3, 3));
    assert_eq!(
        fx.event_count(),
        6,
        "every event is written, not only collected"
    );
    assert!(applied
        .events
        .iter()
        .all(|e| e.run_id == fx.run_id && e.fields.is_none()));
    assert_eq!(applied.events[0].path, "contacts/cy");
    assert_eq!(fx.item(&id(2)).state, "published");
}

#[test]
fn publishing_sync_publishes_new_and_changed_items() {
    let fx = Fixture::new();
    fx.sync(&[item(&id(1), "Ada", "a")], &fx.policy()).unwrap();
    let publish = ApplyPolicy {
        publish: true,
        ..fx.policy()
    };
    let applied = fx
        .sync(
            &[item(&id(1), "Ada", "b"), item(&id(2), "Bob", "b")],
            &publish,
        )
        .unwrap();
    assert_eq!(
        kinds(&applied),
        [
            (id(1).as_str(), EventKind::Updated),
            (&id(1), EventKind::Published),
            (&id(2), EventKind::Created),
            (&id(2), EventKind::Published),
        ]
    );
    assert_eq!(applied.counts.published, 2);
    assert_eq!(fx.item(&id(1)).state, "published");
    assert_eq!(fx.item(&id(2)).state, "published");
}

#[test]
fn a_rejected_item_is_published_again_when_its_record_returns() {
    let fx = Fixture::new();
    let publish = ApplyPolicy {
        publish: true,
        on_missing: OnMissing::Reject,
        missing: MissingScope::Unseen,
        ..fx.policy()
    };
    let ada = item(&id(1), "Ada", "a");
    let others: Vec<Item> = (2..5).map(|n| item(&id(n), "X", "x")).collect();
    let everyone: Vec<Item> = others.iter().cloned().chain([ada.clone()]).collect();
    fx.sync(&everyone, &publish).unwrap();

    let applied = fx.sync(&others, &publish).unwrap();
    assert_eq!(
        kinds(&applied),
        [
            (id(1).as_str(), EventKind::NotFound),
            (&id(1), EventKind::Rejected)
        ]
    );
    assert_eq!(fx.item(&id(1)).state, "private");

    let applied = fx.sync(&everyone, &publish).unwrap();
    assert_eq!(
        kinds(&applied),
        [
            (id(1).as_str(), EventKind::Updated),
            (&id(1), EventKind::Published)
        ]
    );
    assert_eq!(fx.item(&id(1)).state, "published");
}

#[test]
fn paths_are_slugs_made_unique_and_never_move() {
    let fx = Fixture::new();
    let policy = fx.policy();
    let records = [
        item(&id(1), "Jane Doe", "1"),
        item(&id(2), "jane  DOE!", "2"),
        item(&id(3), "Jane Doe", "3"),
        item("003ABCDEFGHIJKLMNO", "", "4"),
    ];
    fx.sync(&records, &policy).unwrap();
    assert_eq!(fx.item(&id(1)).path, "contacts/jane-doe");
    assert_eq!(fx.item(&id(2)).path, "contacts/jane-doe-2");
    assert_eq!(fx.item(&id(3)).path, "contacts/jane-doe-3");
    assert_eq!(
        fx.item("003ABCDEFGHIJKLMNO").path,
        "contacts/003abcdefghijklmno"
    );

    fx.sync(&[item(&id(1), "Janet Roe", "1")], &policy).unwrap();
    let janet = fx.item(&id(1));
    assert_eq!(janet.path, "contacts/jane-doe");
    assert_eq!(janet.fields["name"], "Janet Roe");

    fx.sync(&[item(&id(4), "Jane Doe", "4")], &policy).unwrap();
    assert_eq!(fx.item(&id(4)).path, "contacts/jane-doe-4");

    let found = fx
        .catalog
        .find_items_by_paths(&["contacts/jane-doe-3".into()])
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].sf_object_id, id(3));
}

#[test]
fn a_title_that_reads_like_a_suffixed_one_still_gets_a_path_of_its_own() {
    let fx = Fixture::new();
    let records = [
        item(&id(1), "Jane Doe", "1"),
        item(&id(2), "Jane Doe", "2"),
        item(&id(3), "Jane Doe 2", "3"),
        item(&id(4), "Jane Doe", "4"),
    ];
    let applied = fx.sync(&records, &fx.policy()).unwrap();
    assert_eq!(applied.counts.created, 4);
    let paths: Vec<String> = (1..5).map(|n| fx.item(&id(n)).path).collect();
    assert_eq!(
        paths,
        [
            "contacts/jane-doe",
            "contacts/jane-doe-2",
            "contacts/jane-doe-2-2",
            "contacts/jane-doe-3"
        ]
    );
}

#[test]
fn a_record_staged_twice_is_created_once() {
    let fx = Fixture::new();
    let mut stage = fx.catalog.stage("Contact").unwrap();
    stage.add_batch(&[item(&id(1), "Ada", "a")]).unwrap();
    stage
        .add_batch(&[item(&id(2), "Ada", "b"), item(&id(1), "Ada", "c")])
        .unwrap();
    let applied = stage.apply(&fx.policy()).unwrap();
    assert_eq!(applied.counts.created, 2);
    assert_eq!(fx.item(&id(1)).fields["email"], "c");
    assert_ne!(fx.item(&id(1)).path, fx.item(&id(2)).path);
}

/// Writes `batches` as a first full read of `Contact` with `policy`.
fn fill(fx: &Fixture, batches: &[&[Item]], policy: &ApplyPolicy) -> Result<Applied> {
    let mut stage = fx.catalog.stage_full_read("Contact", policy)?;
    for batch in batches {
        stage.add_batch(batch)?;
    }
    stage.apply(policy)
}

/// Every item of the first twenty ids, with its state and fields, in id
/// order; and their paths, apart. Paths may differ between a staged and a
/// filled read: a record staged twice is offered a second slug.
fn items_seen(fx: &Fixture) -> (Vec<(String, String, Value)>, Vec<String>) {
    let ids: Vec<String> = (0..20).map(id).collect();
    let mut items = fx.catalog.find_items_by_ids(&ids, None).unwrap();
    items.sort_by(|a, b| a.sf_object_id.cmp(&b.sf_object_id));
    let paths = items.iter().map(|i| i.path.clone()).collect();
    let seen = items
        .into_iter()
        .map(|i| (i.sf_object_id, i.state, i.fields))
        .collect();
    (seen, paths)
}

#[test]
fn a_first_full_read_writes_what_a_staged_one_would() {
    let records = [
        item(&id(1), "Jane Doe", "1"),
        item(&id(2), "Jane Doe", "2"),
        item(&id(3), "Jane Doe 2", "3"),
        item(&id(4), "Jane Doe", "4"),
        item(&id(5), "Ada", "5"),
    ];
    // Read again with a change, as a record edited between two pages is.
    let again = [item(&id(2), "Jane Doe", "2b"), item(&id(5), "Ada", "5")];
    let staged = Fixture::new();
    let filled = Fixture::new();
    let policy = ApplyPolicy {
        publish: true,
        full_read: true,
        watermark: Some("2026-12-03T10:00:00.000+0000".into()),
        ..staged.policy()
    };
    let by_stage = {
        let mut stage = staged.catalog.stage("Contact").unwrap();
        stage.add_batch(&records).unwrap();
        stage.add_batch(&again).unwrap();
        stage.apply(&policy).unwrap()
    };
    let by_fill = fill(&filled, &[&records, &again], &policy).unwrap();

    assert_eq!(by_fill.counts, by_stage.counts);
    assert_eq!(kinds(&by_fill), kinds(&by_stage));
    let (filled_items, filled_paths) = items_seen(&filled);
    assert_eq!(filled_items, items_seen(&staged).0);
    assert_eq!(filled.item(&id(2)).fields["email"], "2b");
    // Each record keeps the first path it was given, in the order read.
    assert_eq!(
        filled_paths,
        [
            "contacts/jane-doe",
            "contacts/jane-doe-2",
            "contacts/jane-doe-2-2",
            "contacts/jane-doe-3",
            "contacts/ada",
        ]
    );
    assert_eq!(filled.event_count(), staged.event_count());
    let state = filled.catalog.type_state("Contact").unwrap().unwrap();
    assert_eq!(state.watermark, policy.watermark);
    assert!(state.last_full_read_at.is_some());
}

#[test]
fn a_first_full_read_numbers_past_paths_another_type_holds() {
    let fx = Fixture::new();
    let mut lead = fx.catalog.stage("Lead").unwrap();
    lead.add_batch(&[
        item("00Q000000000000001", "Ada", "l1"),
        item("00Q000000000000002", "Ada", "l2"),
    ])
    .unwrap();
    lead.apply(&fx.policy()).unwrap();
    drop(lead);

    let records = [item(&id(1), "Ada", "a"), item(&id(2), "Ada", "b")];
    let applied = fill(&fx, &[&records], &fx.policy()).unwrap();
    assert_eq!(applied.counts.created, 2);
    assert_eq!(fx.item(&id(1)).path, "contacts/ada-3");
    assert_eq!(fx.item(&id(2)).path, "contacts/ada-4");
}

#[test]
fn a_first_full_read_is_unseen_until_applied_and_gone_when_dropped() {
    let fx = Fixture::new();
    let reader = Catalog::open_read_only(&fx.path).unwrap();
    let cache = |fx: &Fixture| -> i64 {
        fx.catalog
            .conn
            .pragma_query_value(None, "cache_size", |row| row.get(0))
            .unwrap()
    };
    let usual = cache(&fx);
    let mut stage = fx.catalog.stage_full_read("Contact", &fx.policy()).unwrap();
    assert_eq!(cache(&fx), -super::fill::FILL_CACHE_KIB);
    stage.add_batch(&[item(&id(1), "Ada", "a")]).unwrap();
    assert_eq!(reader.count_items("Contact").unwrap(), 0);
    drop(stage);
    assert_eq!(reader.count_items("Contact").unwrap(), 0);
    assert_eq!(fx.catalog.type_state("Contact").unwrap(), None);
    assert_eq!(fx.event_count(), 0);

    // The connection is usable again, with its usual page cache, and the
    // paths given in the abandoned read are free.
    assert_eq!(cache(&fx), usual);
    fill(&fx, &[&[item(&id(2), "Ada", "b")]], &fx.policy()).unwrap();
    assert_eq!(cache(&fx), usual);
    assert_eq!(reader.count_items("Contact").unwrap(), 1);
    assert_eq!(fx.item(&id(2)).path, "contacts/ada");
}

#[test]
fn a_first_full_read_holds_the_write_lock_until_applied() {
    let fx = Fixture::new();
    let other = Catalog::open(&fx.path).unwrap();
    other.set_busy_timeout(Duration::from_millis(50)).unwrap();
    let mut stage = fx.catalog.stage_full_read("Contact", &fx.policy()).unwrap();
    stage.add_batch(&[item(&id(1), "Ada", "a")]).unwrap();
    let err = other.begin_run("sync-one").unwrap_err();
    assert!(matches!(err, CatalogError::Busy { .. }), "{err}");
    stage.apply(&fx.policy()).unwrap();
    other.begin_run("sync-one").unwrap();
}

#[test]
fn a_dry_first_full_read_reports_and_keeps_nothing() {
    let fx = Fixture::new();
    let dry = ApplyPolicy {
        dry_run: true,
        full_read: true,
        ..fx.policy()
    };
    let records = [item(&id(1), "Ada", "a"), item(&id(2), "Bob", "b")];
    let applied = fill(&fx, &[&records], &dry).unwrap();
    assert_eq!(applied.counts.created, 2);
    assert_eq!(kinds(&applied).len(), 2);
    assert_eq!(fx.catalog.count_items("Contact").unwrap(), 0);
    assert_eq!(fx.catalog.type_state("Contact").unwrap(), None);
    assert_eq!(fx.event_count(), 0);
}

#[test]
fn a_full_read_of_a_type_with_items_is_staged_and_finds_the_missing() {
    let fx = Fixture::new();
    let policy = ApplyPolicy {
        on_missing: OnMissing::Reject,
        missing: MissingScope::Unseen,
        full_read: true,
        publish: true,
        ..fx.policy()
    };
    let records: Vec<Item> = (1..=4).map(|n| item(&id(n), "P", "x")).collect();
    fill(&fx, &[&records], &policy).unwrap();
    let applied = fill(&fx, &[&records[1..]], &policy).unwrap();
    assert_eq!(applied.counts.unchanged, 3);
    assert_eq!(
        kinds(&applied),
        [
            (id(1).as_str(), EventKind::NotFound),
            (id(1).as_str(), EventKind::Rejected)
        ]
    );
    assert_eq!(fx.item(&id(1)).state, "private");
}

/// Syncs four items, then a read that misses the first, under `on_missing`.
fn sync_with_one_missing(fx: &Fixture, on_missing: OnMissing) -> Applied {
    let all: Vec<Item> = (1..=4)
        .map(|n| item(&id(n), &format!("P{n}"), "x"))
        .collect();
    let publish = ApplyPolicy {
        publish: true,
        ..fx.policy()
    };
    fx.sync(&all, &publish).unwrap();
    let policy = ApplyPolicy {
        on_missing,
        missing: MissingScope::Unseen,
        ..fx.policy()
    };
    fx.sync(&all[1..], &policy).unwrap()
}

#[test]
fn missing_items_are_kept_when_the_policy_keeps_them() {
    let fx = Fixture::new();
    let applied = sync_with_one_missing(&fx, OnMissing::Keep);
    assert_eq!(kinds(&applied), [(id(1).as_str(), EventKind::NotFound)]);
    assert_eq!(applied.counts.missing, 1);
    assert_eq!(fx.item(&id(1)).state, "published");
}

#[test]
fn missing_items_are_made_private_when_the_policy_rejects_them() {
    let fx = Fixture::new();
    let applied = sync_with_one_missing(&fx, OnMissing::Reject);
    assert_eq!(applied.counts.rejected, 1);
    assert_eq!(fx.item(&id(1)).state, "private");

    let policy = ApplyPolicy {
        on_missing: OnMissing::Reject,
        missing: MissingScope::Unseen,
        ..fx.policy()
    };
    let again = (2..=4)
        .map(|n| item(&id(n), &format!("P{n}"), "x"))
        .collect::<Vec<_>>();
    let applied = fx.sync(&again, &policy).unwrap();
    assert_eq!(kinds(&applied), [(id(1).as_str(), EventKind::NotFound)]);
}

#[test]
fn listed_ids_without_a_current_item_are_unknown_rejected_ones_too() {
    let fx = Fixture::new();
    sync_with_one_missing(&fx, OnMissing::Reject);
    assert_eq!(fx.item(&id(1)).digest, "", "id 1 is rejected");
    let mut stage = fx.catalog.stage("Contact").unwrap();
    stage.add_batch(&[item(&id(3), "P3", "changed")]).unwrap();
    let listed = [id(1), id(2), id(3), id(5)];
    stage.mark_seen(listed.iter().map(String::as_str)).unwrap();
    let mut unknown = stage.unknown_seen().unwrap();
    unknown.sort();
    assert_eq!(
        unknown,
        [id(1), id(5)],
        "not the held id 2, nor the staged id 3"
    );
}

/// Ten Contacts held; a stage of `Contact` that has seen ids 1 to 8 and
/// looked for unknown ids, so that its walk found 9 and 10 missing.
fn walked_with_two_missing(fx: &Fixture) -> Stage<'_> {
    let held: Vec<Item> = (1..=10).map(|n| item(&id(n), "P", "x")).collect();
    fx.sync(&held, &fx.policy()).unwrap();
    let mut stage = fx.catalog.stage("Contact").unwrap();
    let listed: Vec<String> = (1..=8).map(id).collect();
    stage.mark_seen(listed.iter().map(String::as_str)).unwrap();
    assert!(stage.unknown_seen().unwrap().is_empty());
    stage
}

/// Whether the catalog holds the Contact of `id(n)`.
fn holds_contact(fx: &Fixture, n: usize) -> bool {
    fx.catalog
        .find_item(Some("Contact"), &id(n))
        .unwrap()
        .is_some()
}

fn delete_unseen(fx: &Fixture) -> ApplyPolicy {
    ApplyPolicy {
        on_missing: OnMissing::Delete,
        missing: MissingScope::Unseen,
        ..fx.policy()
    }
}

#[test]
fn apply_deletes_what_the_walk_for_unknown_ids_found_missing() {
    let fx = Fixture::new();
    let mut stage = walked_with_two_missing(&fx);
    let applied = stage.apply(&delete_unseen(&fx)).unwrap();
    assert_eq!(applied.counts.deleted, 2);
    let holds = |n| holds_contact(&fx, n);
    assert!(holds(8) && !holds(9) && !holds(10));
}

#[test]
fn ids_seen_after_the_walk_keep_their_items() {
    let fx = Fixture::new();
    let mut stage = walked_with_two_missing(&fx);
    stage.mark_seen([id(9).as_str()]).unwrap();
    stage.add_batch(&[item(&id(10), "P", "changed")]).unwrap();
    let applied = stage.apply(&delete_unseen(&fx)).unwrap();
    assert_eq!(applied.counts.deleted, 0);
    assert_eq!(applied.counts.updated, 1);
}

#[test]
fn a_commit_by_another_connection_after_the_walk_is_seen_by_apply() {
    let fx = Fixture::new();
    let mut stage = walked_with_two_missing(&fx);
    let other = Catalog::open(&fx.path).unwrap();
    let mut elsewhere = other.stage("Contact").unwrap();
    elsewhere.add_batch(&[item(&id(11), "P", "x")]).unwrap();
    elsewhere.apply(&fx.policy()).unwrap();
    let applied = stage.apply(&delete_unseen(&fx)).unwrap();
    assert_eq!(applied.counts.deleted, 3, "9, 10 and the new 11");
}

#[test]
fn a_listing_out_of_order_and_in_parts_is_compared_whole() {
    let fx = Fixture::new();
    let held: Vec<Item> = (1..=6).map(|n| item(&id(n), "P", "x")).collect();
    fx.sync(&held, &fx.policy()).unwrap();
    let mut stage = fx.catalog.stage("Contact").unwrap();
    // Made after the listing was taken: read, but not listed.
    stage.add_batch(&[item(&id(7), "P7", "x")]).unwrap();
    let parts = [[id(5), id(2), id(9)], [id(1), id(2), id(8)]];
    for part in &parts {
        stage.mark_seen(part.iter().map(String::as_str)).unwrap();
    }
    assert_eq!(stage.unknown_seen().unwrap(), [id(8), id(9)]);
    let applied = stage.apply(&delete_unseen(&fx)).unwrap();
    assert_eq!(applied.counts.deleted, 3, "3, 4 and 6");
    assert_eq!(applied.counts.created, 1, "7");
    let holds = |n| holds_contact(&fx, n);
    assert!(holds(1) && holds(2) && holds(5) && holds(7));
    assert!(!holds(3) && !holds(4) && !holds(6));
}

#[test]
fn a_long_listing_is_compared_with_the_items_of_its_type_only() {
    let fx = Fixture::new();
    let held: Vec<Item> = (1..=400).map(|n| item(&id(n), "P", "x")).collect();
    fx.sync(&held, &fx.policy()).unwrap();
    let mut other = fx.catalog.stage("Account").unwrap();
    other.add_batch(&[item(&id(1000), "A", "x")]).unwrap();
    other.apply(&fx.policy()).unwrap();

    // Listed: every id up to 500 but each fifth, and the Account's id,
    // which is no Contact's; more than one statement's worth of ids.
    let listed: Vec<String> = (1..=500)
        .filter(|n| n % 5 != 0)
        .chain([1000])
        .map(id)
        .collect();
    let mut stage = fx.catalog.stage("Contact").unwrap();
    stage.mark_seen(listed.iter().map(String::as_str)).unwrap();
    let unknown = stage.unknown_seen().unwrap();
    let expected: Vec<String> = (401..=500)
        .filter(|n| n % 5 != 0)
        .chain([1000])
        .map(id)
        .collect();
    assert_eq!(unknown, expected);

    let policy = ApplyPolicy {
        on_missing: OnMissing::Delete,
        missing: MissingScope::Unseen,
        ..fx.policy()
    };
    let applied = stage.apply(&policy).unwrap();
    assert_eq!(applied.counts.deleted, 80, "each fifth of the 400 held");
    let holds = |t, n| fx.catalog.find_item(Some(t), &id(n)).unwrap().is_some();
    assert!(!holds("Contact", 5) && holds("Contact", 4) && holds("Account", 1000));
}

#[test]
fn missing_items_are_removed_when_the_policy_deletes_them() {
    let fx = Fixture::new();
    let applied = sync_with_one_missing(&fx, OnMissing::Delete);
    assert_eq!(
        kinds(&applied),
        [
            (id(1).as_str(), EventKind::NotFound),
            (&id(1), EventKind::Deleted)
        ]
    );
    assert_eq!(
        applied.events[1].fields,
        Some(json!({"name": "P1", "email": "x"}))
    );
    assert_eq!(applied.counts.deleted, 1);
    assert!(fx.catalog.find_item(None, &id(1)).unwrap().is_none());
}

#[test]
fn ids_scope_touches_only_the_given_items() {
    let fx = Fixture::new();
    let all: Vec<Item> = (1..=3).map(|n| item(&id(n), "P", "x")).collect();
    fx.sync(&all, &fx.policy()).unwrap();
    let policy = ApplyPolicy {
        on_missing: OnMissing::Delete,
        missing: MissingScope::Ids(vec![id(2), id(2), id(9)]),
        ..fx.policy()
    };
    let stage = fx.catalog.stage("Contact").unwrap();
    let applied = { stage }.apply(&policy).unwrap();
    assert_eq!(
        kinds(&applied),
        [
            (id(2).as_str(), EventKind::NotFound),
            (&id(2), EventKind::Deleted)
        ]
    );
    assert_eq!(fx.catalog.count_items("Contact").unwrap(), 2);
}

/// Everything a failed or dry apply must leave as it was.
fn snapshot(fx: &Fixture) -> (Vec<ItemRecord>, Option<TypeState>, i64) {
    let ids: Vec<String> = (0..20).map(id).collect();
    let mut items = fx.catalog.find_items_by_ids(&ids, None).unwrap();
    items.sort_by(|a, b| a.sf_object_id.cmp(&b.sf_object_id));
    (
        items,
        fx.catalog.type_state("Contact").unwrap(),
        fx.event_count(),
    )
}

#[test]
fn mass_missing_is_refused_and_changes_nothing() {
    let fx = Fixture::new();
    let all: Vec<Item> = (1..=10).map(|n| item(&id(n), "P", "x")).collect();
    fx.sync(&all, &fx.policy()).unwrap();
    let before = snapshot(&fx);
    let policy = ApplyPolicy {
        on_missing: OnMissing::Delete,
        missing: MissingScope::Unseen,
        watermark: Some("2026-12-03T16:20:00.000+0000".into()),
        ..fx.policy()
    };

    let mut changed = all[..4].to_vec();
    changed[0] = item(&id(1), "Changed", "y");
    changed.push(item(&id(11), "New", "n"));
    let err = fx.sync(&changed, &policy).unwrap_err();
    assert!(
        matches!(&err, CatalogError::MassMissing { type_name, missing: 6, total: 10 } if type_name == "Contact"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "refusing to treat 6 of 10 items of `Contact` as missing from the org"
    );
    assert_eq!(snapshot(&fx), before);

    let err = fx.sync(&[], &policy).unwrap_err();
    assert!(matches!(err, CatalogError::MassMissing { missing: 10, .. }));
    let lenient = ApplyPolicy {
        max_missing: 1.0,
        ..policy.clone()
    };
    assert!(
        fx.sync(&[], &lenient).is_err(),
        "an empty read is refused whatever the share"
    );
    assert_eq!(snapshot(&fx), before);

    let allowed = ApplyPolicy {
        allow_mass_missing: true,
        ..policy
    };
    let applied = fx.sync(&changed, &allowed).unwrap();
    assert_eq!(applied.counts.deleted, 6);
    assert_eq!(applied.counts.created, 1);
    assert_eq!(fx.catalog.count_items("Contact").unwrap(), 5);
}

#[test]
fn a_refused_apply_keeps_the_stage_for_another_try() {
    let fx = Fixture::new();
    let all: Vec<Item> = (1..=4).map(|n| item(&id(n), "P", "x")).collect();
    fx.sync(&all, &fx.policy()).unwrap();
    let mut policy = ApplyPolicy {
        on_missing: OnMissing::Reject,
        missing: MissingScope::Unseen,
        ..fx.policy()
    };
    let mut stage = fx.catalog.stage("Contact").unwrap();
    stage.add_batch(&all[..1]).unwrap();
    assert!(stage.apply(&policy).is_err());
    policy.allow_mass_missing = true;
    let applied = stage.apply(&policy).unwrap();
    assert_eq!(applied.counts.rejected, 0, "they were private already");
    assert_eq!(applied.counts.missing, 3);
    assert_eq!(applied.counts.unchanged, 1);
}

#[test]
fn dry_run_reports_everything_and_keeps_nothing() {
    let fx = Fixture::new();
    fx.sync(
        &[item(&id(1), "A", "x"), item(&id(2), "B", "x")],
        &fx.policy(),
    )
    .unwrap();
    let before = snapshot(&fx);
    let policy = ApplyPolicy {
        dry_run: true,
        publish: true,
        on_missing: OnMissing::Delete,
        missing: MissingScope::Unseen,
        full_read: true,
        ..fx.policy()
    };
    let applied = fx
        .sync(&[item(&id(1), "A", "y"), item(&id(3), "C", "x")], &policy)
        .unwrap();
    assert_eq!(applied.counts.updated, 1);
    assert_eq!(applied.counts.created, 1);
    assert_eq!(applied.counts.deleted, 1);
    assert_eq!(snapshot(&fx), before);

    let refused = fx.sync(&[], &policy).unwrap_err();
    assert!(matches!(refused, CatalogError::MassMissing { .. }));
}

#[test]
fn events_are_written_with_their_run_and_only_collected_on_request() {
    let fx = Fixture::new();
    let quiet = ApplyPolicy::new(fx.run_id, "contacts");
    let applied = fx.sync(&[item(&id(1), "A", "x")], &quiet).unwrap();
    assert!(applied.events.is_empty());
    let (run, kind, path): (i64, String, String) = fx
        .catalog
        .conn
        .query_row("SELECT run_id, kind, path FROM events", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .unwrap();
    assert_eq!(
        (run, kind.as_str(), path.as_str()),
        (fx.run_id, "created", "contacts/a")
    );
}

#[test]
fn events_serialize_as_hook_lines() {
    let event = Event {
        run_id: 7,
        at: "2026-12-03T16:20:00Z".into(),
        kind: EventKind::NotFound,
        type_name: "Contact".into(),
        sf_object_id: id(1),
        path: "contacts/a".into(),
        fields: None,
    };
    let line = serde_json::to_string(&event).unwrap();
    assert_eq!(
        line,
        format!(
            r#"{{"run":7,"at":"2026-12-03T16:20:00Z","kind":"not_found","type":"Contact","sf_object_id":"{}","path":"contacts/a"}}"#,
            id(1)
        )
    );
    let deleted = Event {
        kind: EventKind::Deleted,
        fields: Some(json!({"a": 1})),
        ..event
    };
    assert!(serde_json::to_string(&deleted)
        .unwrap()
        .ends_with(r#""fields":{"a":1}}"#));
}

#[test]
fn type_state_moves_forward_and_keeps_what_is_unset() {
    let fx = Fixture::new();
    assert_eq!(fx.catalog.type_state("Contact").unwrap(), None);
    let full = ApplyPolicy {
        watermark: Some("2026-12-03T16:20:00.000+0000".into()),
        full_read: true,
        ..fx.policy()
    };
    fx.sync(&[], &full).unwrap();
    fx.sync(&[], &fx.policy()).unwrap();
    let state = fx.catalog.type_state("Contact").unwrap().unwrap();
    assert_eq!(
        state.watermark.as_deref(),
        Some("2026-12-03T16:20:00.000+0000")
    );
    assert!(state.last_full_read_at.is_some());
    assert!(state.last_ok_at.unwrap().ends_with('Z'));
}

#[test]
fn views_have_a_column_per_field_and_follow_the_mapping() {
    let fx = Fixture::new();
    fx.sync(&[item(&id(1), "Ada", "ada@x")], &fx.policy())
        .unwrap();
    let view = |fields: &[&str]| TypeView {
        name: "Contact".into(),
        fields: fields.iter().map(|f| f.to_string()).collect(),
    };
    fx.catalog
        .define_views(&[view(&["name", "email"])])
        .unwrap();
    let row: (String, String, String) = fx
        .catalog
        .conn
        .query_row("SELECT name, email, path FROM contact", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(row, ("Ada".into(), "ada@x".into(), "contacts/ada".into()));

    let schema_version = || -> i64 {
        fx.catalog
            .conn
            .pragma_query_value(None, "schema_version", |r| r.get(0))
            .unwrap()
    };
    let before = schema_version();
    fx.catalog
        .define_views(&[view(&["name", "email"])])
        .unwrap();
    assert_eq!(schema_version(), before, "the same mapping changes nothing");

    fx.catalog.define_views(&[view(&["email"])]).unwrap();
    assert!(fx.catalog.conn.prepare("SELECT name FROM contact").is_err());
    assert!(schema_version() > before);
    fx.catalog.define_views(&[]).unwrap();
    assert!(fx.catalog.conn.prepare("SELECT * FROM contact").is_err());
}

#[test]
fn runs_are_logged_with_their_outcome() {
    let fx = Fixture::new();
    let failed = fx.catalog.begin_run("sync-one").unwrap();
    fx.catalog
        .finish_run(fx.run_id, RunOutcome::Ok, &json!({"created": 1}), None)
        .unwrap();
    fx.catalog
        .finish_run(failed, RunOutcome::Failed, &json!({}), Some("boom"))
        .unwrap();
    let runs = fx.catalog.recent_runs(10).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].command, "sync-one");
    assert_eq!(runs[0].outcome, Some(RunOutcome::Failed));
    assert_eq!(runs[0].error.as_deref(), Some("boom"));
    assert_eq!(runs[1].counts, Some(json!({"created": 1})));
    assert_eq!(runs[1].pid, std::process::id());
}

#[test]
fn a_held_write_lock_makes_writes_busy() {
    let fx = Fixture::new();
    let holder = rusqlite::Connection::open(&fx.path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    fx.catalog
        .set_busy_timeout(Duration::from_millis(50))
        .unwrap();

    let err = fx.catalog.begin_run("sync-all").unwrap_err();
    assert!(matches!(err, CatalogError::Busy { .. }), "{err}");
    assert!(err.to_string().ends_with("is locked by another writer"));

    let mut stage = fx.catalog.stage("Contact").unwrap();
    stage.add_batch(&[item(&id(1), "A", "x")]).unwrap();
    let err = stage.apply(&fx.policy()).unwrap_err();
    assert!(matches!(err, CatalogError::Busy { .. }), "{err}");
    holder.execute_batch("COMMIT").unwrap();
    assert_eq!(stage.apply(&fx.policy()).unwrap().counts.created, 1);
}

#[test]
fn items_are_found_by_ten_thousand_ids() {
    let fx = Fixture::new();
    let records: Vec<Item> = (0..10_000).map(|n| item(&id(n), "P", "x")).collect();
    fx.sync(&records, &ApplyPolicy::new(fx.run_id, "contacts"))
        .unwrap();
    let mut ids: Vec<String> = (0..10_000).map(id).collect();
    ids.push("003NOTTHERE0000000".into());

    let started = Instant::now();
    let found = fx.catalog.find_items_by_ids(&ids, Some("Contact")).unwrap();
    assert_eq!(found.len(), 10_000);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(fx
        .catalog
        .find_items_by_ids(&ids, Some("Lead"))
        .unwrap()
        .is_empty());

    let counts = fx.catalog.count_by_state().unwrap();
    assert_eq!(
        counts,
        [("Contact".to_string(), "private".to_string(), 10_000)]
    );
}

/// Measures the staging hot path; run with
/// `cargo test --release -p sfsync --lib stage_throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn stage_throughput() {
    let fx = Fixture::new();
    let total = 1_000_000;
    let batches: Vec<Vec<Item>> = (0..total / 2000)
        .map(|b| (0..2000).map(|n| bench_item(b * 2000 + n)).collect())
        .collect();

    let mut stage = fx.catalog.stage("Contact").unwrap();
    let started = Instant::now();
    for batch in &batches {
        stage.add_batch(batch).unwrap();
    }
    let staged = started.elapsed();
    let applied = stage
        .apply(&ApplyPolicy::new(fx.run_id, "contacts"))
        .unwrap();
    let first = started.elapsed();
    drop(stage);

    let mut stage = fx.catalog.stage("Contact").unwrap();
    let again = Instant::now();
    for batch in &batches {
        stage.add_batch(batch).unwrap();
    }
    let unchanged = again.elapsed();
    let rate = |d: Duration| total as f64 / d.as_secs_f64();
    eprintln!(
        "new: {:.0} records/s staged, {:.1} s with apply ({} created); \
         unchanged: {:.0} records/s",
        rate(staged),
        first.as_secs_f64(),
        applied.counts.created,
        rate(unchanged)
    );
}

fn bench_item(n: usize) -> Item {
    let mut fields = Map::new();
    fields.insert("Name".into(), json!(format!("Person {n}")));
    fields.insert("Email".into(), json!(format!("person{n}@example.com")));
    fields.insert("Phone".into(), json!("+1 555 0100"));
    fields.insert("Title".into(), json!("Engineer"));
    fields.insert("Active".into(), Value::Bool(n & 1 == 0));
    Item {
        sf_object_id: id(n),
        title: format!("Person {n}"),
        fields: Value::Object(fields).to_string(),
        digest: format!("{n:064x}"),
    }
}

/// Measures a first sync's write path (records written straight to the
/// catalog, then the commit) with rows of about the size a 20-field
/// mapping makes and titles that repeat five times each; run with
/// `cargo test --release -p sfsync --lib fill_throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn fill_throughput() {
    let fx = Fixture::new();
    let total = 100_000;
    let names = [
        "Ada Lovelace",
        "Grace Hopper",
        "Alan Turing",
        "Edsger Dijkstra",
    ];
    let batches: Vec<Vec<Item>> = (0..total / 2000)
        .map(|b| {
            (0..2000)
                .map(|n| {
                    let k = b * 2000 + n;
                    let mut item = bench_item(k);
                    item.title = format!("{} {}", names[k % 4], k % 20_000);
                    item.fields =
                        format!("{{\"pad\":\"{}\",{}", "x".repeat(500), &item.fields[1..]);
                    item
                })
                .collect()
        })
        .collect();
    let policy = ApplyPolicy::new(fx.run_id, "contacts");
    let mut stage = fx.catalog.stage_full_read("Contact", &policy).unwrap();
    let started = Instant::now();
    for batch in &batches {
        stage.add_batch(batch).unwrap();
    }
    let added = started.elapsed();
    let applied = stage.apply(&policy).unwrap();
    eprintln!(
        "fill: {:.3} s added, {:.3} s with commit ({} created)",
        added.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        applied.counts.created
    );
}
