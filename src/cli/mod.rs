//! The subcommands of `rp`.
pub mod args;
pub mod bounds;
pub mod certify;
pub mod compare;
pub mod data;
pub mod ape;
pub mod reproduce;
pub mod serve;
pub mod train;
pub mod verify;
