//! `sfsync check`, run as the real binary against the fake org: a good
//! configuration passes, a broken one lists every problem.

mod common;

use common::{stderr, stdout, Env, CONTACTS};

#[test]
fn a_good_configuration_passes_and_its_query_is_tried_with_limit_1() {
    let env = Env::small();
    env.org.clear_log();
    let out = env.sfsync().arg("check").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = stdout(&out);
    assert!(report.starts_with("Contact: soql: SELECT Id, SystemModstamp, Name"));
    assert!(report.ends_with("Contact: ok\n"), "{report}");
    assert_eq!(stderr(&out), "");
    let queries: Vec<String> = env
        .org
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/query"))
        .filter_map(|r| r.query)
        .collect();
    assert_eq!(queries.len(), 1);
    assert!(queries[0].contains("LIMIT%201") || queries[0].contains("LIMIT+1"));
    assert!(
        !env.catalog_path().exists(),
        "check leaves the catalog alone"
    );
}

#[test]
fn three_different_problems_are_all_reported_in_one_run() {
    let env = Env::small();
    let broken = CONTACTS
        .replace(
            "birthdate = { sf = \"Birthdate\", type = \"date\" }",
            "birthdate = { sf = \"Email\", type = \"date\" }\nnickname = \"Nickname__c\"\nboss = \"Boss.Name\"",
        )
        .replace("OpportunityContactRoles", "OpportunityRolez");
    env.write_config("password", &broken);
    let out = env.sfsync().arg("check").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let report = stdout(&out);
    let line = |needle: &str| {
        report
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in:\n{report}"))
            .to_string()
    };
    assert!(line("field birthdate").contains("is `email` in Salesforce but mapped as `date`"));
    assert!(line("field nickname").contains("`Nickname__c` does not exist on `Contact`"));
    assert!(line("field boss").contains("no parent relationship `Boss`"));
    assert!(line("field roles").contains("no child relationship `OpportunityRolez`"));
    assert!(line("refuses the query").starts_with("Contact: "));
    assert!(
        report.lines().all(|l| l.starts_with("Contact: ")),
        "{report}"
    );
    assert!(stderr(&out).contains("5 problem(s)"), "{}", stderr(&out));
}

#[test]
fn an_unknown_sobject_is_a_problem_and_other_types_are_still_checked() {
    let env = Env::small();
    let types = format!(
        "{CONTACTS}\n[[types]]\nname = \"Widget\"\nsobject = \"Widget__c\"\n[types.fields]\nname = \"Name\"\n"
    );
    env.write_config("password", &types);
    let out = env.sfsync().arg("check").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let report = stdout(&out);
    assert!(report.contains("Contact: ok"), "{report}");
    assert!(
        report.contains("Widget: sobject `Widget__c` does not exist"),
        "{report}"
    );
}
