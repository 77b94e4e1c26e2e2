//! Kafka's primitive wire types: fixed-width big-endian integers, varints,
//! (compact, nullable) strings and bytes, arrays, tagged-field sections and UUIDs.
//!
//! Encoding goes through the [`Writer`] extension trait on `Vec<u8>`; decoding
//! through [`Decoder`], a cursor over a borrowed slice that checks every length
//! and count against the bytes that remain **before** it allocates anything.
//!
//! "Compact" forms are the ones flexible message versions use: an unsigned
//! varint holding `length + 1` (so `0` is null) instead of a fixed-width length.

use super::error::{DecodeError, EncodeError};

/// Largest number of elements any array decoder pre-allocates room for before
/// it has actually decoded them. Real counts beyond it grow the vector as
/// elements arrive, so a lying count costs at most this much up front.
pub const MAX_PREALLOC: usize = 1024;

/// A 128-bit UUID as Kafka sends it (topic ids): 16 raw bytes, most
/// significant first. The all-zero UUID means "none".
pub type Uuid = [u8; 16];

/// Encodes a zigzag varint (`sint32`) into the unsigned form written on the wire.
#[inline]
pub fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

/// Encodes a zigzag varlong (`sint64`) into the unsigned form written on the wire.
#[inline]
pub fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Number of bytes the unsigned varint encoding of `v` takes (1 to 5).
#[inline]
pub fn uvarint_len(v: u32) -> usize {
    match v {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0x0fff_ffff => 4,
        _ => 5,
    }
}

