//! SOQL queries: paging, relationships, subqueries, filters, ordering and
//! the errors Salesforce sends.

use serde_json::{json, Value};

use crate::common::{assert_sf_error, Session, V};

/// Follows `nextRecordsUrl` to the end; returns every record and the
/// number of pages.
async fn all_pages(s: &Session, first: Value) -> (Vec<Value>, usize) {
    let mut records: Vec<Value> = first["records"].as_array().unwrap().clone();
    let mut page = first;
    let mut pages = 1;
    while page["done"] == false {
        let next = page["nextRecordsUrl"].as_str().unwrap().to_string();
        assert!(next.starts_with("/services/data/v62.0/query/01g"), "{next}");
        page = s.get(&next).await.json().await.unwrap();
        records.extend(page["records"].as_array().unwrap().iter().cloned());
        pages += 1;
    }
    assert!(page.get("nextRecordsUrl").is_none());
    (records, pages)
}

#[tokio::test]
async fn pages_follow_next_records_url_to_the_end() {
    let s = Session::start().await;
    s.org.set_page_size(300);
    let first = s.query_json("SELECT Id, LastName FROM Contact").await;
    assert_eq!(first["totalSize"], 1000);
    assert_eq!(first["done"], false);
    let (records, pages) = all_pages(&s, first).await;
    assert_eq!(pages, 4);
    assert_eq!(records.len(), 1000);
    let ids: std::collections::HashSet<&str> =
        records.iter().map(|r| r["Id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1000);
    let first = &records[0];
    let id = first["Id"].as_str().unwrap();
    assert_eq!(
        first["attributes"],
        json!({"type": "Contact", "url": format!("/services/data/v62.0/sobjects/Contact/{id}")})
    );
    assert_eq!(
        first.as_object().unwrap().keys().next().unwrap(),
        "attributes"
    );
}

#[tokio::test]
async fn batch_size_header_sets_the_page_size_within_bounds() {
    let s = Session::start().await;
    let response = s
        .client
        .get(s.url(&format!("{V}/query")))
        .query(&[("q", "SELECT Id FROM Contact")])
        .header("Sforce-Query-Options", "batchSize=200")
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["records"].as_array().unwrap().len(), 200);
    let (_, pages) = all_pages(&s, page).await;
    assert_eq!(pages, 5);

    let response = s
        .client
        .get(s.url(&format!("{V}/query")))
        .query(&[("q", "SELECT Id FROM Contact")])
        .header("Sforce-Query-Options", "batchSize=5")
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    let page: Value = response.json().await.unwrap();
    assert_eq!(
        page["records"].as_array().unwrap().len(),
        200,
        "clamped to 200"
    );
}

#[tokio::test]
async fn parents_nest_and_children_come_as_query_results() {
    let s = Session::start().await;
    let page = s
        .query_json("SELECT Id, Account.Name, Account.Industry, MailingAddress, Birthdate, Newsletter__c, Score__c, SystemModstamp FROM Contact")
        .await;
    let records = page["records"].as_array().unwrap();
    let with_account = records.iter().find(|r| !r["Account"].is_null()).unwrap();
    let account = with_account["Account"].as_object().unwrap();
    assert_eq!(account["attributes"]["type"], "Account");
    assert!(account["Name"].is_string() && account["Industry"].is_string());
    assert_eq!(account.len(), 3);
    assert!(
        records.iter().any(|r| r["Account"].is_null()),
        "some contacts have no account"
    );
    let address = with_account["MailingAddress"].as_object().unwrap();
    let keys: Vec<&String> = address.keys().collect();
    assert_eq!(
        keys,
        [
            "city",
            "country",
            "geocodeAccuracy",
            "latitude",
            "longitude",
            "postalCode",
            "state",
            "street"
        ]
    );
    let stamp = with_account["SystemModstamp"].as_str().unwrap();
    assert!(stamp.ends_with(".000+0000") && stamp.len() == 28, "{stamp}");
    assert!(with_account["Newsletter__c"].is_boolean());
    assert!(with_account["Score__c"].is_number());

    let page = s
        .query_json("SELECT Id, (SELECT Id, Role, IsPrimary FROM OpportunityContactRoles ORDER BY Role) FROM Contact")
        .await;
    let records = page["records"].as_array().unwrap();
    let with_roles = records
        .iter()
        .find(|r| !r["OpportunityContactRoles"].is_null())
        .unwrap();
    let nested = &with_roles["OpportunityContactRoles"];
    assert_eq!(nested["done"], true);
    assert_eq!(
        nested["totalSize"],
        nested["records"].as_array().unwrap().len()
    );
    assert_eq!(
        nested["records"][0]["attributes"]["type"],
        "OpportunityContactRole"
    );
    assert!(records
        .iter()
        .any(|r| r["OpportunityContactRoles"].is_null()));
}

#[tokio::test]
async fn long_child_lists_page_behind_their_own_next_records_url() {
    let s = Session::start().await;
    s.org.set_child_page_size(7);
    let first = s
        .query_json("SELECT Id, (SELECT Id FROM Contacts ORDER BY Id) FROM Account")
        .await;
    let (accounts, _) = all_pages(&s, first).await;

    let mut expected: std::collections::HashMap<String, Vec<String>> = Default::default();
    for contact in s.org.records("Contact") {
        if let Some(account) = contact["AccountId"].as_str() {
            let id = contact["Id"].as_str().unwrap().to_string();
            expected.entry(account.to_string()).or_default().push(id);
        }
    }
    let mut paged = 0;
    for account in &accounts {
        let id = account["Id"].as_str().unwrap();
        let mut want = expected.remove(id).unwrap_or_default();
        // SOQL sorts text without regard to case.
        want.sort_by_key(|id| id.to_ascii_lowercase());
        let children = &account["Contacts"];
        if want.is_empty() {
            assert!(children.is_null(), "{children}");
            continue;
        }
        assert_eq!(children["totalSize"], want.len());
        let inline = children["records"].as_array().unwrap().len();
        if want.len() > 7 {
            assert_eq!((children["done"].clone(), inline), (json!(false), 7));
            paged += 1;
        } else {
            assert_eq!(
                (children["done"].clone(), inline),
                (json!(true), want.len())
            );
        }
        let (records, _) = all_pages(&s, children.clone()).await;
        let got: Vec<&str> = records.iter().map(|r| r["Id"].as_str().unwrap()).collect();
        assert_eq!(got, want, "children of `{id}`, in order, each once");
    }
    assert!(paged > 10, "most accounts have more than 7 contacts");
}

#[tokio::test]
async fn a_parents_next_page_closes_the_child_lists_of_the_pages_before() {
    let s = Session::start().await;
    s.org.set_page_size(5);
    s.org.set_child_page_size(2);
    let first = s
        .query_json("SELECT Id, (SELECT Id FROM Contacts) FROM Account")
        .await;
    let rest_of_children = first["records"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|account| account["Contacts"]["nextRecordsUrl"].as_str())
        .expect("an account with more than two contacts")
        .to_string();
    // While the parent stays on its page, its child lists can be read on.
    assert_eq!(s.get(&rest_of_children).await.status(), 200);
    let next = first["nextRecordsUrl"].as_str().unwrap();
    assert_eq!(s.get(next).await.status(), 200);
    assert_sf_error(s.get(&rest_of_children).await, 400, "INVALID_QUERY_LOCATOR").await;
}

#[tokio::test]
async fn count_returns_only_the_total() {
    let s = Session::start().await;
    let page = s
        .query_json("SELECT count() FROM Contact WHERE Email = null")
        .await;
    let total = page["totalSize"].as_u64().unwrap();
    assert!(total > 0 && total < 1000);
    assert_eq!(page["records"], json!([]));
    assert_eq!(page["done"], true);
}

#[tokio::test]
async fn group_by_calendar_month_counts_each_month() {
    let s = Session::start().await;
    let page = s
        .query_json(
            "SELECT CALENDAR_YEAR(SystemModstamp), CALENDAR_MONTH(SystemModstamp), COUNT(Id) \
             FROM Contact WHERE Email != null \
             GROUP BY CALENDAR_YEAR(SystemModstamp), CALENDAR_MONTH(SystemModstamp)",
        )
        .await;
    assert_eq!(page["done"], true);
    let groups = page["records"].as_array().unwrap();
    assert_eq!(page["totalSize"], groups.len());
    let mut expected = std::collections::BTreeMap::new();
    for r in s.org.records("Contact") {
        if r["Email"].is_null() {
            continue;
        }
        let stamp = r["SystemModstamp"].as_str().unwrap();
        let (year, month) = (
            stamp[..4].parse::<i64>().unwrap(),
            stamp[5..7].parse::<i64>().unwrap(),
        );
        *expected.entry((year, month)).or_insert(0u64) += 1;
    }
    let got: std::collections::BTreeMap<(i64, i64), u64> = groups
        .iter()
        .map(|g| {
            assert_eq!(g["attributes"]["type"], "AggregateResult");
            let key = (g["expr0"].as_i64().unwrap(), g["expr1"].as_i64().unwrap());
            (key, g["expr2"].as_u64().unwrap())
        })
        .collect();
    assert!(got.len() > 1);
    assert_eq!(got, expected);

    for bad in [
        "SELECT LastName, COUNT(Id) FROM Contact GROUP BY CALENDAR_MONTH(CreatedDate)",
        "SELECT CALENDAR_MONTH(CreatedDate) FROM Contact GROUP BY CALENDAR_YEAR(CreatedDate)",
        "SELECT COUNT(Id) FROM Contact GROUP BY CALENDAR_MONTH(LastName)",
    ] {
        assert_sf_error(s.query(bad).await, 400, "MALFORMED_QUERY").await;
    }
}

#[tokio::test]
async fn min_and_max_give_each_months_first_and_last_stamp() {
    let s = Session::start().await;
    let page = s
        .query_json(
            "SELECT CALENDAR_YEAR(SystemModstamp), CALENDAR_MONTH(SystemModstamp), COUNT(Id), \
             MIN(SystemModstamp), MAX(SystemModstamp) FROM Contact WHERE Email != null \
             GROUP BY CALENDAR_YEAR(SystemModstamp), CALENDAR_MONTH(SystemModstamp)",
        )
        .await;
    // Stamps in the REST form sort as text in time order.
    let mut expected: std::collections::BTreeMap<String, (u64, String, String)> =
        std::collections::BTreeMap::new();
    for r in s.org.records("Contact") {
        if r["Email"].is_null() {
            continue;
        }
        let stamp = r["SystemModstamp"].as_str().unwrap().to_string();
        let month = stamp[..7].to_string();
        let entry = expected
            .entry(month)
            .or_insert_with(|| (0, stamp.clone(), stamp.clone()));
        entry.0 += 1;
        entry.1 = entry.1.clone().min(stamp.clone());
        entry.2 = entry.2.clone().max(stamp);
    }
    let got: std::collections::BTreeMap<String, (u64, String, String)> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let month = format!(
                "{:04}-{:02}",
                g["expr0"].as_i64().unwrap(),
                g["expr1"].as_i64().unwrap()
            );
            let text = |k: &str| g[k].as_str().unwrap().to_string();
            let count = g["expr2"].as_u64().unwrap();
            (month, (count, text("expr3"), text("expr4")))
        })
        .collect();
    assert!(got.len() > 1);
    assert_eq!(got, expected);

    let bad = "SELECT MIN(LastName) FROM Contact GROUP BY CALENDAR_MONTH(CreatedDate)";
    assert_sf_error(s.query(bad).await, 400, "MALFORMED_QUERY").await;
}

