//! Re-keying streams through internal topics, for rules whose input
//! topics are not split by their key (see [`super::layout`]): the input
//! topics' tasks forward ([`forward`]), the repartitioned tasks merge what
//! their upstream tasks sent ([`merge`]); [`record`] is what travels.

pub mod forward;
pub mod merge;
pub mod record;

pub use forward::Forwarder;
pub use merge::Upstreams;
