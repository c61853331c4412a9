//! Two cities on one Redis (a cluster in the cluster tier): each city's keys share one
//! hash tag, so each city's scripts run in one slot, and the cities never see each other.

use std::time::Duration;
use taxi_domain::geo::City;
use taxi_proto::v1 as pb;
use taxi_store::Keys;
use taxi_tests::*;

#[tokio::test]
async fn two_cities_share_a_redis_and_dispatch_apart() {
    let redis = TestRedis::start();
    if let TestRedis::Cluster(cluster) = &redis {
        let a = cluster.owner_port(Keys::new("500100").prefix()).unwrap();
        let b = cluster.owner_port(Keys::new("110100").prefix()).unwrap();
        assert_ne!(a, b, "the two cities should live on different masters");
    }
    assert_ne!(Keys::new("500100").slot(), Keys::new("110100").slot());
    let url = redis.url();
    let chongqing = TestCity::start_on(redis, fast_config()).await;
    let mut beijing_config = fast_config();
    beijing_config.settings.city = City::builtin("110100").expect("Beijing is built in");
    let beijing = TestServer::start(&url, beijing_config, chongqing.clock.clone()).await;
    let beijing_channel = connect(beijing.addr).await;
    let beijing_principals = principals(&beijing_store(&url), beijing_channel.clone()).await;
    let beijing_channel = bearer(beijing_channel, &beijing_principals.supervisor);

    // A taxi and an order in Chongqing.
    let mut cq_taxi = driver_at(&chongqing, "渝A50001", north_of_centre(100.0)).await;
    let cq_order = book_at(&chongqing, "13800005001", north_of_centre(0.0)).await;
    assert_eq!(
        cq_taxi.offer(Duration::from_secs(5)).await.order_id,
        cq_order.order_id
    );

    // Beijing knows neither: the same ids are unknown there.
    let mut bj_fleet = pb::fleet_service_client::FleetServiceClient::new(beijing_channel.clone());
    let err = bj_fleet
        .get_taxi(pb::GetTaxiRequest {
            taxi_id: cq_taxi.taxi_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let mut bj_hotline = pb::hotline_service_client::HotlineServiceClient::new(beijing_channel);
    let err = bj_hotline
        .get_order(pb::GetOrderRequest {
            order_id: cq_order.order_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let stats = beijing_stats(&url).await;
    assert_eq!(stats, 0, "Beijing counted Chongqing's order");
    beijing.stop().await;
}

fn beijing_store(url: &str) -> taxi_store::Store {
    taxi_store::Store::connect(taxi_store::StoreConfig::new(url, "110100")).unwrap()
}

async fn beijing_stats(url: &str) -> u64 {
    let store = taxi_store::Store::connect(taxi_store::StoreConfig::new(url, "110100")).unwrap();
    store.order_count().await.unwrap()
}
