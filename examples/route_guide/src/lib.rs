//! gRPC's route guide on Tern: the generated code, a small map of features, and the service,
//! with one method of each kind — unary `GetFeature`, server-streaming `ListFeatures`,
//! client-streaming `RecordRoute` and bidirectional `RouteChat`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tern::{Request, Response, Status, Streaming};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;

/// The `routeguide` proto package: messages, the `RouteGuide` server trait and client.
#[allow(missing_docs, unreachable_pub)]
pub mod routeguide {
    tern::include_proto!("routeguide");
}

/// The descriptors of route_guide.proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tern::include_descriptor_set!();

use routeguide::route_guide_server::RouteGuide;
use routeguide::{Feature, Point, Rectangle, RouteNote, RouteSummary};

/// Degrees are carried times 10^7.
const E7: f64 = 1e7;

/// The map the server knows: New York landmarks, at their coordinates in E7.
pub const FEATURES: &[(&str, i32, i32)] = &[
    (
        "Statue of Liberty, Liberty Island, NY",
        406_892_000,
        -740_445_000,
    ),
    (
        "One World Trade Center, New York, NY",
        407_127_000,
        -740_134_000,
    ),
    ("Brooklyn Bridge, New York, NY", 407_061_000, -739_969_000),
    ("Flatiron Building, New York, NY", 407_411_000, -739_897_000),
    (
        "Empire State Building, New York, NY",
        407_484_000,
        -739_857_000,
    ),
    (
        "Grand Central Terminal, New York, NY",
        407_527_000,
        -739_772_000,
    ),
    ("Times Square, New York, NY", 407_580_000, -739_855_000),
    (
        "The Metropolitan Museum of Art, New York, NY",
        407_794_000,
        -739_632_000,
    ),
    ("Central Park, New York, NY", 407_829_000, -739_654_000),
    ("Yankee Stadium, Bronx, NY", 408_296_000, -739_262_000),
    ("Prospect Park, Brooklyn, NY", 406_602_000, -739_690_000),
    ("Coney Island, Brooklyn, NY", 405_755_000, -739_707_000),
];

/// The features of [`FEATURES`] as messages.
pub fn features() -> Vec<Feature> {
    FEATURES
        .iter()
        .map(|&(name, latitude, longitude)| Feature {
            name: name.to_owned(),
            location: Some(Point {
                latitude,
                longitude,
            }),
        })
        .collect()
}

/// The notes left at each point (latitude, longitude), shared by every RouteChat.
type Notes = Arc<Mutex<HashMap<(i32, i32), Vec<RouteNote>>>>;

/// Serves the route guide from a list of features.
#[derive(Debug)]
pub struct RouteGuideService {
    features: Arc<Vec<Feature>>,
    notes: Notes,
}

impl RouteGuideService {
    /// A route guide for these features.
    pub fn new(features: Vec<Feature>) -> RouteGuideService {
        RouteGuideService {
            features: Arc::new(features),
            notes: Arc::default(),
        }
    }

    fn feature_at(&self, point: &Point) -> Option<&Feature> {
        self.features
            .iter()
            .find(|feature| feature.location.as_ref() == Some(point))
    }
}

/// Latitude and longitude within ±90 and ±180 degrees.
fn check(point: &Point) -> Result<(), Status> {
    let valid = (-900_000_000..=900_000_000).contains(&point.latitude)
        && (-1_800_000_000..=1_800_000_000).contains(&point.longitude);
    if valid {
        Ok(())
    } else {
        Err(Status::invalid_argument(format!(
            "({}, {}) is not a point on Earth: latitude and longitude are degrees times 10^7, \
             within ±90 and ±180 degrees",
            point.latitude, point.longitude
        )))
    }
}

fn in_rectangle(point: &Point, rectangle: &Rectangle) -> bool {
    let (Some(lo), Some(hi)) = (&rectangle.lo, &rectangle.hi) else {
        return false;
    };
    let (south, north) = (lo.latitude.min(hi.latitude), lo.latitude.max(hi.latitude));
    let (west, east) = (
        lo.longitude.min(hi.longitude),
        lo.longitude.max(hi.longitude),
    );
    (south..=north).contains(&point.latitude) && (west..=east).contains(&point.longitude)
}

