//! The calendar client against local calendars speaking the real wire
//! protocol on 127.0.0.1 (features `client` and `local-calendar`): stamping
//! with a quorum, upgrading after a synthetic confirmation, verification,
//! and misbehaving or unreachable calendars.

use std::net::SocketAddr;
use std::time::Duration;

use anchor::client::{CalendarClient, ClientConfig, MAX_RESPONSE_LEN};
use anchor::local_calendar::{LocalCalendar, RunningCalendar, FIRST_HEIGHT};
use anchor::{Attestation, DetachedTimestamp, HeaderSet, Limit, OtsError};
use axum::routing::{get, post};
use axum::Router;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

fn digest() -> Vec<u8> {
    Sha256::digest(b"origin\n42\nroot-hash\n").to_vec()
}

async fn calendars(n: usize) -> Vec<RunningCalendar> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(LocalCalendar::spawn().await.expect("local calendar"));
    }
    out
}

fn config(urls: &[&str], min: usize) -> ClientConfig {
    let mut c = ClientConfig::new(urls);
    c.min_successes = min;
    c.timeout = Duration::from_secs(5);
    c
}

/// Serves `router` on 127.0.0.1:0 and returns its URL.
async fn serve_fake(router: Router) -> String {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    url
}

#[tokio::test]
async fn stamp_upgrade_and_verify_with_three_calendars() {
    let cals = calendars(3).await;
    let urls: Vec<&str> = cals.iter().map(|c| c.url.as_str()).collect();
    let client = CalendarClient::new(config(&urls, 2)).unwrap();

    let outcome = client.stamp(&digest()).await.unwrap();
    assert_eq!(outcome.accepted.len(), 3);
    assert!(outcome.failures.is_empty());
    let mut stamp = outcome.stamp;
    assert_eq!(stamp.digest, digest());

    // One pending attestation per calendar, each with a 44-byte commitment
    // the calendar knows about.
    let pending = stamp.pending_commitments().unwrap();
    assert_eq!(pending.len(), 3);
    for p in &pending {
        assert_eq!(p.commitment.len(), 44);
        assert!(urls.contains(&p.uri.as_str()));
    }
    for c in &cals {
        assert_eq!(c.calendar.pending_count(), 1);
    }
    // The stamp is a valid .ots file.
    let bytes = stamp.to_bytes().unwrap();
    assert_eq!(DetachedTimestamp::parse(&bytes).unwrap(), stamp);

    // Before confirmation every calendar says "not yet" (404).
    let early = client.upgrade(&mut stamp).await.unwrap();
    assert_eq!(early.not_yet.len(), 3);
    assert!(early.upgraded.is_empty() && early.failed.is_empty());
    assert_eq!(stamp.to_bytes().unwrap(), bytes);

    // Confirm on two calendars only.
    let mut headers = Vec::new();
    for (i, c) in cals.iter().take(2).enumerate() {
        let (height, header) = c
            .calendar
            .confirm(1_750_000_000 + i as u32)
            .unwrap()
            .unwrap();
        assert_eq!(height, FIRST_HEIGHT);
        headers.push((c.url.clone(), height, header));
    }
    let upgrade = client.upgrade(&mut stamp).await.unwrap();
    assert_eq!(upgrade.upgraded.len(), 2);
    assert_eq!(upgrade.not_yet.len(), 1);
    assert!(upgrade.failed.is_empty());
    assert!(stamp.is_complete().unwrap());

    // Each calendar's synthetic block verifies the stamp on its own.
    for (url, height, header) in &headers {
        let set = HeaderSet::from_headers([(*height, *header)]).unwrap();
        let report = stamp.verify_bitcoin(&set).unwrap();
        assert_eq!(report.verified.len(), 1, "{url}");
        assert_eq!(report.verified[0].time, header.time());
        // The other calendar's attestation at the same height fails with a
        // Merkle root mismatch: different blocks.
        assert_eq!(report.failed.len(), 1);
        assert!(matches!(
            report.failed[0].error,
            OtsError::MerkleRootMismatch { .. }
        ));
        // Pending attestations are kept after upgrading.
        assert_eq!(report.pending.len(), 3);
    }
    let reparsed = DetachedTimestamp::parse(&stamp.to_bytes().unwrap()).unwrap();
    assert_eq!(reparsed, stamp);

    for c in cals {
        c.stop().await.unwrap();
    }
}

