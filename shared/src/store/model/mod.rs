//! The records kept in the table, one module per entity (as the store's access patterns are).
//! Keys and index attributes are added by the store, so these are plain data; timestamps are
//! RFC 3339 text.

mod audit;
mod connection;
mod drive;
mod file_result;
mod scan;
mod subscription;

pub use audit::*;
pub use connection::*;
pub use drive::*;
pub use file_result::*;
pub use scan::*;
pub use subscription::*;
