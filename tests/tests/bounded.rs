//! Bounded streams and bounded data: a connection's streams are capped, a taxi's streams
//! are capped, the operators' pending list is paged.

use std::time::Duration;
use taxi_proto::v1 as pb;
use taxi_tests::*;

async fn open_stream(
    channel: tonic::transport::Channel,
    taxi_id: &str,
) -> Result<tonic::Streaming<pb::StreamDispatchesResponse>, tonic::Status> {
    pb::driver_service_client::DriverServiceClient::new(channel)
        .stream_dispatches(pb::StreamDispatchesRequest {
            taxi_id: taxi_id.into(),
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
    let channel = connect(city.server.addr).await;
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
    let mut first = open_stream(city.channel(), &taxi).await.expect("first");
    let mut second = open_stream(city.channel(), &taxi).await.expect("second");
    let _third = open_stream(city.channel(), &taxi).await.expect("third");
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
