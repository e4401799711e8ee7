//! HPACK, HTTP/2's header compression (RFC 7541), written for gRPC.
//!
//! This module owns everything between a header block's bytes and a list of header fields:
//! prefix integers ([`integer`]), the Huffman code ([`huffman`]), the static and dynamic tables
//! ([`table`]), and the two directions of one connection's compression state,
//! [`decoder::Decoder`] and [`encoder::Encoder`]. It knows nothing of frames: the connection hands the decoder a whole header block
//! (HEADERS plus its CONTINUATIONs, already joined and capped in size) and frames what the
//! encoder writes.
//!
//! What is tuned for gRPC:
//! - The decoder allocates nothing for a field found in a table: static entries are
//!   `Bytes::from_static` and dynamic ones are reference-counted clones. Literals are decoded
//!   into one scratch buffer per decoder and split off it, so a block's literals share an
//!   allocation.
//! - The decoder remembers the `:path`s it has decoded, so a client that sends the same path
//!   as a literal call after call costs neither a Huffman decode nor an allocation.
//! - The encoder sends the headers every call repeats (`content-type`, `te`, `grpc-status`,
//!   `user-agent`, ...) once per connection with incremental indexing and as one-byte indices
//!   after that, and never indexes values that change per call or that are secrets.

pub(crate) mod decoder;
pub(crate) mod encoder;
mod huffman;
mod integer;
mod table;

#[cfg(test)]
mod tests;

use std::fmt;

/// The dynamic table size HTTP/2 starts with (SETTINGS_HEADER_TABLE_SIZE's initial value), and
/// the most the encoder ever uses whatever the peer allows: a larger table saves little for
/// gRPC's few repeated headers and costs memory on every connection (h2 0.4.17 capped its
/// encoder the same way).
pub(crate) const DEFAULT_TABLE_SIZE: usize = 4096;

/// Why a header block could not be decoded.
///
/// Every variant but [`HpackError::HeaderListTooLarge`] means the two ends' compression state
/// can no longer be trusted to agree, so the connection must end with a connection error of type
/// COMPRESSION_ERROR (RFC 9113 §4.3). `HeaderListTooLarge` is different: the decoder finished
/// the block and kept its dynamic table in step with the peer's, so the connection carries on
/// and only the stream is refused (a stream error, or a 431-like answer before the call starts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HpackError {
    /// A prefix integer is longer than any value Tern accepts (above `u32::MAX`, or more
    /// continuation bytes than such a value needs).
    IntegerOverflow,
    /// The block ends inside a representation: an integer, a string's length or its bytes.
    Truncated,
    /// A Huffman-coded string contains the EOS symbol, which RFC 7541 §5.2 forbids.
    HuffmanEos,
    /// A Huffman-coded string ends with padding longer than 7 bits or not made of all ones.
    HuffmanPadding,
    /// An indexed representation names index 0, which is no entry.
    IndexZero,
    /// An index past the end of the static and dynamic tables together.
    IndexOutOfRange {
        /// The index the block named.
        index: usize,
        /// How many entries the two tables held then (61 plus the dynamic table's).
        entries: usize,
    },
    /// A dynamic table size update asks for more than the SETTINGS_HEADER_TABLE_SIZE we
    /// advertised.
    TableSizeOverLimit {
        /// The size the update asked for.
        requested: usize,
        /// The limit we advertised.
        limit: usize,
    },
    /// A dynamic table size update after a header field: it is only allowed at a block's start.
    TableSizeUpdateNotAtStart,
    /// We lowered SETTINGS_HEADER_TABLE_SIZE below the table the peer uses, and the next block
    /// did not start with the size update that must follow (RFC 7541 §4.2).
    TableSizeUpdateMissing,
    /// The decoded header list is larger than our SETTINGS_MAX_HEADER_LIST_SIZE (counted as RFC
    /// 9113 §6.5.2 does: name, value and 32 bytes per field). Not a connection error: see the
    /// type's documentation.
    HeaderListTooLarge {
        /// The limit the list went past.
        limit: usize,
    },
}

impl HpackError {
    /// Whether the connection must end with COMPRESSION_ERROR; `false` only for the header list
    /// limit, after which the connection's HPACK state is still good.
    pub(crate) fn is_compression_error(self) -> bool {
        !matches!(self, HpackError::HeaderListTooLarge { .. })
    }
}

impl fmt::Display for HpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HpackError::IntegerOverflow => write!(f, "HPACK integer larger than 2^32-1"),
            HpackError::Truncated => write!(f, "HPACK block ends inside a field"),
            HpackError::HuffmanEos => write!(f, "Huffman string contains EOS"),
            HpackError::HuffmanPadding => {
                write!(f, "Huffman padding longer than 7 bits or not all ones")
            }
            HpackError::IndexZero => write!(f, "HPACK index 0"),
            HpackError::IndexOutOfRange { index, entries } => {
                write!(f, "HPACK index {index} past the tables' {entries} entries")
            }
            HpackError::TableSizeOverLimit { requested, limit } => write!(
                f,
                "dynamic table size update to {requested} over the advertised {limit}"
            ),
            HpackError::TableSizeUpdateNotAtStart => {
                write!(f, "dynamic table size update after a header field")
            }
            HpackError::TableSizeUpdateMissing => write!(
                f,
                "header block does not start with the required dynamic table size update"
            ),
            HpackError::HeaderListTooLarge { limit } => {
                write!(f, "header list larger than {limit} bytes")
            }
        }
    }
}

impl std::error::Error for HpackError {}
