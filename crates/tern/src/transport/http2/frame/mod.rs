//! HTTP/2 frames (RFC 9113 §4 and §6): the frame header, the typed frames, and the error
//! vocabulary every layer of the engine shares.
//!
//! This module owns the wire format and nothing of the connection's state: [`decode::Decoder`]
//! cuts frames off a read buffer, checks every rule a single frame (or the header-block sequence)
//! can be checked against, and hands out payloads as `Bytes` split off that buffer, without
//! copying them. [`encode`] writes frame headers and control frames into a caller's buffer, so a
//! DATA payload can stay in its own `Bytes` until one vectored write sends them all. Whether a
//! frame fits the stream's state or the flow-control windows is for `stream` and `flow`.

pub(crate) mod decode;
pub(crate) mod encode;

#[cfg(test)]
mod tests;

use std::fmt;

use bytes::Bytes;

/// The length of every frame header (RFC 9113 §4.1).
pub(crate) const HEADER_LEN: usize = 9;

/// The SETTINGS_MAX_FRAME_SIZE every connection starts with, and the least a peer may set.
pub(crate) const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;

/// The largest SETTINGS_MAX_FRAME_SIZE allowed (2^24-1, the length field's range).
pub(crate) const MAX_MAX_FRAME_SIZE: u32 = 16_777_215;

/// The largest flow-control window and SETTINGS_INITIAL_WINDOW_SIZE (2^31-1, RFC 9113 §6.9.1).
pub(crate) const MAX_WINDOW_SIZE: u32 = 0x7fff_ffff;

/// The largest stream identifier (31 bits).
pub(crate) const MAX_STREAM_ID: u32 = 0x7fff_ffff;

/// A stream identifier: 31 bits, 0 meaning the connection itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct StreamId(u32);

impl StreamId {
    /// Stream 0: frames about the connection as a whole.
    pub(crate) const CONNECTION: StreamId = StreamId(0);

    /// The identifier `id` names; the reserved top bit is dropped, as receivers must (§4.1).
    pub(crate) const fn new(id: u32) -> StreamId {
        StreamId(id & MAX_STREAM_ID)
    }

    pub(crate) const fn get(self) -> u32 {
        self.0
    }

    pub(crate) const fn is_connection(self) -> bool {
        self.0 == 0
    }

    /// Whether a client opened this stream (odd ids, RFC 9113 §5.1.1).
    pub(crate) const fn is_client_initiated(self) -> bool {
        self.0 % 2 == 1
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An error code of RST_STREAM and GOAWAY (RFC 9113 §7). Codes this list does not know are
/// kept as they came, since §7 says they must not trigger anything special.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ErrorCode {
    NoError,
    ProtocolError,
    InternalError,
    FlowControlError,
    SettingsTimeout,
    StreamClosed,
    FrameSizeError,
    RefusedStream,
    Cancel,
    CompressionError,
    ConnectError,
    EnhanceYourCalm,
    InadequateSecurity,
    Http11Required,
    /// A code not defined by RFC 9113, kept so it can be logged or passed on.
    Unknown(u32),
}

impl ErrorCode {
    pub(crate) fn from_u32(code: u32) -> ErrorCode {
        match code {
            0x0 => ErrorCode::NoError,
            0x1 => ErrorCode::ProtocolError,
            0x2 => ErrorCode::InternalError,
            0x3 => ErrorCode::FlowControlError,
            0x4 => ErrorCode::SettingsTimeout,
            0x5 => ErrorCode::StreamClosed,
            0x6 => ErrorCode::FrameSizeError,
            0x7 => ErrorCode::RefusedStream,
            0x8 => ErrorCode::Cancel,
            0x9 => ErrorCode::CompressionError,
            0xa => ErrorCode::ConnectError,
            0xb => ErrorCode::EnhanceYourCalm,
            0xc => ErrorCode::InadequateSecurity,
            0xd => ErrorCode::Http11Required,
            other => ErrorCode::Unknown(other),
        }
    }

