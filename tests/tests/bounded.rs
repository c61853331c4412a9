//! Bounded streams and bounded data: a connection's streams are capped, a taxi's streams
//! are capped, the operators' pending list is paged.

use std::time::Duration;
use taxi_proto::v1 as pb;
use taxi_tests::*;

async fn open_stream(
    channel: Authed,
    taxi_id: &str,
) -> Result<tonic::Streaming<pb::StreamDispatchesResponse>, tonic::Status> {
    pb::driver_service_client::DriverServiceClient::new(channel)
        .stream_dispatches(pb::StreamDispatchesRequest {
            taxi_id: taxi_id.into(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

/// More streams than the limit on one connection: the extra one waits (the server holds
/// no more than the limit), and goes through once one of the others ends. Without the
/// limit all of them open at once.
#[tokio::test]
async fn a_connection_holds_at_most_its_stream_limit() {
    const LIMIT: u32 = 4;
    let mut config = fast_config();
    config.max_streams_per_connection = LIMIT;
    let city = TestCity::start_with(config).await;
    let mut fleet = city.fleet();
    let mut taxis = Vec::new();
    for i in 0..=LIMIT {
        taxis.push(
            register_taxi(&mut fleet, &format!("渝A{:05}", 30_000 + i))
                .await
                .taxi_id,
        );
    }
    // One connection of its own, so the other clients of the test do not share its streams.

    let channel = bearer(connect(city.server.addr).await, &city.principals.gateway);
    let mut open = Vec::new();
    for id in &taxis[..LIMIT as usize] {
        open.push(
            open_stream(channel.clone(), id)
                .await
                .expect("within the limit"),
        );
    }
    let extra = open_stream(channel.clone(), &taxis[LIMIT as usize]);
    tokio::pin!(extra);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut extra)
            .await
            .is_err(),
        "a stream beyond the connection's limit must wait"
    );
    drop(open.remove(0));
    let extra = tokio::time::timeout(Duration::from_secs(5), &mut extra)
        .await
        .expect("the waiting stream opens once another ends");
    assert!(extra.is_ok(), "{extra:?}");
}

/// A taxi's third stream replaces its oldest, which ends with ABORTED and says why;
/// without the cap every stream of a taxi id stays open.
#[tokio::test]
async fn a_taxi_keeps_at_most_two_streams_the_newest_replacing_the_oldest() {
    let city = TestCity::start_with(fast_config()).await;
    let taxi = register_taxi(&mut city.fleet(), "渝A31001").await.taxi_id;
    let mut first = open_stream(city.as_gateway(), &taxi).await.expect("first");
    let mut second = open_stream(city.as_gateway(), &taxi).await.expect("second");
    let _third = open_stream(city.as_gateway(), &taxi).await.expect("third");
    let ended = tokio::time::timeout(Duration::from_secs(5), first.message())
        .await
        .expect("the oldest stream ends");
    assert_status(ended, tonic::Code::Aborted, "replaced by a newer");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), second.message())
            .await
            .is_err(),
        "the second stream stays open"
    );
}

/// Walks `ListPendingOrders` page by page; every page reports the same total.
async fn pending_pages(city: &TestCity, size: u32) -> (Vec<String>, usize) {
    let mut dispatch = city.dispatch();
    let (mut ids, mut token, mut pages) = (Vec::new(), String::new(), 0);
    loop {
        let r = dispatch
            .list_pending_orders(pb::ListPendingOrdersRequest {
                page_size: size,
                page_token: token.clone(),
            })
            .await
            .expect("a page")
            .into_inner();
        assert!(r.orders.len() <= size as usize);
        pages += 1;
        ids.extend(
            r.orders
                .into_iter()
                .map(|p| p.order.expect("order").order_id),
        );
        if r.next_page_token.is_empty() {
            return (ids, pages);
        }
        token = r.next_page_token;
    }
}

/// More waiting orders than a page: the pages cover each exactly once, the queue in the
/// order dispatch takes it (older passengers first), then the orders waiting to search
/// again (which share one retry tick, so their page boundary falls among equal scores).
#[tokio::test]
async fn pending_orders_come_in_pages_in_queue_order() {
    // No workers in the city: the queue stays as booked. A year between searches: an order
    // that found no taxi stays waiting to search again for the whole test.
    let mut config = fast_config();
    config.settings.dispatch_workers = 0;
    config.settings.retry_interval = Duration::from_secs(365 * 24 * 3600);
    let city = TestCity::start_with(config.clone()).await;
    // First, three orders find no taxi (a worker of a second process tries them), ...
    let mut with_worker = config.clone();
    with_worker.settings.dispatch_workers = 1;
    let helper = TestServer::start(&city.redis.url(), with_worker, city.clock.clone()).await;
    let mut retrying = Vec::new();
    for i in 0..3 {
        retrying.push(
            book_at(
                &city,
                &format!("1380013{:04}", 100 + i),
                north_of_centre(100.0),
            )
            .await
            .order_id,
        );
        city.advance(Duration::from_millis(10));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while city.store.queued_count().await.unwrap() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "orders never left the queue"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    helper.stop().await;
    // ... then seven are queued: older passengers' go first.
    let (mut elderly, mut others) = (Vec::new(), Vec::new());
    for i in 0..7 {
        let phone = format!("1390013{:04}", 200 + i);
        if i % 3 == 1 {
            elderly_caller(&city, &phone).await;
            elderly.push(
                book_at(&city, &phone, north_of_centre(100.0))
                    .await
                    .order_id,
            );
        } else {
            others.push(
                book_at(&city, &phone, north_of_centre(100.0))
                    .await
                    .order_id,
            );
        }
        city.advance(Duration::from_millis(10));
    }
    assert_eq!(waiting(&city).await, 10);
    let mut queue = elderly.clone();
    queue.extend(others);
    for size in [2, 3, 10] {
        let (ids, pages) = pending_pages(&city, size).await;
        assert_eq!(ids.len(), 10, "page size {size}: {ids:?}");
        assert_eq!(
            ids[..7],
            queue[..],
            "page size {size}: the queue in dispatch order"
        );
        let mut tail = ids[7..].to_vec();
        tail.sort();
        retrying.sort();
        assert_eq!(
            tail, retrying,
            "page size {size}: then those waiting to retry"
        );
        assert_eq!(pages, 10usize.div_ceil(size as usize), "page size {size}");
    }
    let first = city
        .dispatch()
        .list_pending_orders(pb::ListPendingOrdersRequest {
            page_size: 4,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.total, 10);
}

#[tokio::test]
async fn bad_pending_page_size_or_token_names_the_field() {
    let city = TestCity::start_with(fast_config()).await;
    let mut dispatch = city.dispatch();
    let ask = |page_size: u32, page_token: &str| pb::ListPendingOrdersRequest {
        page_size,
        page_token: page_token.into(),
    };
    assert_status(
        dispatch.list_pending_orders(ask(501, "")).await,
        tonic::Code::InvalidArgument,
        "page_size",
    );
    for token in [
        "garbage",
        "q:18446744073709551615:O1",
        "q:12:",
        "z:12:O1",
        "q:12:O 1",
    ] {
        assert_status(
            dispatch.list_pending_orders(ask(10, token)).await,
            tonic::Code::InvalidArgument,
            "page_token",
        );
    }
}
