//! Reading frames: cuts whole frames off the front of a read buffer and checks every rule that
//! one frame, or the sequence of a header block, can be checked against (RFC 9113 §4 and §6).
//!
//! Payloads that outlive the call (DATA, header block fragments, GOAWAY debug data) are `Bytes`
//! split off the read buffer, so a frame costs no allocation and no copy; control frames are read
//! in place and their bytes dropped. Rules that need a frame's header only (its size, its stream
//! id, a fixed length) are checked as soon as the 9 header bytes are in, so a bad frame is
//! refused before its payload is waited for and the decoder never buffers more than the local
//! SETTINGS_MAX_FRAME_SIZE. Nothing here panics on any input.

use bytes::{Buf, Bytes, BytesMut};

use super::{
    flags, kind, Data, ErrorCode, Frame, FrameHeader, GoAway, H2Error, Headers, Priority,
    PushPromise, Settings, StreamId, DEFAULT_MAX_FRAME_SIZE, HEADER_LEN, MAX_MAX_FRAME_SIZE,
};

/// The header block being received: a HEADERS or PUSH_PROMISE without END_HEADERS came, and only
/// CONTINUATION frames on its stream may follow until one carries END_HEADERS (§6.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HeaderBlock {
    pub(crate) stream_id: StreamId,
    /// CONTINUATION frames received so far in this block.
    pub(crate) continuations: u32,
    /// Fragment bytes received so far in this block, padding excluded.
    pub(crate) fragment_bytes: usize,
}

/// One connection's frame reader.
///
/// After a connection error every later call returns that error again: the connection is over
/// and the rest of the buffer must not be read as frames. After a stream error the offending
/// frame has been consumed and decoding can go on.
#[derive(Debug)]
pub(crate) struct Decoder {
    max_frame_size: u32,
    header_block: Option<HeaderBlock>,
    failed: Option<H2Error>,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new()
    }
}

fn conn_err(code: ErrorCode, reason: &'static str) -> H2Error {
    H2Error::connection(code, reason)
}

fn frame_size(reason: &'static str) -> H2Error {
    conn_err(ErrorCode::FrameSizeError, reason)
}

fn protocol(reason: &'static str) -> H2Error {
    conn_err(ErrorCode::ProtocolError, reason)
}

impl Decoder {
    pub(crate) fn new() -> Decoder {
        Decoder {
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            header_block: None,
            failed: None,
        }
    }

    /// The largest payload accepted: our SETTINGS_MAX_FRAME_SIZE. A frame above it is a
    /// connection error of type FRAME_SIZE_ERROR (§4.2); Tern treats even a DATA frame that way,
    /// which §5.4.1 allows, so that an oversized payload never has to be read and skipped.
    pub(crate) fn max_frame_size(&self) -> u32 {
        self.max_frame_size
    }