async fn count(s: &Session, filter: &str) -> usize {
    let page = s
        .query_json(&format!("SELECT Id FROM Contact WHERE {filter} LIMIT 2000"))
        .await;
    page["totalSize"].as_u64().unwrap() as usize
}

#[tokio::test]
async fn where_clauses_filter_like_salesforce() {
    let s = Session::start().await;
    let records = s.org.records("Contact");
    let expect = |f: &dyn Fn(&Value) -> bool| records.iter().filter(|r| f(r)).count();
    assert_eq!(
        count(&s, "Email != null").await,
        expect(&|r| !r["Email"].is_null())
    );
    assert_eq!(
        count(&s, "email = NULL").await,
        expect(&|r| r["Email"].is_null())
    );
    assert_eq!(
        count(&s, "Newsletter__c = true").await,
        expect(&|r| r["Newsletter__c"] == true)
    );
    assert_eq!(
        count(&s, "Score__c >= 50.5").await,
        expect(&|r| r["Score__c"].as_f64().unwrap() >= 50.5)
    );
    assert_eq!(
        count(&s, "Experience__c IN ('Junior', 'senior')").await,
        expect(&|r| r["Experience__c"] == "Junior" || r["Experience__c"] == "Senior")
    );
    assert_eq!(
        count(&s, "Experience__c NOT IN ('Junior')").await,
        expect(&|r| r["Experience__c"] != "Junior")
    );
    assert_eq!(
        count(&s, "LastName LIKE 'l%'").await,
        expect(&|r| r["LastName"].as_str().unwrap().starts_with('L'))
    );
    assert_eq!(
        count(
            &s,
            "(Newsletter__c = true OR Score__c < 10) AND NOT LastName = 'Turing'"
        )
        .await,
        expect(
            &|r| (r["Newsletter__c"] == true || r["Score__c"].as_f64().unwrap() < 10.0)
                && r["LastName"] != "Turing"
        )
    );
    assert_eq!(
        count(&s, "Birthdate < 1970-01-01").await,
        expect(&|r| r["Birthdate"].as_str().is_some_and(|d| d < "1970-01-01"))
    );
    assert_eq!(
        count(&s, "SystemModstamp > 2023-06-01T00:00:00Z").await,
        expect(&|r| r["SystemModstamp"].as_str().unwrap() > "2023-06-01T00:00:00.000+0000")
    );
    assert_eq!(
        count(&s, "LastName = 'O\\'Brien'").await,
        expect(&|r| r["LastName"] == "O'Brien")
    );
    assert_eq!(
        count(&s, "Industries__c INCLUDES ('Retail')").await,
        expect(&|r| r["Industries__c"]
            .as_str()
            .is_some_and(|v| v.split(';').any(|x| x == "Retail")))
    );
    assert!(count(&s, "Account.Industry = 'Banking'").await > 0);
}

