//! A soak: many rounds of random changes, deletes and faults in the org,
//! each followed by a sync. After every sync that succeeds the catalog must
//! equal the org's matching records mapped through sync.toml, as a model
//! computed here from the org's own records.
//!
//! `SFSYNC_SOAK_ROUNDS` sets the rounds (default 40; try 2000 by hand) and
//! `SFSYNC_SOAK_SEED` the seed, which a failure prints.

mod common;

use std::collections::BTreeMap;

use common::{stderr, Env, PLAIN};
use fake_org::{Fault, FaultKind};
use serde_json::json;

/// A small xorshift generator: reproducible from its seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len())])
    }
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the catalog should publish: id to `name|email`, from the org alone.
fn model(env: &Env) -> BTreeMap<String, String> {
    env.org
        .records("Contact")
        .into_iter()
        .filter_map(|r| {
            let email = r["Email"].as_str()?;
            let name = r["Name"].as_str().unwrap_or_default();
            Some((r["Id"].as_str()?.to_string(), format!("{name}|{email}")))
        })
        .collect()
}

/// What the catalog publishes, in the model's shape.
fn published(env: &Env) -> BTreeMap<String, String> {
    env.column(
        "select sf_object_id || char(9) || coalesce(name, '') || '|' || email \
         from contact where state = 'published'",
    )
    .into_iter()
    .map(|row| {
        let (id, rest) = row.split_once('\t').unwrap();
        (id.to_string(), rest.to_string())
    })
    .collect()
}

/// A few random changes: edits, records leaving and entering the
/// criteria, deletes of both kinds and inserts.
fn change(env: &Env, rng: &mut Rng, round: u64) {
    let all = env.org.ids("Contact");
    let matching: Vec<String> = model(env).into_keys().collect();
    for n in 0..1 + rng.below(5) {
        let tag = format!("r{round}n{n}");
        let any = rng.pick(&all).cloned();
        let live = rng.pick(&matching).cloned();
        match (rng.below(7), any, live) {
            (0, Some(id), _) => env.org.update("Contact", &id, json!({"LastName": tag})),
            (1, Some(id), _) => {
                let email = format!("{tag}@example.com");
                env.org.update("Contact", &id, json!({"Email": email}));
            }
            (2, _, Some(id)) => env.org.update("Contact", &id, json!({"Email": null})),
            (3, _, Some(id)) => env.org.soft_delete("Contact", &id),
            (4, _, Some(id)) => env.org.hard_delete("Contact", &id),
            _ => {
                let email = format!("{tag}@example.com");
                env.org
                    .insert("Contact", json!({"LastName": tag, "Email": email}));
            }
        }
    }
}

fn random_fault(rng: &mut Rng) -> Fault {
    let fault = match rng.below(7) {
        0 => Fault::server_error(),
        1 => Fault::unavailable(),
        2 => Fault::new(FaultKind::DropConnection),
        3 => Fault::new(FaultKind::TruncateBody),
        4 => Fault::status(401, "INVALID_SESSION_ID", "Session expired or invalid"),
        5 => Fault::query_timeout(),
        _ => Fault::invalid_query_locator(),
    };
    fault.on_path("/query").after(rng.below(6))
}

#[test]
fn after_every_successful_sync_the_catalog_equals_the_org() {
    let seed = setting("SFSYNC_SOAK_SEED", 0x5eed_f00d);
    let rounds = setting("SFSYNC_SOAK_ROUNDS", 40);
    let mut rng = Rng(seed.max(1));
    let env = Env::small();
    env.write_config("password", PLAIN);
    env.org.set_page_size(25);
    env.sfsync().arg("sync-all").assert().success();

    let mut failed = 0;
    for round in 0..rounds {
        change(&env, &mut rng, round);
        if rng.below(2) == 0 {
            env.org.inject_fault(random_fault(&mut rng));
        }
        let full = rng.below(4) == 0;
        let mut cmd = env.sfsync();
        cmd.arg("sync-all");
        if full {
            cmd.arg("--full");
        }
        let out = cmd.output().unwrap();
        let context = format!("seed {seed}, round {round}: {}", stderr(&out));
        match out.status.code() {
            Some(0) => assert_eq!(published(&env), model(&env), "{context}"),
            Some(3) => {
                failed += 1;
                assert_eq!(
                    env.column("select outcome from runs order by id desc limit 1"),
                    ["failed"],
                    "{context}"
                );
            }
            other => panic!("exit {other:?}; {context}"),
        }
        let private =
            env.count("select count(*) from items where state = 'private' and digest != ''");
        assert_eq!(private, 0, "a private item keeps no digest; {context}");
    }
    eprintln!("{rounds} rounds, {failed} failed on a fault, seed {seed}");
    env.sfsync().arg("sync-all").assert().success();
    assert_eq!(published(&env), model(&env), "the last sync converges");
}
