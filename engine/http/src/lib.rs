//! eddy's HTTP source: producers POST events, as CloudEvents (the HTTP
//! protocol binding: binary, structured and batched modes) or as plain JSON
//! and JSON lines, and eddy answers the way a Knative sink must.
//!
//! A `202 Accepted` means the event survives a crash: every request's
//! events are appended to a write-ahead log ([`wal`]) and synced before the
//! answer, and the job reads its input from that log, not from the request.
//! A checkpoint records how far the job has read; the log is truncated
//! behind it, and a restarted job replays the log from there.
//!
//! ```text
//!  POST ─▶ server ─▶ binding (events out of the request) ─▶ check ─▶ Wal::append (fsync) ─▶ 202
//!                                                                      │
//!                                      job ◀── WalReader (from the checkpoint's position)
//! ```
//!
//! The crate knows nothing of eddy's rules: what an acceptable event is, the
//! caller says with a [`Check`] per route.

pub mod auth;
pub mod binding;
pub mod server;
pub mod wal;

pub use binding::{Envelope, Refusal, BAD_ENVELOPE, MALFORMED_JSON};
pub use server::{Answered, Check, HttpServer, Ready, Route, ServerSettings};
pub use wal::{Record, Wal, WalError, WalReader, WalWriter};
