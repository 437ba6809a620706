//! The guard inside a `reqwest::Client`: a resolver that refuses internal answers, a redirect
//! policy that refuses internal targets, and a connector layer that refuses IP literals before
//! connecting and checks every new connection's peer address.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::{Connection, HttpInfo};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tower_layer::Layer;
use tower_service::Service;

use super::address::{AllowList, Restricted};

type BoxError = Box<dyn StdError + Send + Sync>;

/// Redirects followed before giving up (reqwest's default).
const MAX_REDIRECTS: usize = 10;

/// A request refused by the guard. Connectors turn it into a non-retryable error: retrying
/// cannot make the address public.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The host as the URL named it (a name or an address).
    pub host: String,
    /// The address it would have reached.
    pub addr: IpAddr,
    /// Why that address is refused.
    pub class: Restricted,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host == self.addr.to_string() {
            write!(f, "refused to connect to {}", self.addr)?;
        } else {
            write!(f, "refused to connect to `{}` ({})", self.host, self.addr)?;
        }
        write!(
            f,
            ": {} address; an operator can allow it with --allow-net or FERRY_ALLOW_NET",
            self.class
        )
    }
}

impl StdError for Blocked {}

/// The guard's refusal somewhere in `error`'s source chain, if it is one.
pub fn blocked_in<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a Blocked> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(blocked) = e.downcast_ref::<Blocked>() {
            return Some(blocked);
        }
        next = e.source();
    }
    None
}

/// Adds the guard to a client builder. System proxies are switched off: through a proxy the
/// client would only see the proxy's address, and the guard would check nothing.
pub fn guard(builder: reqwest::ClientBuilder, allow: AllowList) -> reqwest::ClientBuilder {
    let allow = Arc::new(allow);
    builder
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver {
            allow: allow.clone(),
        }))
        .redirect(redirect_policy(allow.clone()))
        .connector_layer(GuardLayer { allow })
}

fn refuse(allow: &AllowList, host: &str, addr: IpAddr) -> Result<(), Blocked> {
    allow.check(addr).map_err(|class| Blocked {
        host: host.to_string(),
        addr,
        class,
    })
}

/// Resolves with the system resolver and refuses the name when any of its addresses is
/// internal (a name that answers both public and internal addresses is a rebinding trick).
struct GuardedResolver {
    allow: Arc<AllowList>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for addr in &addrs {
                refuse(&allow, &host, addr.ip())?;
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

fn redirect_policy(allow: Arc<AllowList>) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        let literal = match attempt.url().host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            // Names meet the resolver when the redirect is followed.
            _ => None,
        };
        if let Some(addr) = literal
            && let Err(blocked) = refuse(&allow, &addr.to_string(), addr)
        {
            return attempt.error(blocked);
        }
        attempt.follow()
    })
}

/// The connector layer: IP literals never reach the resolver, so they are checked here.
#[derive(Clone)]
struct GuardLayer {
    allow: Arc<AllowList>,
}

impl<S> Layer<S> for GuardLayer {
    type Service = GuardService<S>;
    fn layer(&self, inner: S) -> GuardService<S> {
        GuardService {
            inner,
            allow: self.allow.clone(),
        }
    }
}

#[derive(Clone)]
struct GuardService<S> {
    inner: S,
    allow: Arc<AllowList>,
}

/// The address of an IP-literal destination. reqwest hands connector layers the destination in
/// a type whose only public face is `Debug` (`Unnameable(http://10.0.0.1/)`); when that form
/// changes this finds nothing and the peer check after connecting still refuses.
fn literal_destination(debug: &str) -> Option<IpAddr> {
    let uri = debug.strip_prefix("Unnameable(")?.strip_suffix(')')?;
    match url::Url::parse(uri).ok()?.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

impl<S, R> Service<R> for GuardService<S>
where
    S: Service<R, Error = BoxError>,
    S::Future: Send + 'static,
    S::Response: Connection + Send + 'static,
    R: fmt::Debug,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, dst: R) -> Self::Future {
        if let Some(addr) = literal_destination(&format!("{dst:?}"))
            && let Err(blocked) = refuse(&self.allow, &addr.to_string(), addr)
        {
            return Box::pin(std::future::ready(Err(Box::new(blocked) as BoxError)));
        }
        let allow = self.allow.clone();
        let connecting = self.inner.call(dst);
        Box::pin(async move {
            let conn = connecting.await?;
            let mut extras = http::Extensions::new();
            conn.connected().get_extras(&mut extras);
            if let Some(info) = extras.get::<HttpInfo>() {
                let addr = info.remote_addr().ip();
                // Dropping `conn` closes it before a byte of the request is written.
                refuse(&allow, &addr.to_string(), addr)?;
            }
            Ok(conn)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_destinations_are_read_from_the_debug_form() {
        assert_eq!(
            literal_destination("Unnameable(http://10.0.0.1:8080/x)"),
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            literal_destination("Unnameable(https://[::ffff:a9fe:a9fe]/)"),
            Some("::ffff:169.254.169.254".parse().unwrap())
        );
        assert_eq!(
            literal_destination("Unnameable(https://example.com/)"),
            None
        );
        assert_eq!(literal_destination("Other(x)"), None);
    }

    #[test]
    fn refusal_names_host_address_and_how_to_allow() {
        let b = Blocked {
            host: "metadata.internal".into(),
            addr: "169.254.169.254".parse().unwrap(),
            class: Restricted::LinkLocal,
        };
        let text = b.to_string();
        assert!(
            text.contains("`metadata.internal` (169.254.169.254)"),
            "{text}"
        );
        assert!(text.contains("link-local"), "{text}");
        assert!(text.contains("--allow-net"), "{text}");
        let wrapped: Box<dyn StdError + Send + Sync> = Box::new(b.clone());
        assert_eq!(blocked_in(wrapped.as_ref()), Some(&b));
    }
}