/// The great-circle distance between two points in metres (the haversine formula).
pub fn distance(from: &Point, to: &Point) -> f64 {
    const EARTH_RADIUS: f64 = 6_371_000.0;
    let (lat1, lat2) = (
        (f64::from(from.latitude) / E7).to_radians(),
        (f64::from(to.latitude) / E7).to_radians(),
    );
    let d_lat = lat2 - lat1;
    let d_lon = (f64::from(to.longitude - from.longitude) / E7).to_radians();
    let a = (d_lat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (d_lon / 2.0).sin().powi(2);
    EARTH_RADIUS * 2.0 * a.sqrt().atan2((1.0 - a).sqrt())
}

impl RouteGuide for RouteGuideService {
    async fn get_feature(&self, request: Request<Point>) -> Result<Response<Feature>, Status> {
        let point = request.into_inner();
        check(&point)?;
        let feature = match self.feature_at(&point) {
            Some(feature) => feature.clone(),
            // Nothing known here: a feature with no name, as the other route guides answer.
            None => Feature {
                name: String::new(),
                location: Some(point),
            },
        };
        Ok(Response::new(feature))
    }

    async fn list_features(
        &self,
        request: Request<Rectangle>,
    ) -> Result<Response<impl Stream<Item = Result<Feature, Status>> + Send>, Status> {
        let rectangle = request.into_inner();
        let found: Vec<Result<Feature, Status>> = self
            .features
            .iter()
            .filter(|feature| {
                feature
                    .location
                    .as_ref()
                    .is_some_and(|point| in_rectangle(point, &rectangle))
            })
            .cloned()
            .map(Ok)
            .collect();
        Ok(Response::new(tokio_stream::iter(found)))
    }

    async fn record_route(
        &self,
        request: Request<Streaming<Point>>,
    ) -> Result<Response<RouteSummary>, Status> {
        let mut points = request.into_inner();
        let mut summary = RouteSummary::default();
        let mut distance_covered = 0.0;
        let mut previous: Option<Point> = None;
        let mut first_at: Option<Instant> = None;
        while let Some(point) = points.message().await? {
            check(&point)?;
            first_at.get_or_insert_with(Instant::now);
            summary.point_count += 1;
            if self.feature_at(&point).is_some() {
                summary.feature_count += 1;
            }
            if let Some(previous) = &previous {
                distance_covered += distance(previous, &point);
            }
            previous = Some(point);
        }
        // Metres and seconds fit an int32 for any route a person walks; saturate beyond.
        summary.distance = distance_covered.min(f64::from(i32::MAX)) as i32;
        summary.elapsed_time = first_at.map_or(0, |at| {
            i32::try_from(at.elapsed().as_secs()).unwrap_or(i32::MAX)
        });
        Ok(Response::new(summary))
    }

    async fn route_chat(
        &self,
        request: Request<Streaming<RouteNote>>,
    ) -> Result<Response<impl Stream<Item = Result<RouteNote, Status>> + Send>, Status> {
        let mut incoming = request.into_inner();
        let notes = self.notes.clone();
        let (replies, stream) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            loop {
                let note = match incoming.message().await {
                    Ok(Some(note)) => note,
                    Ok(None) => break,
                    Err(status) => {
                        let _ = replies.send(Err(status)).await;
                        break;
                    }
                };
                let Some(point) = note.location else {
                    let _ = replies
                        .send(Err(Status::invalid_argument("a note needs a location")))
                        .await;
                    break;
                };
                // The notes left here before this one, then this one is kept for later callers.
                let earlier = {
                    let mut notes = notes.lock().unwrap_or_else(|e| e.into_inner());
                    let here = notes.entry((point.latitude, point.longitude)).or_default();
                    let earlier = here.clone();
                    here.push(note);
                    earlier
                };
                for note in earlier {
                    if replies.send(Ok(note)).await.is_err() {
                        return; // The caller has gone.
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(stream)))
    }
}
