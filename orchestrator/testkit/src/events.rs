//! What the services publish, read back: every event EventService lists, and a broker
//! consumer's catch-up to it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use hrmesh_mesh::testing::{self, broker::Consumer};
use hrmesh_proto::events as epb;
use hrmesh_proto::events::event_service_client::EventServiceClient;

/// Every event a service's EventService lists, oldest first.
pub async fn listed(url: &str) -> Vec<epb::Event> {
    let mut client = EventServiceClient::new(testing::admin_channel(url));
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page = client
            .list_events(epb::ListEventsRequest {
                after_position: after,
                page_size: 500,
                subject: String::new(),
            })
            .await
            .expect("list events")
            .into_inner();
        if page.events.is_empty() {
            return events;
        }
        after = page.next_position;
        events.extend(page.events);
    }
}

/// Waits (at most 90 s) until `urls` list `count` events and the consumer holds exactly those;
/// panics with the difference otherwise.
pub async fn until_received_as_listed(
    consumer: &mut Consumer,
    urls: &[String],
    count: usize,
) -> Vec<epb::Event> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let mut listed_events = Vec::new();
        for url in urls {
            listed_events.extend(listed(url).await);
        }
        let expected: BTreeSet<String> = listed_events.iter().map(|e| e.id.clone()).collect();
        if consumer
            .until(Duration::from_millis(500), |c| c.ids() == expected)
            .await
            && expected.len() >= count
        {
            return listed_events;
        }
        if tokio::time::Instant::now() >= deadline {
            let received = consumer.ids();
            panic!(
                "{} listed of {count}; {} listed but not received, {} received but not listed",
                expected.len(),
                expected.difference(&received).count(),
                received.difference(&expected).count()
            );
        }
    }
}

/// Per subject, the event ids in the order they first arrived equal the order they were listed
/// (committed): one aggregate's events are published in order, across outages too.
pub fn assert_arrived_in_commit_order(consumer: &Consumer, listed_events: &[epb::Event]) {
    let mut listed_order: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for event in listed_events {
        listed_order
            .entry(event.subject.as_str())
            .or_default()
            .push(event.id.as_str());
    }
    let mut arrived_order: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for event in &consumer.events {
        arrived_order
            .entry(event.attributes["subject"].as_str())
            .or_default()
            .push(event.attributes["id"].as_str());
    }
    assert_eq!(arrived_order, listed_order);
}
