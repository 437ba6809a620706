//! The outbound-address guard over real HTTP: mocks on loopback addresses are refused by
//! default, reached when their range is allowed, and a redirect from an allowed host to a
//! refused one is not followed. Every address used is on 127.0.0.0/8.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use ferry_engine::outbound::{AllowList, Blocked, Restricted, blocked_in, guard};

/// A mock on `ip` counting the requests it answered; `/redirect` sends to `redirect_to`.
async fn mock(ip: &str, redirect_to: Option<String>) -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = Router::new()
        .route(
            "/ok",
            get(move || {
                let hits = counted.clone();
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    "ok"
                }
            }),
        )
        .route(
            "/redirect",
            get(move || {
                let to = redirect_to.clone().unwrap_or_default();
                async move { (StatusCode::FOUND, [(header::LOCATION, to)]).into_response() }
            }),
        );
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, hits)
}

fn client(allow: &str) -> reqwest::Client {
    guard(reqwest::Client::builder(), AllowList::parse(allow).unwrap())
        .build()
        .unwrap()
}

async fn refusal(client: &reqwest::Client, url: &str) -> Blocked {
    let err = client.get(url).send().await.expect_err(url);
    blocked_in(&err)
        .unwrap_or_else(|| panic!("{url}: not refused by the guard: {err:?}"))
        .clone()
}

#[tokio::test]
async fn loopback_mock_is_refused_by_default_and_reached_when_allowed() {
    let (addr, hits) = mock("127.0.0.1", None).await;
    let url = format!("http://{addr}/ok");

    let blocked = refusal(&client(""), &url).await;
    assert_eq!(blocked.addr, addr.ip());
    assert_eq!(blocked.class, Restricted::Loopback);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "no request reached the mock"
    );

    let answer = client("127.0.0.1/32").get(&url).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn other_forms_of_loopback_are_refused_too() {
    let (addr, hits) = mock("127.0.0.1", None).await;
    let port = addr.port();
    let denied = client("");
    for url in [
        format!("http://2130706433:{port}/ok"),
        format!("http://0x7f.0.0.1:{port}/ok"),
        format!("http://[::ffff:127.0.0.1]:{port}/ok"),
    ] {
        let blocked = refusal(&denied, &url).await;
        assert_eq!(blocked.class, Restricted::Loopback, "{url}");
    }
    // A name: refused after resolution, naming the host.
    let blocked = refusal(&denied, &format!("http://localhost:{port}/ok")).await;
    assert_eq!(blocked.host, "localhost");
    assert!(blocked.to_string().contains("`localhost`"), "{blocked}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn redirect_from_an_allowed_host_to_a_refused_one_is_not_followed() {
    let (inner, inner_hits) = mock("127.0.0.2", None).await;
    let (front, _) = mock("127.0.0.1", Some(format!("http://{inner}/ok"))).await;

    let blocked = refusal(&client("127.0.0.1/32"), &format!("http://{front}/redirect")).await;
    assert_eq!(blocked.addr, inner.ip());
    assert_eq!(inner_hits.load(Ordering::SeqCst), 0);

    // With both allowed the redirect is followed.
    let answer = client("127.0.0.1/32,127.0.0.2/32")
        .get(format!("http://{front}/redirect"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(inner_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn redirect_to_a_refused_name_is_refused_at_resolution() {
    let (inner, inner_hits) = mock("127.0.0.1", None).await;
    let (front, _) = mock(
        "127.0.0.2",
        Some(format!("http://localhost:{}/ok", inner.port())),
    )
    .await;
    let blocked = refusal(&client("127.0.0.2/32"), &format!("http://{front}/redirect")).await;
    assert_eq!(blocked.host, "localhost");
    assert_eq!(inner_hits.load(Ordering::SeqCst), 0);
}
