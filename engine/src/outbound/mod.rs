//! The outbound-address guard: the HTTP client of user-configured connections refuses to reach
//! loopback, link-local (cloud metadata), private and other internal addresses, unless the
//! operator allows a range (`--allow-net`, `FERRY_ALLOW_NET`).
//!
//! A flow author chooses the URLs Ferry calls; without the guard a flow could read the cloud
//! metadata service or an internal admin page (server-side request forgery). The check runs at
//! three places: on IP literals before connecting, on every address a host name resolves to
//! (a custom resolver), and on every redirect target; the peer address of each new connection
//! is checked once more, so no path around the first three reaches a refused address.
//!
//! [`request_body`] builds the body of a request a run sends, so that the HTTP client does not
//! write it once the run's lease fence closed (a stalled worker's requests after a thaw).

mod address;
mod body;
mod client;

pub use address::{AllowList, AllowListError, Restricted, restricted};
pub use body::request_body;
pub use client::{Blocked, blocked_in, guard};