#[tokio::test]
async fn order_by_sorts_on_several_keys_with_nulls_placed() {
    let s = Session::start().await;
    let page = s.query_json("SELECT Id, Email, LastName, Score__c FROM Contact ORDER BY Email DESC NULLS LAST, Id LIMIT 1000").await;
    let records = page["records"].as_array().unwrap();
    assert!(records.last().unwrap()["Email"].is_null());
    let emails: Vec<&str> = records.iter().filter_map(|r| r["Email"].as_str()).collect();
    assert!(emails
        .windows(2)
        .all(|w| w[0].to_lowercase() >= w[1].to_lowercase()));

    let page = s
        .query_json("SELECT Id, Email FROM Contact ORDER BY Email LIMIT 5")
        .await;
    assert!(
        page["records"][0]["Email"].is_null(),
        "nulls first by default"
    );
    assert_eq!(page["totalSize"], 5);

    let page = s
        .query_json(
            "SELECT LastName, Score__c FROM Contact ORDER BY LastName ASC, Score__c DESC LIMIT 50",
        )
        .await;
    let rows: Vec<(String, f64)> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["LastName"].as_str().unwrap().to_lowercase(),
                r["Score__c"].as_f64().unwrap(),
            )
        })
        .collect();
    assert!(rows
        .windows(2)
        .all(|w| w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 >= w[1].1)));
}

