//! The receiving direction of HPACK: one connection's decoder, which turns header blocks into
//! header fields and keeps the peer's dynamic table in step.
//!
//! A field found in a table costs no allocation: static entries are `Bytes::from_static` and
//! dynamic ones hand out reference-counted clones. Literals are decoded into a scratch buffer
//! and split off it, so the literals of a block share one allocation; a literal that goes into
//! the dynamic table is copied out to its exact size instead, so that a long-lived entry never
//! keeps a whole scratch chunk alive.

use bytes::{BufMut, Bytes, BytesMut};

use super::table::{field_size, DynamicTable, STATIC_LEN, STATIC_TABLE};
use super::{huffman, integer, HpackError, DEFAULT_TABLE_SIZE};

/// How much the scratch buffer grows by when a literal does not fit what is left of it.
const SCRATCH_CHUNK: usize = 2048;

/// How many distinct `:path` literals the decoder remembers. A gRPC client calls a few methods
/// on a connection; eight covers that without making a miss slow.
const PATH_CACHE_SLOTS: usize = 8;

/// The longest `:path` literal (as sent) worth remembering; longer ones are decoded each time.
const MAX_CACHED_PATH: usize = 256;

/// One decoded header field.
///
/// The name and value are `Bytes`: for a static-table hit they point at the static table
/// itself, for a dynamic-table hit they share the entry's allocation, and for a literal they
/// share the block's scratch allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HeaderField {
    name: Bytes,
    value: Bytes,
    /// Sent as "never indexed": an intermediary must not compress it either (RFC 7541 §7.1.3).
    sensitive: bool,
}

impl HeaderField {
    pub(crate) fn new(name: Bytes, value: Bytes, sensitive: bool) -> HeaderField {
        HeaderField {
            name,
            value,
            sensitive,
        }
    }

    pub(crate) fn name(&self) -> &[u8] {
        &self.name
    }

    pub(crate) fn value(&self) -> &[u8] {
        &self.value
    }

    pub(crate) fn name_bytes(&self) -> &Bytes {
        &self.name
    }

    pub(crate) fn value_bytes(&self) -> &Bytes {
        &self.value
    }

    /// Whether the peer sent the field as never indexed (a secret, such as a credential).
    pub(crate) fn is_sensitive(&self) -> bool {
        self.sensitive
    }

    /// The field's size as SETTINGS_MAX_HEADER_LIST_SIZE counts it.
    pub(crate) fn size(&self) -> usize {
        field_size(&self.name, &self.value)
    }

    /// Whether this field's value is the very allocation `other` is (not just equal bytes).
    ///
    /// The decoder hands out the same `Bytes` each time the peer repeats a `:path`, whether as
    /// an index or as a literal it has seen (see [`Decoder`]), so a router that keeps the
    /// `Bytes` of the last path it resolved can skip comparing and looking up when this is
    /// true. Holding that clone keeps the allocation alive, so its address cannot be reused
    /// by different bytes.
    pub(crate) fn value_is(&self, other: &Bytes) -> bool {
        self.value.as_ptr() == other.as_ptr() && self.value.len() == other.len()
    }

    pub(crate) fn into_parts(self) -> (Bytes, Bytes) {
        (self.name, self.value)
    }
}

/// A `:path` literal seen before, by its bytes as sent.
#[derive(Debug)]
struct CachedPath {
    huffman: bool,
    wire: Box<[u8]>,
    path: Bytes,
}

/// The `:path`s the decoder has decoded from literals lately (design note §4, after pajamax):
/// a client that sends its path as a literal each call (without indexing, or indexed into a
/// table too small to keep it) costs a short comparison instead of a Huffman decode and an
/// allocation. Paths that arrive as indices need no cache: the dynamic entry is the cache.
#[derive(Debug, Default)]
struct PathCache {
    slots: [Option<CachedPath>; PATH_CACHE_SLOTS],
    /// The slot the next miss replaces, round-robin.
    next: usize,
}

impl PathCache {
    fn get(&self, huffman: bool, wire: &[u8]) -> Option<&Bytes> {
        self.slots
            .iter()
            .flatten()
            .find(|cached| cached.huffman == huffman && *cached.wire == *wire)
            .map(|cached| &cached.path)
    }