    /// Sets our SETTINGS_MAX_FRAME_SIZE, clamped to the allowed range. The connection raises it
    /// when it sends the setting, and lowers it only once the peer has acknowledged it.
    pub(crate) fn set_max_frame_size(&mut self, size: u32) {
        self.max_frame_size = size.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE);
    }

    /// The header block in progress, so the connection can cap CONTINUATION floods and time
    /// out a block that never ends.
    pub(crate) fn header_block(&self) -> Option<HeaderBlock> {
        self.header_block
    }

    /// Decodes the next frame off the front of `buf`.
    ///
    /// `Ok(None)`: `buf` does not yet hold a whole frame, and nothing was consumed. `Ok(Some)`:
    /// the frame's bytes have left `buf`. `Err` of a stream error: the frame has left `buf`, the
    /// stream should be reset, and decoding can go on. `Err` of a connection error: the
    /// connection must end; this and every later call return it.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, H2Error> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        let result = self.decode_inner(buf);
        if let Err(err) = result {
            if err.is_connection_error() {
                self.failed = Some(err);
            }
        }
        result
    }

    fn decode_inner(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, H2Error> {
        let Some(head) = buf.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let head = FrameHeader::parse(head);
        self.check_header(head)?;
        // `length` is at most 2^24-1, so this cannot overflow.
        let total = HEADER_LEN + head.length as usize;
        if buf.len() < total {
            return Ok(None);
        }
        let frame = match head.kind {
            kind::DATA => Frame::Data(parse_data(head, payload_bytes(buf, total))?),
            kind::HEADERS => {
                let headers = parse_headers(head, payload_bytes(buf, total))?;
                if !headers.end_headers {
                    self.start_block(headers.stream_id, headers.fragment.len());
                }
                Frame::Headers(headers)
            }
            kind::PUSH_PROMISE => {
                let promise = parse_push_promise(head, payload_bytes(buf, total))?;
                if !promise.end_headers {
                    self.start_block(promise.stream_id, promise.fragment.len());
                }
                Frame::PushPromise(promise)
            }
            kind::CONTINUATION => {
                let fragment = payload_bytes(buf, total);
                let end_headers = head.has(flags::END_HEADERS);
                if end_headers {
                    self.header_block = None;
                } else if let Some(block) = &mut self.header_block {
                    block.continuations = block.continuations.saturating_add(1);
                    block.fragment_bytes = block.fragment_bytes.saturating_add(fragment.len());
                }
                Frame::Continuation {
                    stream_id: head.stream_id,
                    end_headers,
                    fragment,
                }
            }
            kind::GOAWAY => {
                let mut payload = payload_bytes(buf, total);
                let last_stream_id = StreamId::new(payload.get_u32());
                let code = ErrorCode::from_u32(payload.get_u32());
                Frame::GoAway(GoAway {
                    last_stream_id,
                    code,
                    debug_data: payload,
                })
            }
            _ => {
                // The rest carry nothing worth keeping past this call: read them in place.
                let result = parse_control(head, &buf[HEADER_LEN..total]);
                buf.advance(total);
                result?
            }
        };
        Ok(Some(frame))
    }

    fn start_block(&mut self, stream_id: StreamId, fragment_bytes: usize) {
        self.header_block = Some(HeaderBlock {
            stream_id,
            continuations: 0,
            fragment_bytes,
        });
    }

    /// The rules the 9 header bytes alone decide; all of them connection errors.
    fn check_header(&self, head: FrameHeader) -> Result<(), H2Error> {
        match self.header_block {
            Some(block) if head.kind != kind::CONTINUATION || head.stream_id != block.stream_id => {
                return Err(protocol(
                    "header block interrupted by another frame or stream",
                ));
            }
            None if head.kind == kind::CONTINUATION => {
                return Err(protocol("CONTINUATION without a header block to continue"));
            }
            _ => {}
        }
        if head.length > self.max_frame_size {
            return Err(frame_size("frame larger than SETTINGS_MAX_FRAME_SIZE"));
        }
        let on_connection = head.stream_id.is_connection();
        match head.kind {
            kind::DATA | kind::HEADERS | kind::PRIORITY | kind::PUSH_PROMISE if on_connection => {
                Err(protocol("stream frame on stream 0"))
            }
            kind::RST_STREAM if on_connection => Err(protocol("RST_STREAM on stream 0")),
            kind::RST_STREAM if head.length != 4 => Err(frame_size("RST_STREAM not 4 bytes")),
            kind::SETTINGS | kind::PING | kind::GOAWAY if !on_connection => {
                Err(protocol("connection frame on a stream"))
            }
            kind::SETTINGS if head.has(flags::ACK) && head.length != 0 => {
                Err(frame_size("SETTINGS ACK with a payload"))
            }
            kind::SETTINGS if head.length % 6 != 0 => {
                Err(frame_size("SETTINGS not a multiple of 6 bytes"))
            }
            kind::PING if head.length != 8 => Err(frame_size("PING not 8 bytes")),
            kind::GOAWAY if head.length < 8 => Err(frame_size("GOAWAY shorter than 8 bytes")),
            kind::WINDOW_UPDATE if head.length != 4 => Err(frame_size("WINDOW_UPDATE not 4 bytes")),
            _ => Ok(()),
        }
    }
}

/// Splits the frame off `buf` and returns its payload, sharing `buf`'s allocation.
fn payload_bytes(buf: &mut BytesMut, total: usize) -> Bytes {
    let mut frame = buf.split_to(total).freeze();
    frame.advance(HEADER_LEN);
    frame
}