#[tokio::test]
async fn limit_and_offset_cut_the_same_order_as_the_whole_query() {
    let s = Session::start().await;
    let ids = |page: &Value| -> Vec<String> {
        page["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["Id"].as_str().unwrap().to_string())
            .collect()
    };
    // LastName repeats, so the window falls among ties: they keep the order
    // the whole query gives them.
    let whole = ids(&s
        .query_json("SELECT Id FROM Contact ORDER BY LastName LIMIT 2000")
        .await);
    assert!(whole.len() > 20);
    let window = ids(&s
        .query_json("SELECT Id FROM Contact ORDER BY LastName LIMIT 7 OFFSET 5")
        .await);
    assert_eq!(window, whole[5..12]);
    let first = ids(&s
        .query_json("SELECT Id FROM Contact ORDER BY LastName DESC LIMIT 1")
        .await);
    let mut reversed = ids(&s
        .query_json("SELECT Id FROM Contact ORDER BY LastName DESC LIMIT 2000")
        .await);
    reversed.truncate(1);
    assert_eq!(first, reversed);
}

#[tokio::test]
async fn query_all_sees_soft_deleted_rows() {
    let s = Session::start().await;
    let id = s.org.ids("Contact")[3].clone();
    s.org.soft_delete("Contact", &id);
    let soql = format!("SELECT Id, IsDeleted FROM Contact WHERE Id = '{id}'");
    assert_eq!(s.query_json(&soql).await["totalSize"], 0);
    let response = s
        .client
        .get(s.url(&format!("{V}/queryAll")))
        .query(&[("q", soql.as_str())])
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["totalSize"], 1);
    assert_eq!(page["records"][0]["IsDeleted"], true);
}

