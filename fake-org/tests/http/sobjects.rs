//! Retrieve, describe, and the `updated/` and `deleted/` endpoints.

use serde_json::Value;
use time::macros::datetime;

use crate::common::{assert_sf_error, Session, V};

#[tokio::test]
async fn retrieve_returns_the_record_or_not_found() {
    let s = Session::start().await;
    let id = s.org.ids("Contact")[0].clone();
    let record: Value = s
        .get(&format!("{V}/sobjects/Contact/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        record.as_object().unwrap().keys().next().unwrap(),
        "attributes"
    );
    assert_eq!(record["Id"], id);
    assert!(record.get("Experience__c").is_some() && record.get("MailingAddress").is_some());

    let record: Value = s
        .get(&format!("{V}/sobjects/Contact/{id}?fields=Id,LastName"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(record.as_object().unwrap().len(), 3);

    let id15 = &id[..15];
    assert_eq!(
        s.get(&format!("{V}/sobjects/contact/{id15}"))
            .await
            .status(),
        200
    );
    assert_sf_error(
        s.get(&format!("{V}/sobjects/Contact/{id}?fields=Nope"))
            .await,
        400,
        "INVALID_FIELD",
    )
    .await;
    let missing = format!("{V}/sobjects/Contact/003000000000000AAA");
    assert_sf_error(s.get(&missing).await, 404, "NOT_FOUND").await;
    s.org.soft_delete("Contact", &id);
    assert_sf_error(
        s.get(&format!("{V}/sobjects/Contact/{id}")).await,
        404,
        "ENTITY_IS_DELETED",
    )
    .await;
}

#[tokio::test]
async fn describe_serves_the_recorded_body_with_custom_fields() {
    let s = Session::start().await;
    let describe: Value = s
        .get(&format!("{V}/sobjects/Contact/describe"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(describe["keyPrefix"], "003");
    let fields = describe["fields"].as_array().unwrap();
    let field = |name: &str| fields.iter().find(|f| f["name"] == name).unwrap().clone();
    let experience = field("Experience__c");
    assert_eq!(experience["restrictedPicklist"], true);
    assert!(experience["picklistValues"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["active"] == false));
    let specialty = field("Specialty__c");
    assert_eq!(specialty["dependentPicklist"], true);
    assert_eq!(specialty["controllerName"], "Experience__c");
    assert!(specialty["picklistValues"][0]["validFor"].is_string());
    assert_eq!(field("Industries__c")["type"], "multipicklist");
    assert_eq!(field("Score_Band__c")["calculated"], true);
    assert_eq!(field("AccountId")["relationshipName"], "Account");
    let children = describe["childRelationships"].as_array().unwrap();
    assert!(children
        .iter()
        .any(|c| c["relationshipName"] == "OpportunityContactRoles"));
    assert!(describe["urls"]["describe"]
        .as_str()
        .unwrap()
        .starts_with("/services/data/v62.0/"));

    let opportunity: Value = s
        .get(&format!("{V}/sobjects/Opportunity/describe"))
        .await
        .json()
        .await
        .unwrap();
    let stage = opportunity["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "StageName")
        .unwrap()
        .clone();
    assert_eq!(stage["restrictedPicklist"], true);
    assert_sf_error(
        s.get(&format!("{V}/sobjects/Xyzzy/describe")).await,
        404,
        "NOT_FOUND",
    )
    .await;
    let global: Value = s.get(&format!("{V}/sobjects")).await.json().await.unwrap();
    assert_eq!(global["sobjects"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn updated_and_deleted_report_changes_in_a_window() {
    let s = Session::start().await;
    s.org.set_clock(datetime!(2024-05-06 10:00:00 UTC));
    let ids = s.org.ids("Contact");
    s.org.update(
        "Contact",
        &ids[0],
        serde_json::json!({"LastName": "Changed"}),
    );
    s.org.soft_delete("Contact", &ids[1]);
    s.org.hard_delete("Contact", &ids[2]);
    s.org.advance_clock(std::time::Duration::from_secs(3600));

    let window = "start=2024-05-06T09:00:00%2B00:00&end=2024-05-06T12:00:00Z";
    let updated: Value = s
        .get(&format!("{V}/sobjects/Contact/updated/?{window}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(updated["ids"], serde_json::json!([ids[0]]));
    assert_eq!(updated["latestDateCovered"], "2024-05-06T11:00:00.000+0000");

    let deleted: Value = s
        .get(&format!("{V}/sobjects/Contact/deleted/?{window}"))
        .await
        .json()
        .await
        .unwrap();
    let list = deleted["deletedRecords"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], ids[1]);
    assert_eq!(list[0]["deletedDate"], "2024-05-06T10:00:00.000+0000");
    assert_eq!(
        deleted["earliestDateAvailable"],
        "2024-04-21T11:00:00.000+0000"
    );

    let old = "start=2024-01-01T00:00:00Z&end=2024-05-06T12:00:00Z";
    assert_sf_error(
        s.get(&format!("{V}/sobjects/Contact/updated/?{old}")).await,
        400,
        "INVALID_REPLICATION_DATE",
    )
    .await;
    s.org.empty_recycle_bin();
    let deleted: Value = s
        .get(&format!("{V}/sobjects/Contact/deleted/?{window}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(deleted["deletedRecords"].as_array().unwrap().len(), 0);
    assert_eq!(
        deleted["earliestDateAvailable"],
        "2024-05-06T11:00:00.000+0000"
    );
}
