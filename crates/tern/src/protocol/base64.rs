//! Base64 as gRPC uses it for `-bin` metadata and `grpc-status-details-bin`: sent unpadded,
//! accepted padded or unpadded.

use base64::engine::{general_purpose, DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

/// Encodes without padding, as gRPC implementations send it.
pub(crate) const STANDARD_NO_PAD: GeneralPurpose = general_purpose::STANDARD_NO_PAD;

const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes standard base64, padded or not; `None` when the input is not base64.
pub(crate) fn decode(input: &[u8]) -> Option<Vec<u8>> {
    LENIENT.decode(input).ok()
}
