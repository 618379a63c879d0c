//! A simulated Salesforce org that speaks the REST API over loopback HTTP.
