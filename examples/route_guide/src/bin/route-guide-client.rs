//! The route guide's client: calls each of the four methods once and prints what came back, as
//! the other implementations' route guide clients do.

use std::time::Duration;

use clap::Parser;
use route_guide::routeguide::route_guide_client::RouteGuideClient;
use route_guide::routeguide::{Point, Rectangle, RouteNote};
use route_guide::FEATURES;

#[derive(Parser)]
#[command(about = "Calls gRPC's route guide example")]
struct Args {
    /// The server to call.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    addr: String,
}

fn point(latitude: i32, longitude: i32) -> Point {
    Point {
        latitude,
        longitude,
    }
}

fn show(point: &Option<Point>) -> String {
    match point {
        Some(p) => format!(
            "({:.4}, {:.4})",
            p.latitude as f64 / 1e7,
            p.longitude as f64 / 1e7
        ),
        None => "(nowhere)".to_owned(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let client = RouteGuideClient::connect(&args.addr).await?;

    // Unary: a point with a feature, and one without.
    for (latitude, longitude) in [(FEATURES[4].1, FEATURES[4].2), (0, 0)] {
        let feature = client
            .get_feature(point(latitude, longitude))
            .await?
            .into_inner();
        match feature.name.as_str() {
            "" => println!("GetFeature: no feature at {}", show(&feature.location)),
            name => println!("GetFeature: {name} at {}", show(&feature.location)),
        }
    }

    // Server streaming: every feature in Manhattan south of 42nd Street.
    let rectangle = Rectangle {
        lo: Some(point(406_800_000, -740_500_000)),
        hi: Some(point(407_530_000, -739_700_000)),
    };
    let mut features = client.list_features(rectangle).await?.into_inner();
    while let Some(feature) = features.message().await? {
        println!(
            "ListFeatures: {} at {}",
            feature.name,
            show(&feature.location)
        );
    }

    // Client streaming: a walk past every known feature, north to south, a point at a time.
    let (points, route) = tokio::sync::mpsc::channel(4);
    let walk = tokio::spawn(async move {
        let mut by_latitude: Vec<_> = FEATURES.to_vec();
        by_latitude.sort_by_key(|&(_, latitude, _)| std::cmp::Reverse(latitude));
        for (_, latitude, longitude) in by_latitude {
            if points.send(point(latitude, longitude)).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let summary = client
        .record_route(tokio_stream::wrappers::ReceiverStream::new(route))
        .await?
        .into_inner();
    walk.await?;
    println!(
        "RecordRoute: {} points, {} features, {} metres, {} s",
        summary.point_count, summary.feature_count, summary.distance, summary.elapsed_time
    );

    // Bidirectional streaming: notes at two points; each reply is a note left there before.
    let here = point(FEATURES[0].1, FEATURES[0].2);
    let there = point(FEATURES[1].1, FEATURES[1].2);
    let notes: Vec<RouteNote> = [
        (&here, "first message"),
        (&there, "second message"),
        (&here, "third message"),
        (&there, "fourth message"),
    ]
    .into_iter()
    .map(|(at, message)| RouteNote {
        location: Some(*at),
        message: message.to_owned(),
    })
    .collect();
    let mut replies = client
        .route_chat(tokio_stream::iter(notes))
        .await?
        .into_inner();
    while let Some(note) = replies.message().await? {
        println!(
            "RouteChat: got {:?} at {}",
            note.message,
            show(&note.location)
        );
    }
    Ok(())
}