#[tokio::test]
async fn bad_queries_get_salesforce_errors() {
    let s = Session::start().await;
    let message = assert_sf_error(s.query("SELECT Id FROM Xyzzy").await, 400, "INVALID_TYPE").await;
    assert!(message.starts_with("SELECT Id FROM Xyzzy\n               ^\nERROR at Row:1:Column:16\nsObject type 'Xyzzy' is not supported"), "{message}");
    let message = assert_sf_error(
        s.query("SELECT Id, Foo FROM Account").await,
        400,
        "INVALID_FIELD",
    )
    .await;
    assert!(
        message.contains("No such column 'Foo' on entity 'Account'"),
        "{message}"
    );
    let message = assert_sf_error(
        s.query("SELECT Id FRM Contact").await,
        400,
        "MALFORMED_QUERY",
    )
    .await;
    assert!(message.contains("ERROR at Row:1:Column:11"), "{message}");
    assert_sf_error(
        s.query("SELECT Id FROM Contact WHERE SystemModstamp > '2024-01-01'")
            .await,
        400,
        "INVALID_FIELD",
    )
    .await;
    assert_sf_error(
        s.query("SELECT Id FROM Contact WHERE LastName = 'a\\x'")
            .await,
        400,
        "MALFORMED_QUERY",
    )
    .await;
    assert_sf_error(
        s.query("SELECT Id FROM Contact WHERE Id = 'nope'").await,
        400,
        "INVALID_QUERY_FILTER_OPERATOR",
    )
    .await;
}

#[tokio::test]
async fn stale_or_unknown_locators_are_refused() {
    let s = Session::start().await;
    s.org.set_page_size(400);
    let first = s.query_json("SELECT Id FROM Contact").await;
    let next = first["nextRecordsUrl"].as_str().unwrap().to_string();
    assert_eq!(s.get(&next).await.status(), 200);
    assert_eq!(
        s.get(&next).await.status(),
        200,
        "a page can be fetched again"
    );
    assert_sf_error(
        s.get(&format!("{V}/query/01gXX0000000000AAA-400")).await,
        400,
        "INVALID_QUERY_LOCATOR",
    )
    .await;
    s.org.advance_clock(std::time::Duration::from_secs(16 * 60));
    assert_sf_error(s.get(&next).await, 400, "INVALID_QUERY_LOCATOR").await;
}
