//! sfsync keeps a local SQLite catalog in step with a Salesforce org.

pub mod allocator;
pub mod bulk;
pub mod catalog;
pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod describe;
pub mod exit;
pub mod hooks;
pub mod ids;
pub mod lock;
pub mod mapping;
pub mod output;
pub mod picklist;
pub mod reader;
pub mod salesforce;
pub mod serve;
pub mod soql;
pub mod status;
pub mod sync;