/// Number of bytes the unsigned varlong encoding of `v` takes (1 to 10).
#[inline]
pub fn uvarlong_len(v: u64) -> usize {
    // Each byte carries 7 bits; zero still takes one byte.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Number of bytes the zigzag varint encoding of `v` takes.
#[inline]
pub fn varint_len(v: i32) -> usize {
    uvarint_len(zigzag32(v))
}

/// Number of bytes the zigzag varlong encoding of `v` takes.
#[inline]
pub fn varlong_len(v: i64) -> usize {
    uvarlong_len(zigzag64(v))
}

/// Append-only encoding of Kafka primitives, implemented for `Vec<u8>`.
///
/// Methods that take a `flexible` flag write the compact form when it is
/// `true` and the classic fixed-width-length form otherwise.
pub trait Writer {
    /// Appends raw bytes.
    fn put_slice(&mut self, b: &[u8]);
    /// Appends an `int8`.
    fn put_i8(&mut self, v: i8) {
        self.put_slice(&[v as u8]);
    }
    /// Appends a `boolean` (one byte, 0 or 1).
    fn put_bool(&mut self, v: bool) {
        self.put_slice(&[v as u8]);
    }
    /// Appends a big-endian `int16`.
    fn put_i16(&mut self, v: i16) {
        self.put_slice(&v.to_be_bytes());
    }
    /// Appends a big-endian `uint16`.
    fn put_u16(&mut self, v: u16) {
        self.put_slice(&v.to_be_bytes());
    }
    /// Appends a big-endian `int32`.
    fn put_i32(&mut self, v: i32) {
        self.put_slice(&v.to_be_bytes());
    }
    /// Appends a big-endian `uint32`.
    fn put_u32(&mut self, v: u32) {
        self.put_slice(&v.to_be_bytes());
    }
    /// Appends a big-endian `int64`.
    fn put_i64(&mut self, v: i64) {
        self.put_slice(&v.to_be_bytes());
    }
    /// Appends a big-endian IEEE-754 `float64`.
    fn put_f64(&mut self, v: f64) {
        self.put_slice(&v.to_be_bytes());
    }
    /// Appends a `uuid` (16 raw bytes).
    fn put_uuid(&mut self, v: &Uuid) {
        self.put_slice(v);
    }
    /// Appends an `unsigned_varint` (LEB128, at most 5 bytes).
    fn put_uvarint(&mut self, mut v: u32) {
        let mut tmp = [0u8; 5];
        let mut n = 0;
        while v >= 0x80 {
            tmp[n] = (v as u8) | 0x80;
            v >>= 7;
            n += 1;
        }
        tmp[n] = v as u8;
        self.put_slice(&tmp[..=n]);
    }
    /// Appends an unsigned varlong (LEB128, at most 10 bytes).
    fn put_uvarlong(&mut self, mut v: u64) {
        let mut tmp = [0u8; 10];
        let mut n = 0;
        while v >= 0x80 {
            tmp[n] = (v as u8) | 0x80;
            v >>= 7;
            n += 1;
        }
        tmp[n] = v as u8;
        self.put_slice(&tmp[..=n]);
    }
    /// Appends a zigzag `varint`.
    fn put_varint(&mut self, v: i32) {
        self.put_uvarint(zigzag32(v));
    }
    /// Appends a zigzag `varlong`.
    fn put_varlong(&mut self, v: i64) {
        self.put_uvarlong(zigzag64(v));
    }
    /// Appends a length prefix: `int16` classic, `length + 1` uvarint compact.
    fn put_str_len(&mut self, len: usize, flexible: bool) -> Result<(), EncodeError> {
        if flexible {
            let v = u32::try_from(len)
                .ok()
                .and_then(|l| l.checked_add(1))
                .ok_or(EncodeError::TooLong { what: "string", len })?;
            self.put_uvarint(v);
        } else {
            let v = i16::try_from(len).map_err(|_| EncodeError::TooLong { what: "string", len })?;
            self.put_i16(v);
        }
        Ok(())
    }
    /// Appends a `string` / `compact_string`.
    fn put_string(&mut self, s: &str, flexible: bool) -> Result<(), EncodeError> {
        self.put_str_len(s.len(), flexible)?;
        self.put_slice(s.as_bytes());
        Ok(())
    }
    /// Appends a `nullable_string` / `compact_nullable_string`.
    fn put_nullable_string(&mut self, s: Option<&str>, flexible: bool) -> Result<(), EncodeError> {
        match s {
            Some(s) => self.put_string(s, flexible),
            None if flexible => {
                self.put_uvarint(0);
                Ok(())
            }
            None => {
                self.put_i16(-1);
                Ok(())
            }
        }
    }
    /// Appends a 32-bit length prefix: `int32` classic, `length + 1` uvarint compact.
    fn put_len32(&mut self, len: usize, flexible: bool, what: &'static str) -> Result<(), EncodeError> {
        if flexible {
            let v = u32::try_from(len)
                .ok()
                .and_then(|l| l.checked_add(1))
                .ok_or(EncodeError::TooLong { what, len })?;
            self.put_uvarint(v);
        } else {
            let v = i32::try_from(len).map_err(|_| EncodeError::TooLong { what, len })?;
            self.put_i32(v);
        }
        Ok(())
    }
    /// Appends a null 32-bit length (`-1` classic, `0` compact).
    fn put_null_len32(&mut self, flexible: bool) {
        if flexible {
            self.put_uvarint(0);
        } else {
            self.put_i32(-1);
        }
    }
    /// Appends `bytes` / `compact_bytes`.
    fn put_bytes(&mut self, b: &[u8], flexible: bool) -> Result<(), EncodeError> {
        self.put_len32(b.len(), flexible, "bytes")?;
        self.put_slice(b);
        Ok(())
    }
    /// Appends `nullable_bytes` / `compact_nullable_bytes`.
    fn put_nullable_bytes(&mut self, b: Option<&[u8]>, flexible: bool) -> Result<(), EncodeError> {
        match b {
            Some(b) => self.put_bytes(b, flexible),
            None => {
                self.put_null_len32(flexible);
                Ok(())
            }
        }
    }
    /// Appends an array element count (`int32` classic, `count + 1` compact).
    fn put_array_len(&mut self, len: usize, flexible: bool) -> Result<(), EncodeError> {
        self.put_len32(len, flexible, "array")
    }
    /// Appends a tagged-field section with no fields (a single `0` byte).
    fn put_empty_tagged_fields(&mut self) {
        self.put_uvarint(0);
    }
}

impl Writer for Vec<u8> {
    #[inline]
    fn put_slice(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }

    // Varints a byte at a time: a slice of a length known only at run time
    // costs a call to `memmove` for one to five bytes (a record has six
    // varints; the send path's profile showed it).
    #[inline]
    fn put_uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.push(v as u8);
    }

    #[inline]
    fn put_uvarlong(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.push(v as u8);
    }
}

