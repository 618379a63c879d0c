//! Child relationships whose lists Salesforce pages: every child row must
//! reach the catalog, however many pages its list is cut into.

mod common;

use std::collections::HashMap;

use common::{stderr, Env};
use fake_org::{Fault, FaultKind, GenSpec, Org};
use serde_json::Value;

/// Contacts with about ten opportunity contact roles each.
fn env_with_many_roles() -> Env {
    Env::with_org(Org::generate(&GenSpec {
        seed: 5,
        accounts: 10,
        contacts: 60,
        opportunities: 40,
        contact_roles: 600,
    }))
}

/// The org's role ids per contact.
fn roles_by_contact(env: &Env) -> HashMap<String, Vec<String>> {
    let mut roles: HashMap<String, Vec<String>> = HashMap::new();
    for role in env.org.records("OpportunityContactRole") {
        let (Some(contact), Some(id)) = (role["ContactId"].as_str(), role["Id"].as_str()) else {
            continue;
        };
        roles
            .entry(contact.to_string())
            .or_default()
            .push(id.to_string());
    }
    roles
}

/// The number of roles the catalog holds for one contact.
fn catalog_roles(env: &Env, contact: &str) -> usize {
    let fields = &env.column(&format!(
        "select fields from items where sf_object_id = '{contact}'"
    ))[0];
    let fields: Value = serde_json::from_str(fields).expect("fields are JSON");
    fields["roles"].as_array().map_or(0, Vec::len)
}

#[test]
fn child_lists_paged_by_salesforce_arrive_whole() {
    let env = env_with_many_roles();
    env.org.set_child_page_size(2);
    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let roles = roles_by_contact(&env);
    let contacts = env.contacts_with_email();
    let mut paged = 0;
    for contact in &contacts {
        let want = roles.get(contact).map_or(0, Vec::len);
        assert_eq!(catalog_roles(&env, contact), want, "roles of `{contact}`");
        if want > 2 {
            paged += 1;
        }
    }
    assert!(
        paged * 2 > contacts.len(),
        "most contacts have a paged list: {paged} of {}",
        contacts.len()
    );
    let follow_ups = env
        .org
        .requests()
        .iter()
        .filter(|r| r.path.contains("/query/01g"))
        .count();
    assert!(follow_ups >= paged, "each paged list was followed");
}

/// Salesforce closes a parent page's child lists when the parent's next
/// page is asked for, so they must be read to the end first.
#[test]
fn child_lists_arrive_whole_when_the_parents_are_paged_too() {
    let env = env_with_many_roles();
    env.org.set_page_size(10);
    env.org.set_child_page_size(2);
    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let roles = roles_by_contact(&env);
    let contacts = env.contacts_with_email();
    assert!(contacts.len() > 20, "several pages of parents");
    for contact in &contacts {
        let want = roles.get(contact).map_or(0, Vec::len);
        assert_eq!(catalog_roles(&env, contact), want, "roles of `{contact}`");
    }
}

/// Regression: a child list that said it was not done but named no
/// `nextRecordsUrl` was taken as complete, and the record stored with a
/// cut list of children.
#[test]
fn a_child_list_without_its_next_page_fails_the_type() {
    let env = Env::small();
    let id = env.contacts_with_email()[0].clone();
    let page = serde_json::json!({"totalSize": 1, "done": true, "records": [{
        "attributes": {"type": "Contact"},
        "Id": id, "SystemModstamp": "2024-03-17T16:21:26.000+0000",
        "Name": "Ada Lovelace", "Email": "ada@example.com",
        "OpportunityContactRoles": {"totalSize": 3, "done": false, "records": [
            {"attributes": {"type": "OpportunityContactRole"},
             "Id": "00K000000000001AAA", "Role": "Decision Maker", "Opportunity": null}
        ]}
    }]});
    // Let the count pass, then answer the read with the cut list.
    env.org.inject_fault(
        Fault::new(FaultKind::ReplaceBody {
            status: 200,
            content_type: "application/json".into(),
            body: page.to_string().into_bytes(),
        })
        .on_path("/query")
        .after(1),
    );
    let out = env.sfsync().arg("sync-all").output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("nextRecordsUrl"), "{}", stderr(&out));
    assert_eq!(env.count("select count(*) from items"), 0);
}
