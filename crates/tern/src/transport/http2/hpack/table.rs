//! HPACK's two tables (RFC 7541 §2.3): the 61-entry static table every connection shares, and
//! one direction's dynamic table, newest entry first, bounded in octets.

use std::collections::VecDeque;

use bytes::Bytes;

/// RFC 7541 Appendix A, in index order from 1.
pub(crate) const STATIC_TABLE: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// How many entries the static table has; dynamic entries are numbered from one past it.
pub(crate) const STATIC_LEN: usize = STATIC_TABLE.len();

/// What RFC 7541 §4.1 adds to an entry's name and value lengths to count its size: an estimate
/// of an implementation's overhead, and what makes a flood of empty entries cost something.
pub(crate) const ENTRY_OVERHEAD: usize = 32;

/// The size of a field as HPACK and SETTINGS_MAX_HEADER_LIST_SIZE count it.
pub(crate) fn field_size(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + ENTRY_OVERHEAD
}

/// Where a field is in the static table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StaticMatch {
    /// Name and value match the entry at this index.
    Field(usize),
    /// Only the name matches; this is its first index.
    Name(usize),
}

/// Finds a field in the static table: an exact entry if there is one, else the name's first
/// entry. A match on the name picks the few entries to compare, instead of scanning 61.
pub(crate) fn find_static(name: &[u8], value: &[u8]) -> Option<StaticMatch> {
    let (first, last) = match name {
        b":authority" => (1, 1),
        b":method" => (2, 3),
        b":path" => (4, 5),
        b":scheme" => (6, 7),
        b":status" => (8, 14),
        b"accept-encoding" => (16, 16),
        _ => {
            // The other names have one entry each, with an empty value.
            let index = STATIC_TABLE
                .iter()
                .position(|&(entry_name, _)| entry_name == name)?
                + 1;
            return Some(if value.is_empty() {
                StaticMatch::Field(index)
            } else {
                StaticMatch::Name(index)
            });
        }
    };
    let exact = (first..=last).find(|&index| STATIC_TABLE[index - 1].1 == value);
    Some(exact.map_or(StaticMatch::Name(first), StaticMatch::Field))
}

/// One entry of a dynamic table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) name: Bytes,
    pub(crate) value: Bytes,
}

impl Entry {
    fn size(&self) -> usize {
        field_size(&self.name, &self.value)
    }
}

/// One direction's dynamic table: entries newest first, evicted oldest first so that their
/// sizes never add up to more than `max_size`.
#[derive(Debug)]
pub(crate) struct DynamicTable {
    entries: VecDeque<Entry>,
    size: usize,
    max_size: usize,
}

impl DynamicTable {
    pub(crate) fn new(max_size: usize) -> DynamicTable {
        DynamicTable {
            entries: VecDeque::new(),
            size: 0,
            max_size,
        }
    }

    /// The sum of the entries' sizes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    pub(crate) fn max_size(&self) -> usize {
        self.max_size
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry `index` places from the newest (0 is the newest), as HPACK numbers them less
    /// [`STATIC_LEN`] + 1.
    pub(crate) fn get(&self, index: usize) -> Option<&Entry> {
        self.entries.get(index)
    }

