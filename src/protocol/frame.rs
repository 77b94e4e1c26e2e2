//! Size-prefixed frames and whole request/response encoding.
//!
//! On the wire every request and response is an `int32` size followed by that
//! many bytes: a header, then the body. [`read_frame`] enforces a maximum size
//! before it trusts the prefix, and grows its buffer only as bytes arrive, so
//! a hostile size costs nothing until the peer actually sends the data.

use std::io::{self, Read};

use super::error::{DecodeError, EncodeError};
use super::header::{RequestHeader, ResponseHeader};
use super::messages::RequestBody;
use super::primitives::{Decoder, Writer};
use super::{Message, Request};

/// Default cap on a received frame: 100 MiB, Kafka's `socket.request.max.bytes`.
pub const DEFAULT_MAX_FRAME: usize = 100 * 1024 * 1024;

/// Checks a frame size prefix against `max`.
pub fn check_frame_size(size: i32, max: usize) -> Result<usize, DecodeError> {
    if size < 0 || size as usize > max {
        return Err(DecodeError::FrameTooLarge { size: i64::from(size), max });
    }
    Ok(size as usize)
}

/// Reads one frame (without its size prefix) into `buf`, replacing its
/// contents. Fails with `InvalidData` if the size prefix is negative or above
/// `max`, and with `UnexpectedEof` if the stream ends inside the frame.
pub fn read_frame(r: &mut impl Read, max: usize, buf: &mut Vec<u8>) -> io::Result<()> {
    let mut size = [0u8; 4];
    r.read_exact(&mut size)?;
    let size = check_frame_size(i32::from_be_bytes(size), max)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    buf.clear();
    // `take` + `read_to_end` grows the buffer as data arrives instead of
    // allocating `size` bytes on the peer's word.
    let got = r.take(size as u64).read_to_end(buf)?;
    if got != size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("frame truncated: {got} of {size} bytes"),
        ));
    }
    Ok(())
}

/// Starts a frame in `buf` by reserving its 4-byte size prefix; returns the
/// prefix position for [`finish_frame`].
pub fn start_frame(buf: &mut Vec<u8>) -> usize {
    let at = buf.len();
    buf.put_i32(0);
    at
}

/// Fills in the size prefix reserved by [`start_frame`].
pub fn finish_frame(buf: &mut [u8], at: usize) -> Result<(), EncodeError> {
    finish_spliced_frame(buf, at, &Splices::default())
}

