//! The channel's idle timeout: with no new call for that long the channel goes IDLE and closes
//! its connections, a call still streaming on one keeps going, and the next call connects again.

use std::time::Duration;

use tern::client::ConnectivityState;
use tern::Channel;
use tern_tests::probe::probe_client::ProbeClient;
use tern_tests::probe::{CountRequest, EchoRequest};
use tern_tests::start_probe_server;

/// The channel's next state, waiting at most 20 s.
async fn next_state(channel: &Channel, from: ConnectivityState) -> ConnectivityState {
    tokio::time::timeout(Duration::from_secs(20), channel.wait_for_state_change(from))
        .await
        .expect("the state changed")
}

#[tokio::test]
async fn a_channel_goes_idle_without_calls_and_connects_again_for_the_next() {
    let addr = start_probe_server().await;
    let channel = Channel::builder(&format!("http://{addr}"))
        .unwrap()
        .idle_timeout(Some(Duration::from_millis(200)))
        .connect()
        .await
        .unwrap();
    let client = ProbeClient::new(channel.clone());
    let echo = || EchoRequest {
        message: "awake".into(),
        ..Default::default()
    };
    client.echo(echo()).await.unwrap();
    assert_eq!(channel.state(), ConnectivityState::Ready);

    // A stream that outlives the idle timeout keeps its connection.
    let mut stream = client
        .count(CountRequest {
            count: 0,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap().message, "0");

    assert_eq!(
        next_state(&channel, ConnectivityState::Ready).await,
        ConnectivityState::Idle
    );
    // Still streaming after the channel went idle.
    for _ in 0..5 {
        assert!(stream.message().await.unwrap().is_some());
    }
    drop(stream);

    // The next call wakes the channel.
    assert_eq!(
        client.echo(echo()).await.unwrap().get_ref().message,
        "awake"
    );
    assert_eq!(channel.state(), ConnectivityState::Ready);
}