    pub(crate) fn to_u32(self) -> u32 {
        match self {
            ErrorCode::NoError => 0x0,
            ErrorCode::ProtocolError => 0x1,
            ErrorCode::InternalError => 0x2,
            ErrorCode::FlowControlError => 0x3,
            ErrorCode::SettingsTimeout => 0x4,
            ErrorCode::StreamClosed => 0x5,
            ErrorCode::FrameSizeError => 0x6,
            ErrorCode::RefusedStream => 0x7,
            ErrorCode::Cancel => 0x8,
            ErrorCode::CompressionError => 0x9,
            ErrorCode::ConnectError => 0xa,
            ErrorCode::EnhanceYourCalm => 0xb,
            ErrorCode::InadequateSecurity => 0xc,
            ErrorCode::Http11Required => 0xd,
            ErrorCode::Unknown(other) => other,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ErrorCode::NoError => "NO_ERROR",
            ErrorCode::ProtocolError => "PROTOCOL_ERROR",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::FlowControlError => "FLOW_CONTROL_ERROR",
            ErrorCode::SettingsTimeout => "SETTINGS_TIMEOUT",
            ErrorCode::StreamClosed => "STREAM_CLOSED",
            ErrorCode::FrameSizeError => "FRAME_SIZE_ERROR",
            ErrorCode::RefusedStream => "REFUSED_STREAM",
            ErrorCode::Cancel => "CANCEL",
            ErrorCode::CompressionError => "COMPRESSION_ERROR",
            ErrorCode::ConnectError => "CONNECT_ERROR",
            ErrorCode::EnhanceYourCalm => "ENHANCE_YOUR_CALM",
            ErrorCode::InadequateSecurity => "INADEQUATE_SECURITY",
            ErrorCode::Http11Required => "HTTP_1_1_REQUIRED",
            ErrorCode::Unknown(code) => return write!(f, "unknown error code {code:#x}"),
        };
        f.write_str(name)
    }
}

/// A protocol violation found by the frame, flow or stream layer, already sorted into the two
/// kinds RFC 9113 §5.4 defines: what the connection answers with GOAWAY and what it answers
/// with RST_STREAM. `reason` is a short fixed text, fit for GOAWAY debug data and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum H2Error {
    /// The connection cannot go on: send GOAWAY with `code` and close (§5.4.1).
    Connection {
        code: ErrorCode,
        reason: &'static str,
    },
    /// Only stream `id` fails: send RST_STREAM with `code`; the connection carries on (§5.4.2).
    Stream {
        id: StreamId,
        code: ErrorCode,
        reason: &'static str,
    },
}

impl H2Error {
    pub(crate) const fn connection(code: ErrorCode, reason: &'static str) -> H2Error {
        H2Error::Connection { code, reason }
    }

    pub(crate) const fn stream(id: StreamId, code: ErrorCode, reason: &'static str) -> H2Error {
        H2Error::Stream { id, code, reason }
    }

    pub(crate) fn code(&self) -> ErrorCode {
        match *self {
            H2Error::Connection { code, .. } | H2Error::Stream { code, .. } => code,
        }
    }

    pub(crate) fn reason(&self) -> &'static str {
        match *self {
            H2Error::Connection { reason, .. } | H2Error::Stream { reason, .. } => reason,
        }
    }

    pub(crate) fn is_connection_error(&self) -> bool {
        matches!(self, H2Error::Connection { .. })
    }
}

impl fmt::Display for H2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            H2Error::Connection { code, reason } => write!(f, "connection error {code}: {reason}"),
            H2Error::Stream { id, code, reason } => {
                write!(f, "stream {id} error {code}: {reason}")
            }
        }
    }
}

impl std::error::Error for H2Error {}

/// Frame type codes (RFC 9113 §6).
pub(crate) mod kind {
    pub(crate) const DATA: u8 = 0x0;
    pub(crate) const HEADERS: u8 = 0x1;
    pub(crate) const PRIORITY: u8 = 0x2;
    pub(crate) const RST_STREAM: u8 = 0x3;
    pub(crate) const SETTINGS: u8 = 0x4;
    pub(crate) const PUSH_PROMISE: u8 = 0x5;
    pub(crate) const PING: u8 = 0x6;
    pub(crate) const GOAWAY: u8 = 0x7;
    pub(crate) const WINDOW_UPDATE: u8 = 0x8;
    pub(crate) const CONTINUATION: u8 = 0x9;
}

/// Frame flags (RFC 9113 §6); each is defined only for the frame types named.
pub(crate) mod flags {
    /// DATA, HEADERS.
    pub(crate) const END_STREAM: u8 = 0x1;
    /// SETTINGS, PING.
    pub(crate) const ACK: u8 = 0x1;
    /// HEADERS, PUSH_PROMISE, CONTINUATION.
    pub(crate) const END_HEADERS: u8 = 0x4;
    /// DATA, HEADERS, PUSH_PROMISE.
    pub(crate) const PADDED: u8 = 0x8;
    /// HEADERS.
    pub(crate) const PRIORITY: u8 = 0x20;
}

