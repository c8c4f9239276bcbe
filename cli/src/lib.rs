//! The `graphwatch` command line's library. `graphwatch scan` needs only the privacy engine and
//! lives in the binary; what needs AWS sits behind features: `report` (stored findings, from
//! DynamoDB) and `dev` (the local stack, which the end-to-end test drives too), both default.

#[cfg(feature = "dev")]
pub mod dev;
#[cfg(feature = "report")]
pub mod dev_info;
#[cfg(feature = "report")]
pub mod report;
#[cfg(feature = "dev")]
pub mod template;