    fn put(&mut self, huffman: bool, wire: &[u8], path: Bytes) {
        self.slots[self.next] = Some(CachedPath {
            huffman,
            wire: wire.into(),
            path,
        });
        self.next = (self.next + 1) % PATH_CACHE_SLOTS;
    }
}

/// A string literal in the block, not yet decoded.
#[derive(Clone, Copy, Debug)]
struct Literal<'a> {
    huffman: bool,
    bytes: &'a [u8],
}

impl Literal<'_> {
    /// Checks the string is well-formed without decoding it anywhere.
    fn validate(&self) -> Result<(), HpackError> {
        if self.huffman {
            huffman::validate(self.bytes)?;
        }
        Ok(())
    }
}

/// A literal field's name: from a table, or a string still to decode.
#[derive(Debug)]
enum Name<'a> {
    Indexed(Bytes),
    Literal(Literal<'a>),
}

/// Where a decoded string is going, which decides how it is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keep {
    /// Into the dynamic table: copied out to its exact size.
    Table,
    /// Only to the caller: split off the scratch buffer.
    Caller,
}

/// The receiving half of one connection's HPACK state.
#[derive(Debug)]
pub(crate) struct Decoder {
    table: DynamicTable,
    /// The SETTINGS_HEADER_TABLE_SIZE in force for the peer: no size update may ask for more.
    max_size_limit: usize,
    /// We lowered the limit below the table the peer uses, so its next block must start with a
    /// size update (RFC 7541 §4.2).
    size_update_required: bool,
    scratch: BytesMut,
    paths: PathCache,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder as HTTP/2 starts one: SETTINGS_HEADER_TABLE_SIZE at its initial
    /// [`DEFAULT_TABLE_SIZE`], and the peer's table that large until it says otherwise. If we
    /// advertise another value, [`Decoder::set_max_table_size`] applies it.
    pub(crate) fn new() -> Decoder {
        Decoder {
            table: DynamicTable::new(DEFAULT_TABLE_SIZE),
            max_size_limit: DEFAULT_TABLE_SIZE,
            size_update_required: false,
            scratch: BytesMut::new(),
            paths: PathCache::default(),
        }
    }

    /// A decoder whose peer starts with a table of `size` octets, without a size update: how
    /// RFC 7541's examples begin (C.5 and C.6 use 256), which HTTP/2 itself never does.
    #[cfg(test)]
    pub(crate) fn with_table_size(size: usize) -> Decoder {
        Decoder {
            table: DynamicTable::new(size),
            max_size_limit: size,
            ..Decoder::new()
        }
    }

    /// Applies a new SETTINGS_HEADER_TABLE_SIZE of ours. Call it when the peer acknowledges the
    /// SETTINGS frame that carried it: blocks before the acknowledgement were encoded under
    /// the old value, and frames arrive in order. A lower limit than the peer's table obliges
    /// it to shrink at its next block; a higher one only allows it to grow when it chooses.
    pub(crate) fn set_max_table_size(&mut self, limit: usize) {
        self.max_size_limit = limit;
        if self.table.max_size() > limit {
            self.size_update_required = true;
        }
    }

