//! Property tests for the configuration loader and the SOQL builder: no
//! input panics, and whatever the loader accepts builds queries whose
//! field list holds only checked identifier paths.
//!
//! The seed inputs live in `tests/corpus/config/` (plus the example
//! configuration); proptest keeps the inputs of past failures in
//! `tests/fuzz_config.proptest-regressions` and replays them first.
//! `PROPTEST_CASES=100000` runs longer by hand.

mod common;

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use sfsync::config::{is_field_path, Config};
use sfsync::ids::SfId;
use sfsync::soql::{self, Filter, StampRange};

fn corpus() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("sync.toml.example")];
    for entry in std::fs::read_dir(root.join("tests/corpus/config")).unwrap() {
        files.push(entry.unwrap().path());
    }
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path, text)
        })
        .collect()
}

/// Parses `text`; when it is accepted, builds every query of every type.
fn load_and_build(text: &str) {
    let Ok(config) = Config::parse(Path::new("sync.toml"), text) else {
        return;
    };
    let id = SfId::parse("003000000000001").unwrap();
    let range = StampRange {
        from: Some("2024-01-01T00:00:00Z".into()),
        to: None,
    };
    for t in &config.types {
        let select = soql::select(t, &Filter::All);
        assert!(select.starts_with("SELECT Id"), "{select}");
        for field in soql::select_list(t) {
            let plain = !field.starts_with('(');
            assert!(!plain || is_field_path(&field), "`{field}` in {select}");
        }
        soql::select(t, &Filter::Id(&id));
        soql::select(t, &Filter::Ids(std::slice::from_ref(&id)));
        soql::select(t, &Filter::Stamps(&range));
        soql::ids(t, &range);
        soql::count(t);
        soql::bulk(t, &range);
        soql::stamp_edge(t, &range, true);
    }
}

#[test]
fn every_corpus_file_loads_or_fails_cleanly() {
    for (path, text) in corpus() {
        let result = Config::parse(&path, &text);
        if path.ends_with("hostile.toml") {
            let e = result.expect_err("the hostile file is refused");
            assert!(!e.to_string().contains("never echoed"), "{e}");
        } else if let Err(e) = result {
            panic!("`{}` is refused: {e}", path.display());
        }
        load_and_build(&text);
    }
}

/// A TOML string literal holding `s`, whatever it contains.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Mostly `good`, sometimes anything: enough valid input to reach the
/// SOQL builder, enough junk to probe the loader's checks.
fn mostly(good: &'static str, junk: &'static str) -> BoxedStrategy<String> {
    prop_oneof![4 => good, 1 => junk].boxed()
}

fn one_of(choices: &[&'static str]) -> BoxedStrategy<&'static str> {
    prop_oneof![
        4 => Just(choices[0]),
        1 => prop::sample::select(choices.to_vec()),
    ]
    .boxed()
}

const PATH: &str = "[A-Z][A-Za-z_]{0,8}(\\.[A-Z][A-Za-z_]{0,8}){0,2}";

/// Field values: plain paths, kinds (good and bad), children, odd types.
fn field_value() -> impl Strategy<Value = String> {
    let kind = one_of(&[
        "auto",
        "date",
        "datetime",
        "boolean",
        "number",
        "picklist",
        "multipicklist",
        "address",
        "blob",
        "",
    ]);
    prop_oneof![
        6 => mostly(PATH, ".{0,12}").prop_map(|p| quoted(&p)),
        2 => (mostly(PATH, ".{0,12}"), kind)
            .prop_map(|(p, k)| format!("{{ sf = {}, type = {} }}", quoted(&p), quoted(k))),
        2 => (mostly("[A-Z][A-Za-z]{1,10}s", ".{0,8}"), ".{0,30}", mostly(PATH, ".{0,8}"))
            .prop_map(|(rel, crit, f)| format!(
                "{{ relationship = {}, criteria = {}, fields = {{ a = {} }} }}",
                quoted(&rel),
                quoted(&crit),
                quoted(&f)
            )),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => Just("[]".to_string()),
    ]
}

/// A type's table with random names, criteria, order and settings.
fn type_table() -> impl Strategy<Value = String> {
    (
        mostly("[A-Z][a-z]{1,10}", ".{0,16}"),
        mostly("[A-Z][A-Za-z_]{1,10}", ".{0,12}"),
        ".{0,40}",
        mostly("[A-Z][a-z]{1,8}( DESC)?", ".{0,20}"),
        one_of(&["reject", "keep", "delete", "shred"]),
        one_of(&["\"50%\"", "0.5", "\"101%\"", "-1", "\"x\"", "2"]),
        prop::collection::vec(
            (mostly("[a-z][a-z0-9_]{0,7}", ".{0,6}"), field_value()),
            0..5,
        ),
    )
        .prop_map(|(name, sobject, criteria, order, missing, max, fields)| {
            let mut text = format!(
                "[[types]]\nname = {}\nsobject = {}\ncriteria = {}\norder_by = {}\n\
                 on_missing = \"{missing}\"\nmax_missing = {max}\n[types.fields]\n",
                quoted(&name),
                quoted(&sobject),
                quoted(&criteria),
                quoted(&order),
            );
            for (key, value) in fields {
                text.push_str(&format!("{} = {value}\n", quoted(&key)));
            }
            text
        })
}

fn config_text() -> impl Strategy<Value = String> {
    let auth = one_of(&[
        "password",
        "refresh_token",
        "client_credentials",
        "jwt",
        "access_token",
        "magic",
    ]);
    let url = one_of(&[
        "https://login.salesforce.com",
        "http://127.0.0.1:1",
        "http://example.com",
        "ftp://x",
        "not a url",
    ]);
    (auth, url, prop::collection::vec(type_table(), 0..3)).prop_map(|(auth, url, types)| {
        format!(
            "[salesforce]\nlogin_url = \"{url}\"\ninstance_url = \"{url}\"\nauth = \"{auth}\"\n\
             client_id = \"c\"\nusername = \"u\"\n\n{}",
            types.join("\n")
        )
    })
}

/// A corpus file with a slice cut out and random text put in its place.
fn mutated_corpus() -> impl Strategy<Value = String> {
    let texts: Vec<String> = corpus().into_iter().map(|(_, text)| text).collect();
    (
        prop::sample::select(texts),
        any::<prop::sample::Index>(),
        0..40usize,
        ".{0,20}",
    )
        .prop_map(|(text, at, cut, insert)| {
            let chars: Vec<char> = text.chars().collect();
            let start = at.index(chars.len().max(1)).min(chars.len());
            let end = (start + cut).min(chars.len());
            let mut out: String = chars[..start].iter().collect();
            out.push_str(&insert);
            out.extend(&chars[end..]);
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_text_loads_or_fails_without_a_panic(text in "\\PC{0,400}") {
        load_and_build(&text);
    }

    #[test]
    fn generated_configurations_load_or_fail_without_a_panic(text in config_text()) {
        load_and_build(&text);
    }

    #[test]
    fn mutated_corpus_files_load_or_fail_without_a_panic(text in mutated_corpus()) {
        load_and_build(&text);
    }

    #[test]
    fn any_id_parses_to_18_characters_or_fails(raw in "[0-9A-Za-z]{15,18}|.{0,24}") {
        if let Ok(id) = SfId::parse(&raw) {
            prop_assert_eq!(id.as_str().len(), 18);
            prop_assert!(id.as_str().bytes().all(|b| b.is_ascii_alphanumeric()));
        }
    }
}
