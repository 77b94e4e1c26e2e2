//! Request and response headers.
//!
//! Request header v1 is `api_key, api_version, correlation_id, client_id`
//! (nullable string); v2, used with flexible request versions, appends a
//! tagged-field section. Response header v0 is just `correlation_id`; v1 adds
//! a tagged-field section. The ApiVersions response header is always v0.

use super::error::{DecodeError, EncodeError};
use super::primitives::{Decoder, Writer};

/// The header in front of every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    /// The API key of the request body.
    pub api_key: i16,
    /// The version of the request body.
    pub api_version: i16,
    /// Echoed by the broker in the response header; matches responses to requests.
    pub correlation_id: i32,
    /// The client's id (`client.id`), or null.
    pub client_id: Option<String>,
}

impl RequestHeader {
    /// Writes the header in header version `header_version` (1 or 2).
    pub fn encode(&self, buf: &mut Vec<u8>, header_version: i16) -> Result<(), EncodeError> {
        buf.put_i16(self.api_key);
        buf.put_i16(self.api_version);
        buf.put_i32(self.correlation_id);
        // client_id is a classic nullable string even in header v2.
        buf.put_nullable_string(self.client_id.as_deref(), false)?;
        if header_version >= 2 {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    /// Reads the api key and version only, without consuming them, so the
    /// header version can be chosen before the full header is decoded.
    pub fn peek_api(frame: &[u8]) -> Result<(i16, i16), DecodeError> {
        let mut d = Decoder::new(frame);
        Ok((d.i16()?, d.i16()?))
    }

    /// Reads a header in header version `header_version` (1 or 2).
    pub fn decode(d: &mut Decoder<'_>, header_version: i16) -> Result<Self, DecodeError> {
        let api_key = d.i16()?;
        let api_version = d.i16()?;
        let correlation_id = d.i32()?;
        let client_id = d.nullable_string(false)?;
        if header_version >= 2 {
            d.skip_tagged_fields()?;
        }
        Ok(Self { api_key, api_version, correlation_id, client_id })
    }
}

/// The header in front of every response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHeader {
    /// The correlation id of the request this answers.
    pub correlation_id: i32,
}

impl ResponseHeader {
    /// Writes the header in header version `header_version` (0 or 1).
    pub fn encode(&self, buf: &mut Vec<u8>, header_version: i16) {
        buf.put_i32(self.correlation_id);
        if header_version >= 1 {
            buf.put_empty_tagged_fields();
        }
    }

    /// Reads a header in header version `header_version` (0 or 1).
    pub fn decode(d: &mut Decoder<'_>, header_version: i16) -> Result<Self, DecodeError> {
        let correlation_id = d.i32()?;
        if header_version >= 1 {
            d.skip_tagged_fields()?;
        }
        Ok(Self { correlation_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_header_golden() {
        let h =
            RequestHeader { api_key: 18, api_version: 3, correlation_id: 1, client_id: Some("ab".into()) };
        let mut b = Vec::new();
        h.encode(&mut b, 2).unwrap();
        assert_eq!(b, [0, 18, 0, 3, 0, 0, 0, 1, 0, 2, b'a', b'b', 0]);
        let mut d = Decoder::new(&b);
        assert_eq!(RequestHeader::decode(&mut d, 2).unwrap(), h);
        d.finish().unwrap();
    }
}
