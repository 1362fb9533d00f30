//! Runnable examples live beside this file; run one with `cargo run --example NAME`.

// The README's code blocks are compiled and run as doctests of this crate.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