/// The 9 bytes in front of every frame (RFC 9113 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    /// The payload's length: 24 bits.
    pub(crate) length: u32,
    pub(crate) kind: u8,
    pub(crate) flags: u8,
    pub(crate) stream_id: StreamId,
}

impl FrameHeader {
    pub(crate) fn new(kind: u8, flags: u8, stream_id: StreamId, length: u32) -> FrameHeader {
        FrameHeader {
            length,
            kind,
            flags,
            stream_id,
        }
    }

    /// Reads a header; the reserved bit of the stream id is ignored, as §4.1 says.
    pub(crate) fn parse(bytes: &[u8; HEADER_LEN]) -> FrameHeader {
        FrameHeader {
            length: u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]),
            kind: bytes[3],
            flags: bytes[4],
            stream_id: StreamId::new(u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]])),
        }
    }

    /// The header's 9 bytes, the reserved bit unset. The length must fit 24 bits.
    pub(crate) fn to_bytes(self) -> [u8; HEADER_LEN] {
        debug_assert!(
            self.length <= MAX_MAX_FRAME_SIZE,
            "frame length over 24 bits"
        );
        let len = self.length.to_be_bytes();
        let id = self.stream_id.get().to_be_bytes();
        [
            len[1], len[2], len[3], self.kind, self.flags, id[0], id[1], id[2], id[3],
        ]
    }

    pub(crate) fn has(self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// A DATA frame (§6.1), its padding already removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Data {
    pub(crate) stream_id: StreamId,
    pub(crate) end_stream: bool,
    pub(crate) data: Bytes,
    /// The whole payload's length, padding and pad length byte included: what the frame
    /// costs in both flow-control windows (§6.9.1). `flow_len - data.len()` is padding, which
    /// the receiver can credit back at once.
    pub(crate) flow_len: u32,
}

/// The priority fields of a HEADERS or PRIORITY frame (RFC 7540 §5.3, deprecated by RFC 9113
/// §5.3.2). Parsed only to check them: Tern does not prioritise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Priority {
    pub(crate) dependency: StreamId,
    pub(crate) exclusive: bool,
    pub(crate) weight: u8,
}

impl Priority {
    fn parse(bytes: [u8; 5]) -> Priority {
        let word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        Priority {
            dependency: StreamId::new(word),
            exclusive: word & 0x8000_0000 != 0,
            weight: bytes[4],
        }
    }
}

/// A HEADERS frame (§6.2): one fragment of a header block, its padding removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Headers {
    pub(crate) stream_id: StreamId,
    pub(crate) end_stream: bool,
    /// When false, CONTINUATION frames on this stream carry the rest of the block.
    pub(crate) end_headers: bool,
    pub(crate) priority: Option<Priority>,
    pub(crate) fragment: Bytes,
}

impl Headers {
    /// A stream that depends on itself is a stream error of type PROTOCOL_ERROR (RFC 7540
    /// §5.3.1, which h2spec checks). The decoder does not raise it itself because the fragment
    /// must still go through HPACK, or the two ends' tables part: the connection decodes the
    /// block, then resets the stream.
    pub(crate) fn stream_error(&self) -> Option<H2Error> {
        match self.priority {
            Some(p) if p.dependency == self.stream_id => Some(H2Error::stream(
                self.stream_id,
                ErrorCode::ProtocolError,
                "stream depends on itself",
            )),
            _ => None,
        }
    }
}

/// A PUSH_PROMISE frame (§6.6). Parsed so that its header block can be decoded (keeping HPACK
/// in step) or the frame rejected: a server must treat any PUSH_PROMISE as a connection error
/// (§8.4), and a client that disabled push too (§6.5.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PushPromise {
    pub(crate) stream_id: StreamId,
    pub(crate) promised_id: StreamId,
    pub(crate) end_headers: bool,
    pub(crate) fragment: Bytes,
}

/// A GOAWAY frame (§6.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GoAway {
    pub(crate) last_stream_id: StreamId,
    pub(crate) code: ErrorCode,
    pub(crate) debug_data: Bytes,
}