    /// The peer's dynamic table as this side holds it.
    pub(crate) fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Decodes one whole header block, handing each field to `on_header` in order.
    ///
    /// Once the fields add up to more than `max_header_list_size` (counted as RFC 9113 §6.5.2
    /// does), no more are handed out or kept, but the rest of the block is still read so that
    /// the dynamic table stays in step with the peer's, and the result is
    /// [`HpackError::HeaderListTooLarge`]: the connection survives and only the stream is
    /// refused. The work and memory for that stay bounded by the block's length. Any other
    /// error leaves the table in an unknown state and must end the connection.
    pub(crate) fn decode(
        &mut self,
        block: &[u8],
        max_header_list_size: usize,
        mut on_header: impl FnMut(HeaderField),
    ) -> Result<(), HpackError> {
        let mut pos = 0;
        let mut field_seen = false;
        let mut list_size = 0usize;
        let mut over_limit = false;
        // Hands a field on unless the list has gone past the limit with it.
        let mut deliver = |field: HeaderField, over_limit: &mut bool| {
            list_size = list_size.saturating_add(field.size());
            if list_size > max_header_list_size {
                *over_limit = true;
            }
            if !*over_limit {
                on_header(field);
            }
        };
        while let Some(&first) = block.get(pos) {
            if first & 0x20 != 0 && first & 0xc0 == 0 {
                // 001xxxxx: dynamic table size update.
                if field_seen {
                    return Err(HpackError::TableSizeUpdateNotAtStart);
                }
                let requested = integer::decode(block, &mut pos, 5)?;
                if requested > self.max_size_limit {
                    return Err(HpackError::TableSizeOverLimit {
                        requested,
                        limit: self.max_size_limit,
                    });
                }
                self.table.set_max_size(requested);
                self.size_update_required = false;
                continue;
            }
            if self.size_update_required {
                return Err(HpackError::TableSizeUpdateMissing);
            }
            field_seen = true;
            if first & 0x80 != 0 {
                // 1xxxxxxx: indexed field.
                let index = integer::decode(block, &mut pos, 7)?;
                let (name, value) = self.lookup(index)?;
                deliver(HeaderField::new(name, value, false), &mut over_limit);
            } else if first & 0x40 != 0 {
                // 01xxxxxx: literal with incremental indexing. Even past the list limit it is
                // decoded and inserted, so the table stays the peer's.
                let name_index = integer::decode(block, &mut pos, 6)?;
                let name = match name_index {
                    0 => {
                        let literal = read_literal(block, &mut pos)?;
                        self.string(literal, Keep::Table)?
                    }
                    index => self.lookup(index)?.0,
                };
                let literal = read_literal(block, &mut pos)?;
                let value = if name == ":path" {
                    self.path(literal)?
                } else {
                    self.string(literal, Keep::Table)?
                };
                self.table.insert(name.clone(), value.clone());
                deliver(HeaderField::new(name, value, false), &mut over_limit);
            } else {
                // 0001xxxx: never indexed; 0000xxxx: without indexing.
                let sensitive = first & 0x10 != 0;
                let name_index = integer::decode(block, &mut pos, 4)?;
                // The name is looked up now, so a bad index is reported before the value is
                // read, but a literal name is decoded only if the field is handed out.
                let name = match name_index {
                    0 => Name::Literal(read_literal(block, &mut pos)?),
                    index => Name::Indexed(self.lookup(index)?.0),
                };
                let value_literal = read_literal(block, &mut pos)?;
                if over_limit {
                    // Nothing more is handed out: check the strings, keep nothing.
                    if let Name::Literal(literal) = name {
                        literal.validate()?;
                    }
                    value_literal.validate()?;
                    continue;
                }
                let name = match name {
                    Name::Indexed(name) => name,
                    Name::Literal(literal) => self.string(literal, Keep::Caller)?,
                };
                let value = if name == ":path" && !sensitive {
                    self.path(value_literal)?
                } else {
                    self.string(value_literal, Keep::Caller)?
                };
                deliver(HeaderField::new(name, value, sensitive), &mut over_limit);
            }
        }
        if over_limit {
            return Err(HpackError::HeaderListTooLarge {
                limit: max_header_list_size,
            });
        }
        Ok(())
    }

    /// The name and value at an HPACK index: 1 to 61 static, then the dynamic table.
    fn lookup(&self, index: usize) -> Result<(Bytes, Bytes), HpackError> {
        if index == 0 {
            return Err(HpackError::IndexZero);
        }
        if let Some(&(name, value)) = STATIC_TABLE.get(index - 1) {
            return Ok((Bytes::from_static(name), Bytes::from_static(value)));
        }
        match self.table.get(index - 1 - STATIC_LEN) {
            Some(entry) => Ok((entry.name.clone(), entry.value.clone())),
            None => Err(HpackError::IndexOutOfRange {
                index,
                entries: STATIC_LEN + self.table.len(),
            }),
        }
    }