    /// The entries, newest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// Adds an entry, evicting the oldest until it fits. An entry larger than the whole table
    /// empties it and is not kept (RFC 7541 §4.4): not an error.
    pub(crate) fn insert(&mut self, name: Bytes, value: Bytes) {
        let entry = Entry { name, value };
        let entry_size = entry.size();
        if entry_size > self.max_size {
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.evict_to(self.max_size - entry_size);
        self.size += entry_size;
        self.entries.push_front(entry);
    }

    /// Whether an entry of this size would be kept by [`DynamicTable::insert`].
    pub(crate) fn fits(&self, entry_size: usize) -> bool {
        entry_size <= self.max_size
    }

    /// Changes the maximum size, evicting what no longer fits (RFC 7541 §4.3).
    pub(crate) fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            match self.entries.pop_back() {
                Some(evicted) => self.size -= evicted.size(),
                None => {
                    // Unreachable while `size` is the sum of the entries; reset rather than
                    // loop if it ever were not.
                    self.size = 0;
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_static_table_is_rfc_7541_appendix_a() {
        assert_eq!(STATIC_LEN, 61);
        assert_eq!(STATIC_TABLE[0], (&b":authority"[..], &b""[..]));
        assert_eq!(STATIC_TABLE[7], (&b":status"[..], &b"200"[..]));
        assert_eq!(
            STATIC_TABLE[15],
            (&b"accept-encoding"[..], &b"gzip, deflate"[..])
        );
        assert_eq!(STATIC_TABLE[30].0, b"content-type");
        assert_eq!(STATIC_TABLE[57].0, b"user-agent");
        assert_eq!(STATIC_TABLE[60].0, b"www-authenticate");
        // Only these entries have values; find_static's name ranges rely on it.
        for (i, (name, value)) in STATIC_TABLE.iter().enumerate() {
            let index = i + 1;
            assert_eq!(
                value.is_empty(),
                index == 1 || index > 16 || index == 15,
                "{index}"
            );
            assert!(name.iter().all(|b| !b.is_ascii_uppercase()));
        }
    }

    #[test]
    fn every_static_entry_is_found_at_its_index() {
        for (i, &(name, value)) in STATIC_TABLE.iter().enumerate() {
            assert_eq!(find_static(name, value), Some(StaticMatch::Field(i + 1)));
        }
        assert_eq!(find_static(b":method", b"PUT"), Some(StaticMatch::Name(2)));
        assert_eq!(find_static(b":status", b"503"), Some(StaticMatch::Name(8)));
        assert_eq!(
            find_static(b"content-type", b"application/grpc"),
            Some(StaticMatch::Name(31))
        );
        assert_eq!(find_static(b"te", b"trailers"), None);
        assert_eq!(find_static(b"grpc-status", b"0"), None);
    }

    fn bytes(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn entries_are_sized_and_evicted_oldest_first() {
        let mut table = DynamicTable::new(100);
        table.insert(bytes("a"), bytes("1")); // 34
        table.insert(bytes("b"), bytes("22")); // 35
        assert_eq!((table.len(), table.size()), (2, 69));
        assert_eq!(table.get(0).map(|e| &e.name[..]), Some(&b"b"[..]));
        table.insert(bytes("c"), bytes("333")); // 36: "a" goes
        assert_eq!((table.len(), table.size()), (2, 71));
        let names: Vec<_> = table.iter().map(|e| e.name.clone()).collect();
        assert_eq!(names, [bytes("c"), bytes("b")]);
        assert_eq!(table.get(2), None);
    }

    #[test]
    fn an_entry_larger_than_the_table_empties_it() {
        let mut table = DynamicTable::new(64);
        table.insert(bytes("a"), bytes("1"));
        assert!(!table.fits(65));
        table.insert(bytes("name"), bytes("a value that is far too long to fit"));
        assert_eq!((table.len(), table.size()), (0, 0));
    }

    #[test]
    fn shrinking_evicts_and_zero_empties() {
        let mut table = DynamicTable::new(4096);
        for i in 0..10 {
            table.insert(bytes(&format!("n{i}")), bytes("v"));
        }
        assert_eq!(table.size(), 350);
        table.set_max_size(100);
        assert_eq!((table.len(), table.size()), (2, 70));
        assert_eq!(table.get(0).map(|e| &e.name[..]), Some(&b"n9"[..]));
        table.set_max_size(0);
        assert_eq!((table.len(), table.size(), table.max_size()), (0, 0, 0));
        table.insert(bytes("x"), bytes(""));
        assert_eq!(table.len(), 0);
    }
}
