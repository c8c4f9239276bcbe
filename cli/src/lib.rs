//! The `graphwatch` command line's library: the local stack (`graphwatch dev`), the report of
//! stored findings (`graphwatch report`) and what both read from `template.yaml`. The end-to-end
//! test drives the same stack.

pub mod dev;
pub mod report;
pub mod template;