#[tokio::test]
async fn many_commitments_share_one_block_and_headers_chain() {
    let cal = LocalCalendar::spawn().await.unwrap();
    let client = CalendarClient::new(config(&[&cal.url], 1)).unwrap();
    let mut stamps = Vec::new();
    for i in 0..5u8 {
        let d = Sha256::digest([i]).to_vec();
        stamps.push(client.stamp(&d).await.unwrap().stamp);
    }
    let (h1, _) = cal.calendar.confirm(1_000).unwrap().unwrap();
    // A second block for a later stamp links to the first.
    stamps.push(client.stamp(&digest()).await.unwrap().stamp);
    let (h2, _) = cal.calendar.confirm(2_000).unwrap().unwrap();
    assert_eq!(h2, h1 + 1);
    assert_eq!(cal.calendar.confirm(3_000).unwrap(), None);

    let headers = HeaderSet::from_headers(cal.calendar.headers()).unwrap();
    for (i, stamp) in stamps.iter_mut().enumerate() {
        let up = client.upgrade(stamp).await.unwrap();
        assert_eq!(up.upgraded.len(), 1);
        let report = stamp.verify_bitcoin(&headers).unwrap();
        assert_eq!(report.verified.len(), 1);
        let expected = if i < 5 { h1 } else { h2 };
        assert_eq!(report.verified[0].height, expected);
    }
    cal.stop().await.unwrap();
}

#[tokio::test]
async fn quorum_is_enforced_when_calendars_fail() {
    let good = LocalCalendar::spawn().await.unwrap();
    // A port with nothing listening: bind, note the address, close.
    let closed = {
        let l = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let garbage =
        serve_fake(Router::new().route("/digest", post(|| async { vec![0xffu8, 0x42] }))).await;
    let oversized = serve_fake(Router::new().route(
        "/digest",
        post(|| async { vec![0u8; MAX_RESPONSE_LEN + 1] }),
    ))
    .await;
    let error_status = serve_fake(Router::new().route(
        "/digest",
        post(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "busy") }),
    ))
    .await;

    let urls = [
        good.url.as_str(),
        &closed,
        &garbage,
        &oversized,
        &error_status,
    ];
    let client = CalendarClient::new(config(&urls, 2)).unwrap();
    match client.stamp(&digest()).await {
        Err(OtsError::NotEnoughCalendars {
            successes,
            required,
            failures,
        }) => {
            assert_eq!(successes, 1);
            assert_eq!(required, 2);
            assert_eq!(failures.len(), 4);
        }
        other => panic!("unexpected {other:?}"),
    }

    let client = CalendarClient::new(config(&urls, 1)).unwrap();
    let outcome = client.stamp(&digest()).await.unwrap();
    assert_eq!(outcome.accepted, vec![good.url.clone()]);
    let reason = |url: &str| {
        outcome
            .failures
            .iter()
            .find(|(u, _)| u == url)
            .map(|(_, e)| e.clone())
            .unwrap()
    };
    assert!(matches!(reason(&closed), OtsError::Calendar { .. }));
    assert!(matches!(
        reason(&garbage),
        OtsError::UnknownOp { .. } | OtsError::Truncated { .. }
    ));
    assert!(matches!(
        reason(&oversized),
        OtsError::LimitExceeded {
            limit: Limit::Response,
            ..
        }
    ));
    assert!(matches!(reason(&error_status), OtsError::Calendar { .. }));
    assert!(reason(&closed).is_retryable());
    good.stop().await.unwrap();
}