/// Fills in the size prefix reserved by [`start_frame`] for a frame whose
/// bytes are `buf` from `at` with `splices` inserted.
pub(crate) fn finish_spliced_frame(
    buf: &mut [u8],
    at: usize,
    splices: &Splices<'_>,
) -> Result<(), EncodeError> {
    let len = buf.len() - at - 4 + splices.len();
    let size = i32::try_from(len).map_err(|_| EncodeError::TooLong { what: "frame", len })?;
    buf[at..at + 4].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

/// Borrowed bytes that belong inside an encoded buffer but are not copied
/// into it: each part goes at its position in the buffer (positions
/// ascending). A Produce request keeps its record batches out of its buffer
/// this way and goes out in one vectored write (the batches are most of its
/// bytes: copying them cost the broker thread a pass over every byte sent).
#[derive(Debug, Default)]
pub(crate) struct Splices<'b> {
    parts: Vec<(usize, &'b [u8])>,
    len: usize,
}

impl<'b> Splices<'b> {
    /// Inserts `bytes` at position `at` of the buffer (not before the
    /// previous part's position).
    pub fn push(&mut self, at: usize, bytes: &'b [u8]) {
        debug_assert!(self.parts.last().is_none_or(|(prev, _)| *prev <= at), "splices out of order");
        self.len += bytes.len();
        self.parts.push((at, bytes));
    }

    /// How many bytes the parts add to the buffer.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `buf` with the parts in place, as slices for a vectored write.
    pub fn io_slices<'a>(&'a self, buf: &'a [u8]) -> Vec<std::io::IoSlice<'a>> {
        let mut out = Vec::with_capacity(2 * self.parts.len() + 1);
        let mut from = 0;
        for &(at, bytes) in &self.parts {
            if at > from {
                out.push(std::io::IoSlice::new(&buf[from..at]));
            }
            if !bytes.is_empty() {
                out.push(std::io::IoSlice::new(bytes));
            }
            from = at;
        }
        if from < buf.len() {
            out.push(std::io::IoSlice::new(&buf[from..]));
        }
        out
    }

    /// `buf` with the parts in place, copied into one buffer.
    #[cfg(test)]
    pub fn assemble(&self, buf: &[u8]) -> Vec<u8> {
        self.io_slices(buf).iter().flat_map(|s| s.iter().copied()).collect()
    }
}

/// Appends a complete size-prefixed request frame (header and body) to `buf`.
pub fn encode_request<R: Request>(
    buf: &mut Vec<u8>,
    correlation_id: i32,
    client_id: Option<&str>,
    version: i16,
    request: &R,
) -> Result<(), EncodeError> {
    let at = start_frame(buf);
    let header = RequestHeader {
        api_key: R::API_KEY,
        api_version: version,
        correlation_id,
        client_id: client_id.map(str::to_owned),
    };
    header.encode(buf, R::request_header_version(version))?;
    request.encode(buf, version)?;
    finish_frame(buf, at)
}

/// Decodes a response frame (without its size prefix) to request type `R`
/// sent at `version`. Trailing bytes are an error.
pub fn decode_response<R: Request>(
    frame: &[u8],
    version: i16,
) -> Result<(ResponseHeader, R::Response), DecodeError> {
    let mut d = Decoder::new(frame);
    let header = ResponseHeader::decode(&mut d, R::response_header_version(version))?;
    let body = R::Response::decode(&mut d, version)?;
    d.finish()?;
    Ok((header, body))
}

/// Decodes a request frame (without its size prefix) of any API this codec
/// implements: what a broker (the crate's mock) does with incoming bytes.
pub fn decode_request(frame: &[u8]) -> Result<(RequestHeader, RequestBody), DecodeError> {
    let (api_key, version) = RequestHeader::peek_api(frame)?;
    let header_version = RequestBody::request_header_version(api_key, version)?;
    let mut d = Decoder::new(frame);
    let header = RequestHeader::decode(&mut d, header_version)?;
    let body = RequestBody::decode(api_key, version, &mut d)?;
    d.finish()?;
    Ok((header, body))
}

/// Appends a complete size-prefixed response frame answering a request of
/// type `R` at `version`: what a broker sends.
pub fn encode_response<R: Request>(
    buf: &mut Vec<u8>,
    correlation_id: i32,
    version: i16,
    response: &R::Response,
) -> Result<(), EncodeError> {
    let at = start_frame(buf);
    ResponseHeader { correlation_id }.encode(buf, R::response_header_version(version));
    response.encode(buf, version)?;
    finish_frame(buf, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_frame_rejects_oversize_and_negative() {
        let mut buf = Vec::new();
        let data = [0x7f, 0xff, 0xff, 0xff, 1, 2, 3];
        let e = read_frame(&mut &data[..], 1024, &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let data = [0xff, 0xff, 0xff, 0xfe];
        assert!(read_frame(&mut &data[..], 1024, &mut buf).is_err());
    }

    #[test]
    fn read_frame_truncated_and_ok() {
        let mut buf = Vec::new();
        let data = [0, 0, 0, 5, 1, 2];
        let e = read_frame(&mut &data[..], 1024, &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        let data = [0, 0, 0, 2, 9, 8, 7];
        let mut r = &data[..];
        read_frame(&mut r, 1024, &mut buf).unwrap();
        assert_eq!(buf, [9, 8]);
        assert_eq!(r, [7]);
    }

    #[test]
    fn read_frame_hostile_size_allocates_little() {
        // Claims 100 MiB but sends 3 bytes: must fail without a 100 MiB buffer.
        let data = [0x06, 0x40, 0x00, 0x00, 1, 2, 3];
        let mut buf = Vec::new();
        assert!(read_frame(&mut &data[..], DEFAULT_MAX_FRAME, &mut buf).is_err());
        assert!(buf.capacity() < 1 << 20);
    }

    #[test]
    fn splices_go_in_their_places_and_count_in_the_size() {
        let mut buf = Vec::new();
        let at = start_frame(&mut buf);
        buf.extend_from_slice(b"ab");
        let mut splices = Splices::default();
        splices.push(buf.len(), b"XYZ");
        splices.push(buf.len(), b""); // an empty part adds nothing
        splices.push(buf.len(), b"Q"); // two parts at one place keep their order
        buf.extend_from_slice(b"cd");
        splices.push(buf.len(), b"tail");
        finish_spliced_frame(&mut buf, at, &splices).unwrap();
        let whole = splices.assemble(&buf);
        assert_eq!(&whole[4..], b"abXYZQcdtail");
        assert_eq!(i32::from_be_bytes(whole[..4].try_into().unwrap()), 12);
        assert_eq!(splices.len(), 8);
        // Nothing spliced: the buffer as it is, one slice.
        let none = Splices::default();
        assert_eq!(none.io_slices(&buf).len(), 1);
        assert_eq!(none.assemble(&buf), buf);
        // A part at the very start.
        let mut first = Splices::default();
        first.push(0, b"0");
        assert_eq!(first.assemble(b"12"), b"012");
    }
}