/// The parameters of a SETTINGS frame (§6.5.2), each `None` when the frame did not carry it.
/// When a frame carries one parameter more than once, the last value is kept, which is what
/// processing them in order (§6.5.3) leaves behind. Values are already range-checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) header_table_size: Option<u32>,
    pub(crate) enable_push: Option<bool>,
    pub(crate) max_concurrent_streams: Option<u32>,
    pub(crate) initial_window_size: Option<u32>,
    pub(crate) max_frame_size: Option<u32>,
    pub(crate) max_header_list_size: Option<u32>,
}

/// SETTINGS parameter identifiers (§6.5.2).
pub(crate) mod setting {
    pub(crate) const HEADER_TABLE_SIZE: u16 = 0x1;
    pub(crate) const ENABLE_PUSH: u16 = 0x2;
    pub(crate) const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub(crate) const INITIAL_WINDOW_SIZE: u16 = 0x4;
    pub(crate) const MAX_FRAME_SIZE: u16 = 0x5;
    pub(crate) const MAX_HEADER_LIST_SIZE: u16 = 0x6;
}

impl Settings {
    /// Applies one parameter, checking its range (§6.5.2); unknown identifiers are ignored.
    pub(crate) fn apply(&mut self, id: u16, value: u32) -> Result<(), H2Error> {
        match id {
            setting::HEADER_TABLE_SIZE => self.header_table_size = Some(value),
            setting::ENABLE_PUSH => match value {
                0 | 1 => self.enable_push = Some(value == 1),
                _ => {
                    return Err(H2Error::connection(
                        ErrorCode::ProtocolError,
                        "SETTINGS_ENABLE_PUSH not 0 or 1",
                    ))
                }
            },
            setting::MAX_CONCURRENT_STREAMS => self.max_concurrent_streams = Some(value),
            setting::INITIAL_WINDOW_SIZE => {
                if value > MAX_WINDOW_SIZE {
                    return Err(H2Error::connection(
                        ErrorCode::FlowControlError,
                        "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1",
                    ));
                }
                self.initial_window_size = Some(value);
            }
            setting::MAX_FRAME_SIZE => {
                if !(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value) {
                    return Err(H2Error::connection(
                        ErrorCode::ProtocolError,
                        "SETTINGS_MAX_FRAME_SIZE outside 16384..=16777215",
                    ));
                }
                self.max_frame_size = Some(value);
            }
            setting::MAX_HEADER_LIST_SIZE => self.max_header_list_size = Some(value),
            _ => {}
        }
        Ok(())
    }

    /// The parameters present, in identifier order, as they go on the wire.
    pub(crate) fn params(&self) -> impl Iterator<Item = (u16, u32)> {
        [
            (setting::HEADER_TABLE_SIZE, self.header_table_size),
            (setting::ENABLE_PUSH, self.enable_push.map(u32::from)),
            (setting::MAX_CONCURRENT_STREAMS, self.max_concurrent_streams),
            (setting::INITIAL_WINDOW_SIZE, self.initial_window_size),
            (setting::MAX_FRAME_SIZE, self.max_frame_size),
            (setting::MAX_HEADER_LIST_SIZE, self.max_header_list_size),
        ]
        .into_iter()
        .filter_map(|(id, value)| value.map(|v| (id, v)))
    }
}

/// One decoded frame. Payloads are `Bytes` split off the read buffer, not copies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    Data(Data),
    Headers(Headers),
    /// PRIORITY (§6.3): carries no meaning for Tern; handed up so the connection can count
    /// it against its budget for frames that do no work.
    Priority {
        stream_id: StreamId,
        priority: Priority,
    },
    RstStream {
        stream_id: StreamId,
        code: ErrorCode,
    },
    Settings(Settings),
    SettingsAck,
    PushPromise(PushPromise),
    Ping {
        ack: bool,
        payload: [u8; 8],
    },
    GoAway(GoAway),
    /// WINDOW_UPDATE (§6.9) with a non-zero increment; stream 0 means the connection window.
    WindowUpdate {
        stream_id: StreamId,
        increment: u32,
    },
    /// CONTINUATION (§6.10): the decoder has checked it continues the open header block.
    Continuation {
        stream_id: StreamId,
        end_headers: bool,
        fragment: Bytes,
    },
    /// A frame of a type RFC 9113 does not define: its payload is dropped (§4.1, §5.5).
    Unknown {
        kind: u8,
        stream_id: StreamId,
        length: u32,
    },
}
