//! The three layers under the connection wired together the way the connection will wire
//! them (without HPACK): frames decoded, applied to the stream store and the windows, and the
//! frames that answer them encoded. It checks the layers' APIs compose, borrows included, and
//! shows the order of calls the connection needs.

use bytes::BytesMut;

use super::flow::Flow;
use super::frame::decode::Decoder;
use super::frame::{encode, ErrorCode, Frame, H2Error, Settings, StreamId};
use super::stream::{Recv, Role, Streams};

/// A server's receive path in miniature: each stream keeps the DATA it was sent.
struct Sketch {
    decoder: Decoder,
    flow: Flow,
    streams: Streams<Vec<u8>>,
    out: BytesMut,
}

impl Sketch {
    fn new() -> Sketch {
        Sketch {
            decoder: Decoder::new(),
            flow: Flow::new(),
            streams: Streams::new(Role::Server, 100),
            out: BytesMut::new(),
        }
    }

    /// Reads every whole frame in `input`; a connection error ends with GOAWAY.
    fn recv(&mut self, input: &mut BytesMut) {
        loop {
            let step = match self.decoder.decode(input) {
                Ok(Some(frame)) => self.handle(frame),
                Ok(None) => break,
                Err(err) => Err(err),
            };
            match step {
                Ok(()) => {}
                Err(H2Error::Stream { id, code, .. }) => self.reset(id, code),
                Err(H2Error::Connection { code, reason }) => {
                    let last = self.streams.last_remote();
                    encode::goaway(&mut self.out, last, code, reason.as_bytes());
                    return;
                }
            }
        }
        if let Some(increment) = self.flow.connection_window_update() {
            encode::window_update(&mut self.out, StreamId::CONNECTION, increment);
        }
    }

    fn reset(&mut self, id: StreamId, code: ErrorCode) {
        self.streams.send_reset(id);
        encode::rst_stream(&mut self.out, id, code);
    }

    fn handle(&mut self, frame: Frame) -> Result<(), H2Error> {
        match frame {
            // (The header block would go through HPACK here, whatever the store says.)
            Frame::Headers(headers) => {
                let id = headers.stream_id;
                self.streams
                    .recv_headers(id, headers.end_stream, Vec::new)?;
                if let Some(err) = headers.stream_error() {
                    return Err(err);
                }
            }
            Frame::Data(data) => {
                let id = data.stream_id;
                self.flow.recv_connection_data(data.flow_len)?;
                let padding = data.flow_len - data.data.len() as u32;
                let mut closed = None;
                let stream = match self.streams.recv_data(id, data.end_stream)? {
                    Recv::Opened | Recv::Live => self.streams.get_mut(id),
                    Recv::Closed(stream) => closed.insert(stream).into(),
                    Recv::Ignore => None,
                };
                if let Some(stream) = stream {
                    self.flow
                        .recv_stream_data(&mut stream.flow, id, data.flow_len)?;
                    self.flow.release(&mut stream.flow, padding);
                    stream.user.extend_from_slice(&data.data);
                }
            }
            Frame::WindowUpdate {
                stream_id,
                increment,
            } if stream_id.is_connection() => {
                self.flow.recv_connection_window_update(increment)?;
            }
            Frame::WindowUpdate {
                stream_id,
                increment,
            } => {
                if let Recv::Live = self.streams.recv_window_update(stream_id)? {
                    if let Some(stream) = self.streams.get_mut(stream_id) {
                        self.flow.recv_stream_window_update(
                            &mut stream.flow,
                            stream_id,
                            increment,
                        )?;
                    }
                    self.flow.tidy(|id| self.streams.send_offset(id));
                }
            }
            Frame::Settings(settings) => {
                if let Some(size) = settings.initial_window_size {
                    self.flow
                        .set_peer_initial_window(size, |id| self.streams.send_offset(id))?;
                }
                encode::settings_ack(&mut self.out);
            }
            Frame::RstStream { stream_id, .. } => {
                self.streams.recv_reset(stream_id)?;
            }
            Frame::Ping {
                ack: false,
                payload,
            } => encode::ping(&mut self.out, payload, true),
            _ => {}
        }
        Ok(())
    }

    /// What the sketch wrote, decoded back.
    fn sent(&mut self) -> Vec<Frame> {
        let mut decoder = Decoder::new();
        let mut frames = Vec::new();
        while let Ok(Some(frame)) = decoder.decode(&mut self.out) {
            frames.push(frame);
        }
        frames
    }
}

fn sid(id: u32) -> StreamId {
    StreamId::new(id)
}

#[test]
fn a_request_its_data_and_the_control_frames_get_their_answers() {
    let mut sketch = Sketch::new();
    let mut input = BytesMut::new();
    encode::settings(
        &mut input,
        &Settings {
            initial_window_size: Some(1 << 20),
            ..Settings::default()
        },
    );
    encode::headers(&mut input, sid(1), b"(block)", false, 16_384);
    encode::data(&mut input, sid(1), &[7; 16_000], false);
    encode::ping(&mut input, *b"87654321", false);
    encode::data(&mut input, sid(1), &[8; 1_000], true);
    // WINDOW_UPDATE is still allowed on a half-closed (remote) stream.
    encode::window_update(&mut input, sid(1), 100);
    sketch.recv(&mut input);
    assert_eq!(
        sketch.streams.get(sid(1)).map(|s| s.user.len()),
        Some(17_000)
    );
    let stream = sketch
        .streams
        .get(sid(1))
        .map(|s| sketch.flow.stream_send_window(&s.flow));
    assert_eq!(stream, Some((1 << 20) + 100));
    assert_eq!(
        sketch.sent(),
        vec![
            Frame::SettingsAck,
            Frame::Ping {
                ack: true,
                payload: *b"87654321"
            },
            Frame::WindowUpdate {
                stream_id: sid(0),
                increment: 17_000
            },
        ]
    );

    // A late DATA after the client's END_STREAM is the stream's error; one on an idle stream
    // ends the connection.
    encode::data(&mut input, sid(1), b"late", false);
    encode::data(&mut input, sid(3), b"idle", false);
    sketch.recv(&mut input);
    let sent = sketch.sent();
    assert_eq!(
        sent[0],
        Frame::RstStream {
            stream_id: sid(1),
            code: ErrorCode::StreamClosed
        }
    );
    let Frame::GoAway(goaway) = &sent[1] else {
        panic!("GOAWAY expected, got {sent:?}");
    };
    assert_eq!(
        (goaway.last_stream_id, goaway.code),
        (sid(1), ErrorCode::ProtocolError)
    );
    assert_eq!(&goaway.debug_data[..], b"DATA on an idle stream");
}
