//! How messages become bytes and back. [`ProstCodec`] (protobuf through prost) is the default;
//! a service can use any other [`Codec`].

use std::fmt;
use std::marker::PhantomData;

use bytes::{Bytes, BytesMut};

use crate::status::Status;

/// Encodes the messages one side sends and decodes those it receives.
pub trait Codec: Clone + Send + Sync + 'static {
    /// The type of outgoing messages.
    type Encode: Send + 'static;
    /// The type of incoming messages.
    type Decode: Send + 'static;

    /// How many bytes `message` will take, so the frame is allocated once at its final size.
    fn encoded_len(&self, message: &Self::Encode) -> usize;

    /// Appends the encoded message to `buf`.
    fn encode(&self, message: &Self::Encode, buf: &mut BytesMut) -> Result<(), Status>;

    /// Decodes one message from its bytes.
    fn decode(&self, payload: Bytes) -> Result<Self::Decode, Status>;
}

/// Protocol Buffers, through prost: the codec of every generated service.
pub struct ProstCodec<E, D> {
    // fn(E, D): the codec holds no E or D, so it is Send, Sync and Copy whatever they are.
    _types: PhantomData<fn(E, D)>,
}

impl<E, D> ProstCodec<E, D> {
    /// The codec.
    pub const fn new() -> ProstCodec<E, D> {
        ProstCodec {
            _types: PhantomData,
        }
    }
}

impl<E, D> Default for ProstCodec<E, D> {
    fn default() -> ProstCodec<E, D> {
        ProstCodec::new()
    }
}

impl<E, D> Clone for ProstCodec<E, D> {
    fn clone(&self) -> ProstCodec<E, D> {
        *self
    }
}

impl<E, D> Copy for ProstCodec<E, D> {}

impl<E, D> fmt::Debug for ProstCodec<E, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProstCodec")
    }
}

impl<E, D> Codec for ProstCodec<E, D>
where
    E: prost::Message + 'static,
    D: prost::Message + Default + 'static,
{
    type Encode = E;
    type Decode = D;

    fn encoded_len(&self, message: &E) -> usize {
        message.encoded_len()
    }

    fn encode(&self, message: &E, buf: &mut BytesMut) -> Result<(), Status> {
        // BytesMut grows as needed, so prost's capacity check cannot fail here.
        message
            .encode(buf)
            .map_err(|e| Status::internal(format!("failed to encode message: {e}")))
    }

    fn decode(&self, payload: Bytes) -> Result<D, Status> {
        D::decode(payload).map_err(|e| Status::internal(format!("failed to decode message: {e}")))
    }
}