#[tokio::test]
async fn a_silent_calendar_times_out() {
    let silent = serve_fake(Router::new().route(
        "/digest",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "late"
        }),
    ))
    .await;
    let mut c = config(&[&silent], 1);
    c.timeout = Duration::from_millis(300);
    let client = CalendarClient::new(c).unwrap();
    let started = std::time::Instant::now();
    let err = client.stamp(&digest()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    match err {
        OtsError::NotEnoughCalendars { failures, .. } => {
            assert!(failures[0].contains("timed out"), "{failures:?}")
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn allow_list_guards_every_request() {
    // Submission calendars must be allowed.
    let mut c = ClientConfig::new(&["https://a.example"]);
    c.allowed = vec!["https://b.example".into()];
    c.min_successes = 1;
    assert!(matches!(
        CalendarClient::new(c),
        Err(OtsError::CalendarUrl { .. })
    ));
    // URLs must be http(s) and within the reference's URI characters.
    for bad in [
        "ftp://a.example",
        "https://a.example/?x=1",
        "https://user@a.example",
        "https://",
    ] {
        assert!(
            matches!(
                CalendarClient::new(config(&[bad], 1)),
                Err(OtsError::CalendarUrl { .. })
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        CalendarClient::new(config(&["https://a.example"], 2)),
        Err(OtsError::ClientConfig { .. })
    ));

    // A stamp naming a calendar outside the allow-list is not queried.
    let cal = LocalCalendar::spawn().await.unwrap();
    let client = CalendarClient::new(config(&[&cal.url], 1)).unwrap();
    let mut stamp = client.stamp(&digest()).await.unwrap().stamp;
    stamp
        .timestamp
        .add_attestation(Attestation::pending("http://127.0.0.1:9").unwrap());
    let up = client.upgrade(&mut stamp).await.unwrap();
    assert_eq!(up.not_allowed.len(), 1);
    assert_eq!(up.not_allowed[0].uri, "http://127.0.0.1:9");
    assert_eq!(up.not_yet.len(), 1);
    assert!(matches!(
        client.fetch("http://127.0.0.1:9", &[0; 32]).await,
        Err(OtsError::CalendarUrl { .. })
    ));
    cal.stop().await.unwrap();
}

#[tokio::test]
async fn a_hostile_upgrade_answer_is_rejected_and_leaves_the_stamp_unchanged() {
    // A fake calendar answering every GET with 300 sha256 operations: more
    // nesting than the 256-level limit allows.
    let fake =
        serve_fake(Router::new().route("/timestamp/{c}", get(|| async { vec![0x08u8; 300] })))
            .await;
    let client = CalendarClient::new(config(&[&fake], 1)).unwrap();
    let mut stamp = DetachedTimestamp::new(anchor::HashOp::Sha256, &digest()).unwrap();
    stamp
        .timestamp
        .add_attestation(Attestation::pending(&fake).unwrap());
    let before = stamp.clone();

    assert!(matches!(
        client.fetch(&fake, &digest()).await,
        Err(OtsError::LimitExceeded {
            limit: Limit::Depth,
            ..
        })
    ));
    let up = client.upgrade(&mut stamp).await.unwrap();
    assert_eq!(up.failed.len(), 1);
    assert!(up.upgraded.is_empty());
    assert_eq!(stamp, before);
}

#[tokio::test]
async fn header_source_serves_checked_headers_and_refuses_lies() {
    use anchor::header_source::HeaderSource;
    let cal = LocalCalendar::spawn().await.expect("local calendar");
    cal.calendar.submit(&digest()).unwrap();
    let (height, header) = cal
        .calendar
        .confirm(1_700_000_000)
        .unwrap()
        .expect("a block");
    let timeout = Duration::from_secs(5);

    // The calendar's Esplora-style routes give back exactly its synthetic header.
    let source = HeaderSource::new(&format!("{}/api/", cal.url), timeout).unwrap();
    assert_eq!(source.url(), format!("{}/api", cal.url));
    assert_eq!(source.header(height).await.unwrap(), header);
    let missing = source.header(height + 1).await.unwrap_err().to_string();
    assert!(missing.contains("status 404"), "{missing}");

    // An API naming one block and serving another block's header is refused, and so
    // is one whose answers are not what the protocol says.
    let mut other = *header.as_bytes();
    other[76] ^= 1; // another nonce: another block hash
    let other = hex::encode(other);
    let named = header.hash_display();
    let liar = serve_fake(
        Router::new()
            .route("/block-height/{h}", get(move || async move { named }))
            .route("/block/{hash}/header", get(move || async move { other })),
    )
    .await;
    let err = HeaderSource::new(&liar, timeout)
        .unwrap()
        .header(height)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("hashes to"), "{err}");
    let garbage =
        serve_fake(Router::new().route("/block-height/{h}", get(|| async { "x".repeat(600) })))
            .await;
    let err = HeaderSource::new(&garbage, timeout)
        .unwrap()
        .header(height)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("longer than 512 bytes"), "{err}");
    let short =
        serve_fake(Router::new().route("/block-height/{h}", get(|| async { "00ff" }))).await;
    let err = HeaderSource::new(&short, timeout)
        .unwrap()
        .header(height)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not 64 hex digits"), "{err}");
    assert!(HeaderSource::new("ftp://example.org/api", timeout).is_err());
    cal.stop().await.unwrap();
}