    /// Decodes a string literal, stored as `keep` says.
    fn string(&mut self, literal: Literal<'_>, keep: Keep) -> Result<Bytes, HpackError> {
        if keep == Keep::Table && !literal.huffman {
            return Ok(Bytes::copy_from_slice(literal.bytes));
        }
        // Room for the longest the literal can decode to, so the buffer never grows mid-way.
        let needed = if literal.huffman {
            literal.bytes.len() / 5 * 8 + 8
        } else {
            literal.bytes.len()
        };
        if self.scratch.capacity() - self.scratch.len() < needed {
            self.scratch.reserve(needed.max(SCRATCH_CHUNK));
        }
        if literal.huffman {
            huffman::decode(literal.bytes, &mut self.scratch)?;
        } else {
            self.scratch.put_slice(literal.bytes);
        }
        let decoded = self.scratch.split();
        Ok(match keep {
            Keep::Caller => decoded.freeze(),
            // The scratch chunk is left for the next literal; the entry gets its own copy.
            Keep::Table => Bytes::copy_from_slice(&decoded),
        })
    }

    /// Decodes a `:path` value through the path cache. The result is also what a dynamic
    /// entry keeps, so it is always stored at its exact size.
    fn path(&mut self, literal: Literal<'_>) -> Result<Bytes, HpackError> {
        if let Some(path) = self.paths.get(literal.huffman, literal.bytes) {
            return Ok(path.clone());
        }
        let path = self.string(literal, Keep::Table)?;
        if literal.bytes.len() <= MAX_CACHED_PATH {
            self.paths.put(literal.huffman, literal.bytes, path.clone());
        }
        Ok(path)
    }
}

