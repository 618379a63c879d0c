//! sfsync keeps a local SQLite catalog in step with a Salesforce org.
