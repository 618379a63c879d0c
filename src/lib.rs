//! sfsync keeps a local SQLite catalog in step with a Salesforce org.

pub mod catalog;
pub mod config;
pub mod ids;
pub mod mapping;
pub mod soql;
