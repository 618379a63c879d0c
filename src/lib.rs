//! sfsync keeps a local SQLite catalog in step with a Salesforce org.

pub mod catalog;
pub mod cli;
pub mod commands;
pub mod config;
pub mod exit;
pub mod hooks;
pub mod ids;
pub mod lock;
pub mod mapping;
pub mod output;
pub mod salesforce;
pub mod soql;
pub mod sync;
pub mod reader;