/// Reads a string literal's header (Huffman flag and length) and finds its bytes.
fn read_literal<'a>(block: &'a [u8], pos: &mut usize) -> Result<Literal<'a>, HpackError> {
    let huffman = *block.get(*pos).ok_or(HpackError::Truncated)? & 0x80 != 0;
    let len = integer::decode(block, pos, 7)?;
    let end = pos.checked_add(len).ok_or(HpackError::Truncated)?;
    let bytes = block.get(*pos..end).ok_or(HpackError::Truncated)?;
    *pos = end;
    Ok(Literal { huffman, bytes })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    /// Decodes a block with no list limit worth the name.
    fn decode_all(decoder: &mut Decoder, block: &[u8]) -> Result<Vec<HeaderField>, HpackError> {
        let mut fields = Vec::new();
        decoder
            .decode(block, usize::MAX, |field| fields.push(field))
            .map(|()| fields)
    }

    fn pairs(fields: &[HeaderField]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|f| {
                (
                    String::from_utf8_lossy(f.name()).into_owned(),
                    String::from_utf8_lossy(f.value()).into_owned(),
                )
            })
            .collect()
    }

    fn table_pairs(decoder: &Decoder) -> Vec<(String, String)> {
        decoder
            .table()
            .iter()
            .map(|e| {
                (
                    String::from_utf8_lossy(&e.name).into_owned(),
                    String::from_utf8_lossy(&e.value).into_owned(),
                )
            })
            .collect()
    }

    fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|&(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    }

    /// One step of an Appendix C series: a block, the list it decodes to, and the dynamic
    /// table (newest first) and its size afterwards.
    pub(crate) struct Step {
        pub(crate) block: &'static str,
        pub(crate) headers: &'static [(&'static str, &'static str)],
        pub(crate) table: &'static [(&'static str, &'static str)],
        pub(crate) size: usize,
    }

    fn check_series(max_table_size: usize, steps: &[Step]) {
        let mut decoder = Decoder::with_table_size(max_table_size);
        for (i, step) in steps.iter().enumerate() {
            let fields = decode_all(&mut decoder, &hex(step.block)).unwrap();
            assert_eq!(pairs(&fields), owned(step.headers), "headers of block {i}");
            assert_eq!(
                table_pairs(&decoder),
                owned(step.table),
                "table after block {i}"
            );
            assert_eq!(
                decoder.table().size(),
                step.size,
                "table size after block {i}"
            );
        }
    }

    /// C.2.1: literal with indexing.
    #[test]
    fn c_2_1_literal_with_indexing() {
        check_series(
            4096,
            &[Step {
                block: "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
                headers: &[("custom-key", "custom-header")],
                table: &[("custom-key", "custom-header")],
                size: 55,
            }],
        );
    }

    /// C.2.2: literal without indexing, name from the static table.
    #[test]
    fn c_2_2_literal_without_indexing() {
        let mut decoder = Decoder::default();
        let fields = decode_all(&mut decoder, &hex("040c 2f73 616d 706c 652f 7061 7468")).unwrap();
        assert_eq!(pairs(&fields), owned(&[(":path", "/sample/path")]));
        assert!(!fields[0].is_sensitive());
        assert_eq!(decoder.table().len(), 0);
    }

    /// C.2.3: literal never indexed.
    #[test]
    fn c_2_3_literal_never_indexed() {
        let mut decoder = Decoder::default();
        let block = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
        let fields = decode_all(&mut decoder, &block).unwrap();
        assert_eq!(pairs(&fields), owned(&[("password", "secret")]));
        assert!(fields[0].is_sensitive());
        assert_eq!(decoder.table().len(), 0);
    }

    /// C.2.4: indexed field.
    #[test]
    fn c_2_4_indexed_field() {
        let mut decoder = Decoder::default();
        let fields = decode_all(&mut decoder, &[0x82]).unwrap();
        assert_eq!(pairs(&fields), owned(&[(":method", "GET")]));
        assert_eq!(decoder.table().len(), 0);
    }

    pub(crate) const C3_REQUESTS: &[Step] = &[
        Step {
            block: "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
            headers: &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
            ],
            table: &[(":authority", "www.example.com")],
            size: 57,
        },
        Step {
            block: "8286 84be 5808 6e6f 2d63 6163 6865",
            headers: &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
                ("cache-control", "no-cache"),
            ],
            table: &[
                ("cache-control", "no-cache"),
                (":authority", "www.example.com"),
            ],
            size: 110,
        },
        Step {
            block: "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
            headers: &[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/index.html"),
                (":authority", "www.example.com"),
                ("custom-key", "custom-value"),
            ],
            table: &[
                ("custom-key", "custom-value"),
                ("cache-control", "no-cache"),
                (":authority", "www.example.com"),
            ],
            size: 164,
        },
    ];

    /// C.4: the same requests with Huffman-coded literals.
    pub(crate) const C4_REQUESTS: &[Step] = &[
        Step {
            block: "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
            ..C3_REQUESTS[0]
        },
        Step {
            block: "8286 84be 5886 a8eb 1064 9cbf",
            ..C3_REQUESTS[1]
        },
        Step {
            block: "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
            ..C3_REQUESTS[2]
        },
    ];

    pub(crate) const C5_RESPONSES: &[Step] = &[
        Step {
            block: "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 \
                    3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 \
                    7777 2e65 7861 6d70 6c65 2e63 6f6d",
            headers: &[
                (":status", "302"),
                ("cache-control", "private"),
                ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
                ("location", "https://www.example.com"),
            ],
            table: &[
                ("location", "https://www.example.com"),
                ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
                ("cache-control", "private"),
                (":status", "302"),
            ],
            size: 222,
        },
        Step {
            block: "4803 3330 37c1 c0bf",
            headers: &[
                (":status", "307"),
                ("cache-control", "private"),
                ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
                ("location", "https://www.example.com"),
            ],
            table: &[
                (":status", "307"),
                ("location", "https://www.example.com"),
                ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
                ("cache-control", "private"),
            ],
            size: 222,
        },
        Step {
            block: "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 \
                    3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a \
                    584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 \
                    3630 303b 2076 6572 7369 6f6e 3d31",
            headers: &[
                (":status", "200"),
                ("cache-control", "private"),
                ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
                ("location", "https://www.example.com"),
                ("content-encoding", "gzip"),
                (
                    "set-cookie",
                    "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
                ),
            ],
            table: &[
                (
                    "set-cookie",
                    "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
                ),
                ("content-encoding", "gzip"),
                ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
            ],
            size: 215,
        },
    ];

    /// C.6: the same responses with Huffman-coded literals; evictions are the same because
    /// sizes count decoded lengths.
    pub(crate) const C6_RESPONSES: &[Step] = &[
        Step {
            block: "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 \
                    66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
            ..C5_RESPONSES[0]
        },
        Step {
            block: "4883 640e ffc1 c0bf",
            ..C5_RESPONSES[1]
        },
        Step {
            block: "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a \
                    839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 \
                    72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
            ..C5_RESPONSES[2]
        },
    ];

    #[test]
    fn c_3_requests_without_huffman() {
        check_series(4096, C3_REQUESTS);
    }

    #[test]
    fn c_4_requests_with_huffman() {
        check_series(4096, C4_REQUESTS);
    }

    #[test]
    fn c_5_responses_without_huffman_with_evictions() {
        check_series(256, C5_RESPONSES);
    }

    #[test]
    fn c_6_responses_with_huffman_with_evictions() {
        check_series(256, C6_RESPONSES);
    }

    #[test]
    fn indexed_hits_share_the_table_s_allocations() {
        let mut decoder = Decoder::default();
        // :path /pkg.Svc/Call with incremental indexing, then the same as index 62.
        let mut block = vec![0x44, 14];
        block.extend_from_slice(b"/pkg.Svc/Call0");
        let first = decode_all(&mut decoder, &block).unwrap();
        let again = decode_all(&mut decoder, &[0xbe]).unwrap();
        assert_eq!(again[0].value(), b"/pkg.Svc/Call0");
        assert!(again[0].value_is(first[0].value_bytes()));
        let entry = decoder.table().get(0).unwrap();
        assert!(again[0].value_is(&entry.value));
        // Static hits point at the static table.
        let fields = decode_all(&mut decoder, &[0x83]).unwrap();
        assert_eq!(fields[0].value_bytes().as_ptr(), STATIC_TABLE[2].1.as_ptr());
    }

    #[test]
    fn a_repeated_path_literal_is_decoded_once() {
        let mut encoded = Vec::new();
        huffman::encode(b"/helloworld.Greeter/SayHello", &mut encoded);
        // Literal without indexing, name :path (static 4), Huffman value.
        let mut block = vec![0x04, 0x80 | encoded.len() as u8];
        block.extend_from_slice(&encoded);
        let mut decoder = Decoder::default();
        let first = decode_all(&mut decoder, &block).unwrap();
        let second = decode_all(&mut decoder, &block).unwrap();
        assert_eq!(second[0].value(), b"/helloworld.Greeter/SayHello");
        assert!(second[0].value_is(first[0].value_bytes()));
        // A different path is its own entry.
        let mut other = block.clone();
        let last = other.len() - 1;
        other[last] ^= 0x01;
        if let Ok(fields) = decode_all(&mut decoder, &other) {
            assert!(!fields[0].value_is(first[0].value_bytes()));
        }
        // Never-indexed paths are not cached: they may be secrets.
        block[0] = 0x14;
        let hidden = decode_all(&mut decoder, &block).unwrap();
        assert!(!hidden[0].value_is(first[0].value_bytes()));
        assert!(hidden[0].is_sensitive());
    }

    #[test]
    fn errors_are_the_exact_variant() {
        let cases: &[(&str, &[u8], HpackError)] = &[
            ("index 0", &[0x80], HpackError::IndexZero),
            (
                "literal name index 0 is a literal name, so truncated",
                &[0x40],
                HpackError::Truncated,
            ),
            (
                "index past the tables",
                &[0xbe],
                HpackError::IndexOutOfRange {
                    index: 62,
                    entries: 61,
                },
            ),
            (
                "name index past the tables",
                &[0x0f, 0x30, 0x00],
                HpackError::IndexOutOfRange {
                    index: 63,
                    entries: 61,
                },
            ),
            ("truncated integer", &[0xff], HpackError::Truncated),
            ("truncated string length", &[0x04], HpackError::Truncated),
            (
                "truncated string",
                &[0x04, 0x03, b'/', b'a'],
                HpackError::Truncated,
            ),
            (
                "string length past the block",
                &[0x04, 0x7f, 0xff, 0x7f],
                HpackError::Truncated,
            ),
            (
                "ten-byte integer",
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
                HpackError::IntegerOverflow,
            ),
            (
                "bad Huffman padding",
                &[0x04, 0x81, 0b0000_0101],
                HpackError::HuffmanPadding,
            ),
            (
                "eight bits of padding",
                &[0x04, 0x81, 0xff],
                HpackError::HuffmanPadding,
            ),
            (
                "EOS in a string",
                &[0x04, 0x84, 0xff, 0xff, 0xff, 0xff],
                HpackError::HuffmanEos,
            ),
            (
                "size update over the limit",
                &[0x3f, 0xe2, 0x1f],
                HpackError::TableSizeOverLimit {
                    requested: 4097,
                    limit: 4096,
                },
            ),
            (
                "size update after a header",
                &[0x82, 0x20],
                HpackError::TableSizeUpdateNotAtStart,
            ),
        ];
        for (what, block, expected) in cases {
            let mut decoder = Decoder::default();
            assert_eq!(decode_all(&mut decoder, block), Err(*expected), "{what}");
            assert!(expected.is_compression_error());
        }
    }

    #[test]
    fn size_updates_at_the_start_resize_the_table() {
        let mut decoder = Decoder::default();
        decode_all(&mut decoder, &hex(C3_REQUESTS[0].block)).unwrap();
        assert_eq!(decoder.table().len(), 1);
        // Two updates, to 0 then back to 4096 (RFC 7541 §4.2 allows both), then a field.
        let fields = decode_all(&mut decoder, &[0x20, 0x3f, 0xe1, 0x1f, 0x82]).unwrap();
        assert_eq!(fields.len(), 1);
        assert_eq!(decoder.table().len(), 0);
        assert_eq!(decoder.table().max_size(), 4096);
    }

    #[test]
    fn lowering_our_limit_requires_an_update_next_block() {
        let mut decoder = Decoder::default();
        decoder.set_max_table_size(100);
        assert_eq!(
            decode_all(&mut decoder, &[0x82]),
            Err(HpackError::TableSizeUpdateMissing)
        );
        let mut decoder = Decoder::default();
        decoder.set_max_table_size(100);
        assert_eq!(
            decode_all(&mut decoder, &[0x3f, 0x46]),
            Err(HpackError::TableSizeOverLimit {
                requested: 101,
                limit: 100
            })
        );
        let mut decoder = Decoder::default();
        decoder.set_max_table_size(100);
        assert_eq!(
            decode_all(&mut decoder, &[0x3f, 0x45, 0x82]).map(|f| f.len()),
            Ok(1)
        );
        assert_eq!(decoder.table().max_size(), 100);
        // Raising it asks nothing of the peer.
        decoder.set_max_table_size(8192);
        assert_eq!(decode_all(&mut decoder, &[0x82]).map(|f| f.len()), Ok(1));
    }

    #[test]
    fn a_list_over_the_limit_is_refused_but_the_table_kept() {
        let mut decoder = Decoder::default();
        // C.3's first request: 42 + 43 + 38 + 57 = 180 bytes of list.
        let block = hex(C3_REQUESTS[0].block);
        let mut whole = 0;
        decoder
            .decode(&block, usize::MAX, |f| whole += f.size())
            .unwrap();
        assert_eq!(whole, 180);
        let mut decoder = Decoder::default();
        let mut delivered = Vec::new();
        let result = decoder.decode(&block, whole - 1, |f| delivered.push(f));
        assert_eq!(
            result,
            Err(HpackError::HeaderListTooLarge { limit: whole - 1 })
        );
        assert!(!result.unwrap_err().is_compression_error());
        // Fields before the one that crossed the limit were handed out, none after.
        assert_eq!(delivered.len(), 3);
        // The :authority literal was still inserted: the next block can refer to it.
        assert_eq!(table_pairs(&decoder), owned(C3_REQUESTS[0].table));
        let fields = decode_all(&mut decoder, &hex(C3_REQUESTS[1].block)).unwrap();
        assert_eq!(pairs(&fields), owned(C3_REQUESTS[1].headers));
    }

    #[test]
    fn a_huge_block_past_the_limit_keeps_nothing() {
        // 4,000 literal fields without indexing, each a 100-byte value: 528 KB of list.
        let mut block = Vec::new();
        for _ in 0..4000 {
            block.extend_from_slice(&[0x00, 0x01, b'x', 100]);
            block.extend_from_slice(&[b'v'; 100]);
        }
        let mut decoder = Decoder::default();
        let mut delivered = 0;
        let result = decoder.decode(&block, 16 * 1024, |_| delivered += 1);
        assert_eq!(
            result,
            Err(HpackError::HeaderListTooLarge { limit: 16 * 1024 })
        );
        assert_eq!(delivered, 16 * 1024 / 133);
        // The fields past the limit were read but not decoded anywhere (`Literal::validate`),
        // so what was allocated is bounded by the limit, not by the block. The table is intact.
        assert_eq!(decoder.table().len(), 0);
        assert_eq!(decode_all(&mut decoder, &[0x82]).map(|f| f.len()), Ok(1));
    }
}