/// Collects the tagged fields of one struct, then writes the section
/// (count, then each field as tag, size, bytes) in ascending tag order.
///
/// ```
/// use kafka_sync::protocol::primitives::{TaggedFields, Writer};
/// let mut buf = Vec::new();
/// let mut tags = TaggedFields::new();
/// tags.field(1, |b| b.put_i64(-1));
/// tags.write(&mut buf);
/// assert_eq!(buf, [1, 1, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
/// ```
#[derive(Debug, Default)]
pub struct TaggedFields {
    fields: Vec<(u32, Vec<u8>)>,
}

impl TaggedFields {
    /// An empty section.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds field `tag` whose body `f` writes. Tags must be added in ascending order.
    pub fn field(&mut self, tag: u32, f: impl FnOnce(&mut Vec<u8>)) {
        debug_assert!(self.fields.last().is_none_or(|(t, _)| *t < tag), "tags must ascend");
        let mut body = Vec::new();
        f(&mut body);
        self.fields.push((tag, body));
    }

    /// Adds field `tag` whose body `f` writes, where writing can fail.
    pub fn try_field(
        &mut self,
        tag: u32,
        f: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        let mut body = Vec::new();
        f(&mut body)?;
        self.fields.push((tag, body));
        Ok(())
    }

    /// Writes the section.
    pub fn write(self, buf: &mut Vec<u8>) {
        buf.put_uvarint(self.fields.len() as u32);
        for (tag, body) in self.fields {
            buf.put_uvarint(tag);
            buf.put_uvarint(body.len() as u32);
            buf.put_slice(&body);
        }
    }
}