/// Removes the pad length byte and the padding of a PADDED frame (§6.1, §6.2, §6.6), with
/// `fixed` bytes of other fields between them that must fit too. Returns the pad length.
fn strip_padding(head: FrameHeader, payload: &mut Bytes, fixed: usize) -> Result<usize, H2Error> {
    if !head.has(flags::PADDED) {
        if payload.len() < fixed {
            return Err(frame_size("frame too short for its fields"));
        }
        return Ok(0);
    }
    let Some(&pad) = payload.first() else {
        return Err(frame_size("PADDED frame without a pad length"));
    };
    let pad = usize::from(pad);
    if payload.len() < 1 + fixed {
        return Err(frame_size("frame too short for its fields"));
    }
    if pad > payload.len() - 1 - fixed {
        return Err(protocol("padding as long as the payload or longer"));
    }
    payload.advance(1);
    payload.truncate(payload.len() - pad);
    Ok(pad)
}

fn parse_data(head: FrameHeader, mut payload: Bytes) -> Result<Data, H2Error> {
    strip_padding(head, &mut payload, 0)?;
    Ok(Data {
        stream_id: head.stream_id,
        end_stream: head.has(flags::END_STREAM),
        data: payload,
        flow_len: head.length,
    })
}

fn parse_headers(head: FrameHeader, mut payload: Bytes) -> Result<Headers, H2Error> {
    let has_priority = head.has(flags::PRIORITY);
    strip_padding(head, &mut payload, if has_priority { 5 } else { 0 })?;
    let priority = if has_priority {
        let mut fields = [0u8; 5];
        payload.copy_to_slice(&mut fields);
        Some(Priority::parse(fields))
    } else {
        None
    };
    Ok(Headers {
        stream_id: head.stream_id,
        end_stream: head.has(flags::END_STREAM),
        end_headers: head.has(flags::END_HEADERS),
        priority,
        fragment: payload,
    })
}

fn parse_push_promise(head: FrameHeader, mut payload: Bytes) -> Result<PushPromise, H2Error> {
    strip_padding(head, &mut payload, 4)?;
    let promised_id = StreamId::new(payload.get_u32());
    Ok(PushPromise {
        stream_id: head.stream_id,
        promised_id,
        end_headers: head.has(flags::END_HEADERS),
        fragment: payload,
    })
}

/// The frames read in place. `payload` has the length `check_header` accepted.
fn parse_control(head: FrameHeader, payload: &[u8]) -> Result<Frame, H2Error> {
    let word = |at: usize| -> u32 {
        let mut bytes = [0u8; 4];
        if let Some(src) = payload.get(at..at + 4) {
            bytes.copy_from_slice(src);
        }
        u32::from_be_bytes(bytes)
    };
    let id = head.stream_id;
    match head.kind {
        kind::PRIORITY => {
            let Some(fields) = payload.first_chunk::<5>().filter(|_| payload.len() == 5) else {
                return Err(H2Error::stream(
                    id,
                    ErrorCode::FrameSizeError,
                    "PRIORITY not 5 bytes",
                ));
            };
            let priority = Priority::parse(*fields);
            if priority.dependency == id {
                return Err(H2Error::stream(
                    id,
                    ErrorCode::ProtocolError,
                    "stream depends on itself",
                ));
            }
            Ok(Frame::Priority {
                stream_id: id,
                priority,
            })
        }
        kind::RST_STREAM => Ok(Frame::RstStream {
            stream_id: id,
            code: ErrorCode::from_u32(word(0)),
        }),
        kind::SETTINGS if head.has(flags::ACK) => Ok(Frame::SettingsAck),
        kind::SETTINGS => {
            let mut settings = Settings::default();
            for param in payload.chunks_exact(6) {
                let setting = u16::from_be_bytes([param[0], param[1]]);
                let value = u32::from_be_bytes([param[2], param[3], param[4], param[5]]);
                settings.apply(setting, value)?;
            }
            Ok(Frame::Settings(settings))
        }
        kind::PING => {
            let mut data = [0u8; 8];
            if let Some(src) = payload.first_chunk::<8>() {
                data = *src;
            }
            Ok(Frame::Ping {
                ack: head.has(flags::ACK),
                payload: data,
            })
        }
        kind::WINDOW_UPDATE => {
            let increment = word(0) & super::MAX_WINDOW_SIZE;
            match increment {
                0 if id.is_connection() => Err(protocol("WINDOW_UPDATE of 0 on the connection")),
                0 => Err(H2Error::stream(
                    id,
                    ErrorCode::ProtocolError,
                    "WINDOW_UPDATE of 0",
                )),
                _ => Ok(Frame::WindowUpdate {
                    stream_id: id,
                    increment,
                }),
            }
        }
        other => Ok(Frame::Unknown {
            kind: other,
            stream_id: id,
            length: head.length,
        }),
    }
}
