//! Integration suite: every documented behaviour of the emulator, exercised over HTTP.

mod batch;
mod cli;
mod common;
mod drive;
mod identity;
mod subscriptions;