/// A bounds-checked cursor over bytes received from the network.
///
/// Every method either consumes exactly the bytes of one value and returns it,
/// or returns a [`DecodeError`] and leaves the position unspecified. No method
/// panics or allocates more than the input could actually hold.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder positioned at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not yet consumed.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The unconsumed bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Fails with [`DecodeError::TrailingBytes`] unless every byte was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }

    /// Consumes and returns the next `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated { needed: n, remaining: self.remaining() });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Reads an `int8`.
    pub fn i8(&mut self) -> Result<i8, DecodeError> {
        Ok(self.array::<1>()?[0] as i8)
    }
    /// Reads a `boolean`; any non-zero byte is `true`, as in the Java client.
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.array::<1>()?[0] != 0)
    }
    /// Reads a big-endian `int16`.
    pub fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    /// Reads a big-endian `uint16`.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    /// Reads a big-endian `int32`.
    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    /// Reads a big-endian `uint32`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    /// Reads a big-endian `int64`.
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    /// Reads a big-endian `float64`.
    pub fn f64(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_be_bytes(self.array()?))
    }
    /// Reads a `uuid`.
    pub fn uuid(&mut self) -> Result<Uuid, DecodeError> {
        self.array()
    }

    /// Reads an `unsigned_varint`: at most 5 bytes, and the 5th may carry only 4 bits.
    pub fn uvarint(&mut self) -> Result<u32, DecodeError> {
        let mut v: u32 = 0;
        for i in 0..5 {
            let b = self.array::<1>()?[0];
            if i == 4 && b > 0x0f {
                return Err(DecodeError::VarintOverflow);
            }
            v |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::VarintOverflow)
    }

    /// Reads an unsigned varlong: at most 10 bytes, and the 10th may carry only 1 bit.
    pub fn uvarlong(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.array::<1>()?[0];
            if i == 9 && b > 0x01 {
                return Err(DecodeError::VarintOverflow);
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::VarintOverflow)
    }

    /// Reads a zigzag `varint`.
    pub fn varint(&mut self) -> Result<i32, DecodeError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i32) ^ -((u & 1) as i32))
    }

    /// Reads a zigzag `varlong`.
    pub fn varlong(&mut self) -> Result<i64, DecodeError> {
        let u = self.uvarlong()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// Reads a length prefix that may be null: `int16` (`-1` null) classic,
    /// `length + 1` uvarint (`0` null) compact. The length is checked against
    /// the remaining bytes.
    fn len16(&mut self, flexible: bool) -> Result<Option<usize>, DecodeError> {
        let len: i64 = if flexible { i64::from(self.uvarint()?) - 1 } else { i64::from(self.i16()?) };
        self.checked_len(len)
    }

    /// Like `len16` for 32-bit lengths (`bytes`, arrays): `int32` classic.
    fn len32(&mut self, flexible: bool) -> Result<Option<usize>, DecodeError> {
        let len: i64 = if flexible { i64::from(self.uvarint()?) - 1 } else { i64::from(self.i32()?) };
        self.checked_len(len)
    }

    fn checked_len(&self, len: i64) -> Result<Option<usize>, DecodeError> {
        match len {
            -1 => Ok(None),
            l if l < -1 => Err(DecodeError::NegativeLength(l)),
            l => {
                let l = l as usize;
                if l > self.remaining() {
                    Err(DecodeError::Truncated { needed: l, remaining: self.remaining() })
                } else {
                    Ok(Some(l))
                }
            }
        }
    }

    fn utf8(&mut self, len: usize) -> Result<String, DecodeError> {
        let b = self.take(len)?;
        std::str::from_utf8(b).map(str::to_owned).map_err(|_| DecodeError::InvalidUtf8)
    }

    /// Reads a `nullable_string` (classic) or `compact_nullable_string` (flexible).
    pub fn nullable_string(&mut self, flexible: bool) -> Result<Option<String>, DecodeError> {
        match self.len16(flexible)? {
            None => Ok(None),
            Some(n) => self.utf8(n).map(Some),
        }
    }

    /// Reads a non-null `string` / `compact_string`; null is an error.
    pub fn string(&mut self, flexible: bool) -> Result<String, DecodeError> {
        self.nullable_string(flexible)?.ok_or(DecodeError::UnexpectedNull("string"))
    }

    /// Reads `nullable_bytes` / `compact_nullable_bytes`, borrowing from the input.
    pub fn nullable_bytes(&mut self, flexible: bool) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.len32(flexible)? {
            None => Ok(None),
            Some(n) => self.take(n).map(Some),
        }
    }

    /// Reads non-null `bytes` / `compact_bytes`, borrowing from the input.
    pub fn bytes(&mut self, flexible: bool) -> Result<&'a [u8], DecodeError> {
        self.nullable_bytes(flexible)?.ok_or(DecodeError::UnexpectedNull("bytes"))
    }

    /// Reads an array count that may be null. A count is rejected unless the
    /// remaining bytes could hold that many elements of at least
    /// `min_elem_size` bytes each (use 1 for elements of unknown size).
    pub fn nullable_array_len(
        &mut self,
        flexible: bool,
        min_elem_size: usize,
    ) -> Result<Option<usize>, DecodeError> {
        let len: i64 = if flexible { i64::from(self.uvarint()?) - 1 } else { i64::from(self.i32()?) };
        match len {
            -1 => Ok(None),
            l if l < -1 => Err(DecodeError::NegativeLength(l)),
            l => {
                let l = l as usize;
                let needed = l.saturating_mul(min_elem_size.max(1));
                if needed > self.remaining() {
                    Err(DecodeError::CountTooLarge { count: l, remaining: self.remaining() })
                } else {
                    Ok(Some(l))
                }
            }
        }
    }

    /// Reads a non-null array count, checked as in [`Self::nullable_array_len`].
    pub fn array_len(&mut self, flexible: bool, min_elem_size: usize) -> Result<usize, DecodeError> {
        self.nullable_array_len(flexible, min_elem_size)?.ok_or(DecodeError::UnexpectedNull("array"))
    }

    /// Reads a non-null array whose elements `f` decodes.
    pub fn array_of<T>(
        &mut self,
        flexible: bool,
        min_elem_size: usize,
        mut f: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let n = self.array_len(flexible, min_elem_size)?;
        let mut v = Vec::with_capacity(n.min(MAX_PREALLOC));
        for _ in 0..n {
            v.push(f(self)?);
        }
        Ok(v)
    }

    /// Reads a nullable array whose elements `f` decodes.
    pub fn nullable_array_of<T>(
        &mut self,
        flexible: bool,
        min_elem_size: usize,
        mut f: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<Vec<T>>, DecodeError> {
        match self.nullable_array_len(flexible, min_elem_size)? {
            None => Ok(None),
            Some(n) => {
                let mut v = Vec::with_capacity(n.min(MAX_PREALLOC));
                for _ in 0..n {
                    v.push(f(self)?);
                }
                Ok(Some(v))
            }
        }
    }

    /// Reads a tagged-field section. `f` is called with each field's tag and a
    /// decoder over exactly that field's bytes, and returns `Ok(true)` if it
    /// knew the tag. Unknown tags are skipped; a known field that leaves bytes
    /// unread is an error, as are tags that do not strictly ascend.
    pub fn tagged_fields(
        &mut self,
        mut f: impl FnMut(u32, &mut Decoder<'a>) -> Result<bool, DecodeError>,
    ) -> Result<(), DecodeError> {
        let count = self.uvarint()? as usize;
        // Each field takes at least two bytes (tag and size).
        if count.saturating_mul(2) > self.remaining() {
            return Err(DecodeError::CountTooLarge { count, remaining: self.remaining() });
        }
        let mut last: Option<u32> = None;
        for _ in 0..count {
            let tag = self.uvarint()?;
            if last.is_some_and(|l| tag <= l) {
                return Err(DecodeError::Invalid("tagged fields out of order"));
            }
            last = Some(tag);
            let size = self.uvarint()? as usize;
            let body = self.take(size)?;
            let mut sub = Decoder::new(body);
            if f(tag, &mut sub)? {
                sub.finish()?;
            }
        }
        Ok(())
    }

    /// Reads a tagged-field section, skipping every field.
    pub fn skip_tagged_fields(&mut self) -> Result<(), DecodeError> {
        self.tagged_fields(|_, _| Ok(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_golden_bytes() {
        // Values and encodings from the protobuf / Kafka varint specification.
        let cases: &[(i32, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (300, &[0xd8, 0x04]),
            (i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for (v, bytes) in cases {
            let mut b = Vec::new();
            b.put_varint(*v);
            assert_eq!(&b[..], *bytes, "encode {v}");
            assert_eq!(varint_len(*v), bytes.len());
            let mut d = Decoder::new(bytes);
            assert_eq!(d.varint().unwrap(), *v);
            d.finish().unwrap();
        }
    }

    #[test]
    fn varlong_extremes() {
        for v in [0i64, -1, 1, i64::MAX, i64::MIN, 1 << 35, -(1 << 40)] {
            let mut b = Vec::new();
            b.put_varlong(v);
            assert_eq!(b.len(), varlong_len(v));
            assert_eq!(Decoder::new(&b).varlong().unwrap(), v);
        }
    }

    #[test]
    fn varint_overflow_rejected() {
        assert_eq!(Decoder::new(&[0xff, 0xff, 0xff, 0xff, 0x1f]).uvarint(), Err(DecodeError::VarintOverflow));
        assert_eq!(
            Decoder::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).uvarint(),
            Err(DecodeError::VarintOverflow)
        );
        assert_eq!(Decoder::new(&[0xff; 11]).uvarlong(), Err(DecodeError::VarintOverflow));
        assert_eq!(
            Decoder::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).uvarlong(),
            Err(DecodeError::VarintOverflow)
        );
        assert!(matches!(Decoder::new(&[0x80]).uvarint(), Err(DecodeError::Truncated { .. })));
    }

    #[test]
    fn hostile_lengths_rejected_before_allocation() {
        // i32::MAX element count with 4 bytes of input.
        let mut d = Decoder::new(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        assert!(matches!(d.array_len(false, 4), Err(DecodeError::CountTooLarge { .. })));
        // Negative string length other than -1.
        let mut d = Decoder::new(&[0xff, 0xfe]);
        assert_eq!(d.nullable_string(false), Err(DecodeError::NegativeLength(-2)));
        // Bytes length larger than the input.
        let mut d = Decoder::new(&[0, 0, 0, 10, 1, 2]);
        assert!(matches!(d.bytes(false), Err(DecodeError::Truncated { needed: 10, .. })));
        // Compact length u32::MAX.
        let mut d = Decoder::new(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(d.bytes(true).is_err());
    }

    #[test]
    fn strings_and_nulls() {
        let mut b = Vec::new();
        b.put_string("kafka", false).unwrap();
        b.put_nullable_string(None, false).unwrap();
        b.put_string("sync", true).unwrap();
        b.put_nullable_string(None, true).unwrap();
        b.put_nullable_bytes(None, false).unwrap();
        b.put_bytes(b"xy", true).unwrap();
        assert_eq!(
            b,
            [
                0, 5, b'k', b'a', b'f', b'k', b'a', 0xff, 0xff, 5, b's', b'y', b'n', b'c', 0, 0xff, 0xff,
                0xff, 0xff, 3, b'x', b'y'
            ]
        );
        let mut d = Decoder::new(&b);
        assert_eq!(d.string(false).unwrap(), "kafka");
        assert_eq!(d.nullable_string(false).unwrap(), None);
        assert_eq!(d.string(true).unwrap(), "sync");
        assert_eq!(d.nullable_string(true).unwrap(), None);
        assert_eq!(d.nullable_bytes(false).unwrap(), None);
        assert_eq!(d.bytes(true).unwrap(), b"xy");
        d.finish().unwrap();
        assert_eq!(Decoder::new(&[0, 1, 0xff]).string(false), Err(DecodeError::InvalidUtf8));
        assert_eq!(Decoder::new(&[0xff, 0xff]).string(false), Err(DecodeError::UnexpectedNull("string")));
    }

    #[test]
    fn tagged_fields_skip_unknown_and_check_order() {
        let mut tags = TaggedFields::new();
        tags.field(0, |b| b.put_i32(7));
        tags.field(5, |b| b.put_slice(b"ignored"));
        let mut b = Vec::new();
        tags.write(&mut b);
        let mut seen = None;
        let mut d = Decoder::new(&b);
        d.tagged_fields(|tag, f| match tag {
            0 => {
                seen = Some(f.i32()?);
                Ok(true)
            }
            _ => Ok(false),
        })
        .unwrap();
        d.finish().unwrap();
        assert_eq!(seen, Some(7));
        // Same tag twice.
        let bad = [2, 1, 0, 1, 0];
        assert!(Decoder::new(&bad).skip_tagged_fields().is_err());
        // Huge count.
        assert!(Decoder::new(&[0xff, 0xff, 0xff, 0xff, 0x0f]).skip_tagged_fields().is_err());
    }

    #[test]
    fn uvarlong_len_matches() {
        for v in [0u64, 1, 127, 128, 16383, 16384, u64::MAX] {
            let mut b = Vec::new();
            b.put_uvarlong(v);
            assert_eq!(b.len(), uvarlong_len(v), "{v}");
        }
        for v in [0u32, 127, 128, 16383, 16384, 0x1f_ffff, 0x20_0000, u32::MAX] {
            let mut b = Vec::new();
            b.put_uvarint(v);
            assert_eq!(b.len(), uvarint_len(v), "{v}");
        }
    }
}
