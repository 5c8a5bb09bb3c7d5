//! A strict, iterative, non-allocating check of v1-encoded updates, run before yrs sees them.
//!
//! yrs 0.28 panics, aborts, or silently corrupts a document on some crafted updates (deep
//! nesting, clocks near `u32::MAX`, client ids past 2^53, lying counts, content kinds it
//! decodes differently from Yjs). This walks the v1 format once, accepting only what Yjs
//! itself produces for a text document and what yrs handles safely, and reports every client
//! range the update writes so rooms can enforce who may write under which client id.
//!
//! The grammar (lib0 v1): `varUint(clients) { varUint(structs) varUint(client) varUint(clock)
//! struct* }*` then the delete set `varUint(clients) { varUint(client) varUint(ranges)
//! { varUint(clock) varUint(len) }* }*`.

use crate::json::is_json;
use crate::wire::MAX_CLIENT_ID;
/// Clocks (and clock + length) must stay below this: past `i32::MAX` yrs applies the update
/// and then fails to encode the document forever after.
pub const MAX_CLOCK: u64 = i32::MAX as u64;
/// Deepest nesting of arrays and maps inside `Any` content.
pub const MAX_ANY_DEPTH: usize = 32;
/// Most distinct client sections in one update.
pub const MAX_CLIENTS: u64 = 1 << 16;

/// Why an update was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidUpdate {
    #[error("truncated or malformed at byte {0}")]
    Malformed(usize),
    #[error("{what} claims {claimed} entries with only {left} bytes left")]
    CountExceedsBytes {
        what: &'static str,
        claimed: u64,
        left: usize,
    },
    #[error("items inside nested shared types are not accepted (root-level types only)")]
    NestedParent,
    #[error("client section {0} repeated or out of order (yrs and Yjs write each client once, highest first)")]
    ClientsOutOfOrder(u64),
    #[error("client id {0} does not fit in 53 bits")]
    ClientIdTooLarge(u64),
    #[error("clock {0} is out of range")]
    ClockOutOfRange(u64),
    #[error("too many clients ({0}) in one update")]
    TooManyClients(u64),
    #[error("empty block or range")]
    Empty,
    #[error("unsupported content kind {0}")]
    UnsupportedContent(u8),
    #[error("unsupported shared type {0}")]
    UnsupportedType(u8),
    #[error("unknown value tag {0}")]
    UnknownAnyTag(u8),
    #[error("values nested deeper than {MAX_ANY_DEPTH} levels")]
    TooDeep,
    #[error("an item whose left and right origin are the same")]
    SameOrigins,
    #[error("an item whose origin is itself or a later item of its own client")]
    OriginNotBefore,
    #[error("{0} bytes after the end of the update")]
    TrailingBytes(usize),
}

/// A range of clocks an update writes under one client id (blocks it introduces or carries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientRange {
    pub client: u64,
    pub start: u32,
    pub end: u32,
}

/// An item whose place only the document can check (see [`crate::order`]): one with a right
/// origin (which must lie after its left origin), or one with no origins, whose parent is a
/// root type named in the update (which must match its left neighbour's if yrs cuts the item
/// because the document holds its first clocks). Items with only a left origin are not listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedItem {
    pub client: u64,
    pub clock: u32,
    pub len: u32,
    pub origin: Option<(u64, u32)>,
    pub right_origin: Option<(u64, u32)>,
    /// The root type named as its parent, for an item with no origins.
    pub root: Option<Box<str>>,
    /// Whether its content counts in the text (strings, embeds, values; not deleted content
    /// or formatting marks).
    pub countable: bool,
}

/// What a valid update holds that a room checks against its document.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Each client section's written range (skips excluded).
    pub ranges: Vec<ClientRange>,
    /// Items whose place the room checks after applying them.
    pub placed: Vec<PlacedItem>,
    /// Byte offset of the delete set: `update[..delete_set_at]` followed by an empty delete
    /// set (one 0 byte) is the same update without its deletions.
    pub delete_set_at: usize,
}

/// Checks `update`; calls `on_range` for every client section's written range (skips excluded).
pub fn validate_update_v1(
    update: &[u8],
    on_range: impl FnMut(ClientRange),
) -> Result<(), InvalidUpdate> {
    walk(update, on_range, |_| {}).map(|_| ())
}

/// Checks `update` and describes it (see [`Shape`]).
pub fn validate_update_v1_shape(update: &[u8]) -> Result<Shape, InvalidUpdate> {
    let mut shape = Shape::default();
    let mut placed = Vec::new();
    shape.delete_set_at = walk(
        update,
        |range| shape.ranges.push(range),
        |item| placed.push(item),
    )?;
    shape.placed = placed;
    Ok(shape)
}

/// The validator proper; returns the delete set's byte offset.
fn walk(
    update: &[u8],
    mut on_range: impl FnMut(ClientRange),
    mut on_placed: impl FnMut(PlacedItem),
) -> Result<usize, InvalidUpdate> {
    let mut r = Reader::new(update);
    let clients = r.count("client sections", 3)?;
    if clients > MAX_CLIENTS {
        return Err(InvalidUpdate::TooManyClients(clients));
    }
    // Each client once, in descending order, as every Yjs and yrs encoder writes them: yrs
    // merges repeated sections into one block list without ordering them, and then panics or
    // misplaces blocks (a section at clock 155 followed by one at clock 1, say).
    let mut previous_client = None;
    for _ in 0..clients {
        // Each struct is at least two bytes (info and a length or content).
        let structs = r.count("structs", 2)?;
        let client = r.client()?;
        if previous_client.is_some_and(|previous| client >= previous) {
            return Err(InvalidUpdate::ClientsOutOfOrder(client));
        }
        previous_client = Some(client);
        let start = r.clock()?;
        let mut clock = start;
        let mut written_end = start;
        for _ in 0..structs {
            let item = struct_len(&mut r, (client, clock))?;
            let (len, is_skip) = (item.len, item.skip);
            let end = clock
                .checked_add(len)
                .filter(|&end| end <= MAX_CLOCK)
                .ok_or(InvalidUpdate::ClockOutOfRange(clock.saturating_add(len)))?;
            if item.placed && (item.right_origin.is_some() || item.origin.is_none()) {
                on_placed(PlacedItem {
                    client,
                    clock: clock as u32,
                    len: len as u32,
                    origin: item.origin,
                    right_origin: item.right_origin,
                    root: item.root.map(Box::from),
                    countable: item.countable,
                });
            }
            clock = end;
            if !is_skip {
                written_end = clock;
            }
        }
        if written_end > start {
            on_range(ClientRange {
                client,
                start: start as u32,
                end: written_end as u32,
            });
        }
    }
    // The delete set.
    let delete_set_at = update.len() - r.left();
    let clients = r.count("delete set clients", 2)?;
    for _ in 0..clients {
        r.client()?;
        let ranges = r.count("delete ranges", 2)?;
        for _ in 0..ranges {
            let clock = r.clock()?;
            let len = r.var()?;
            if len == 0 {
                return Err(InvalidUpdate::Empty);
            }
            if clock.checked_add(len).is_none_or(|end| end > MAX_CLOCK) {
                return Err(InvalidUpdate::ClockOutOfRange(clock.saturating_add(len)));
            }
        }
    }
    let left = r.left();
    if left != 0 {
        return Err(InvalidUpdate::TrailingBytes(left));
    }
    Ok(delete_set_at)
}

/// One struct as the validator reads it.
struct Struct<'a> {
    /// Clock length.
    len: u64,
    /// A Skip (a gap, not written).
    skip: bool,
    /// An item (not a GC or Skip block).
    placed: bool,
    /// Its origins (clocks checked to fit in 32 bits).
    origin: Option<(u64, u32)>,
    right_origin: Option<(u64, u32)>,
    /// The root type named as its parent, when it has no origins.
    root: Option<&'a str>,
    countable: bool,
}

/// Reads one struct, the one at `id` (client, clock).
fn struct_len<'a>(r: &mut Reader<'a>, id: (u64, u64)) -> Result<Struct<'a>, InvalidUpdate> {
    let info = r.u8()?;
    match info {
        // GC and Skip: exactly these info bytes, as yrs matches them.
        0 | 10 => {
            let len = r.var()?;
            if len == 0 {
                return Err(InvalidUpdate::Empty);
            }
            return Ok(Struct {
                len,
                skip: info == 10,
                placed: false,
                origin: None,
                right_origin: None,
                root: None,
                countable: false,
            });
        }
        _ => {}
    }
    const HAS_ORIGIN: u8 = 0x80;
    const HAS_RIGHT_ORIGIN: u8 = 0x40;
    const HAS_PARENT_SUB: u8 = 0x20;
    // An origin is a neighbour the item had when it was written, so an item of the same
    // client with the same or a later clock cannot be one. yrs does not check: an item that
    // names itself as its right origin and overlaps what the document already has is cut by
    // yrs into a part whose two origins are the same (found by the `apply` fuzz target).
    let not_before = |origin: (u64, u64)| origin.0 == id.0 && origin.1 >= id.1;
    let origin = if info & HAS_ORIGIN != 0 {
        Some(r.id()?)
    } else {
        None
    };
    if origin.is_some_and(not_before) {
        return Err(InvalidUpdate::OriginNotBefore);
    }
    let right_origin = if info & HAS_RIGHT_ORIGIN != 0 {
        Some(r.id()?)
    } else {
        None
    };
    if right_origin.is_some_and(not_before) {
        return Err(InvalidUpdate::OriginNotBefore);
    }
    if right_origin.is_some() && origin == right_origin {
        // Yjs never writes this (the origins are an item's two different neighbours); yrs
        // integrates it one way live and another way when the document is encoded and
        // loaded again, so clients would diverge (found by the `apply` fuzz target).
        return Err(InvalidUpdate::SameOrigins);
    }
    let mut root = None;
    if info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN) == 0 {
        if r.var()? != 1 {
            // The parent is an item, i.e. a nested shared type. Documents here hold root-level
            // types only (the textarea's `content` text). yrs accepts a "parent" that is a text
            // character and then writes a snapshot that no longer loads, which would lose the
            // whole document on its next load (found by the `apply` fuzz target).
            return Err(InvalidUpdate::NestedParent);
        }
        root = Some(r.string()?);
        if info & HAS_PARENT_SUB != 0 {
            r.string()?;
        }
    }
    let len = content_len(r, info)?;
    if len == 0 {
        return Err(InvalidUpdate::Empty);
    }
    let id32 = |(client, clock): (u64, u64)| (client, clock as u32);
    Ok(Struct {
        len,
        skip: false,
        placed: true,
        origin: origin.map(id32),
        right_origin: right_origin.map(id32),
        root,
        countable: !matches!(info & 0x1f, 1 | 6),
    })
}

/// Reads an item's content (after its header), given its info byte; returns its clock length.
pub(crate) fn content_len(r: &mut Reader<'_>, info: u8) -> Result<u64, InvalidUpdate> {
    Ok(match info & 0x1f {
        // Deleted
        1 => r.var()?,
        // Binary
        3 => {
            r.buf()?;
            1
        }
        // String: its length in UTF-16 units, as Yjs counts clocks.
        4 => r.string()?.chars().map(|c| c.len_utf16() as u64).sum(),
        // Embed: JSON text
        5 => {
            json(r.string()?)?;
            1
        }
        // Format: key, JSON value
        6 => {
            r.string()?;
            json(r.string()?)?;
            1
        }
        // A nested shared type
        7 => {
            match r.u8()? {
                0 | 1 | 2 | 4 | 6 => {}
                3 => {
                    r.string()?; // XmlElement's tag name
                }
                other => return Err(InvalidUpdate::UnsupportedType(other)),
            }
            1
        }
        // Any values
        8 => {
            let count = r.count("values", 1)?;
            for _ in 0..count {
                any(r)?;
            }
            count
        }
        // 2 (JSON, read differently by yrs and Yjs), 9 (subdocuments) and anything else.
        other => return Err(InvalidUpdate::UnsupportedContent(other)),
    })
}

/// Checks one lib0 `Any` value without recursion: a fixed stack of remaining item counts.
fn any(r: &mut Reader<'_>) -> Result<(), InvalidUpdate> {
    // remaining[d]: values still to read at depth d; maps also read a key before each value.
    let mut remaining = [0u64; MAX_ANY_DEPTH + 1];
    let mut is_map = [false; MAX_ANY_DEPTH + 1];
    let mut depth = 0;
    remaining[0] = 1;
    loop {
        while depth > 0 && remaining[depth] == 0 {
            depth -= 1;
        }
        if remaining[depth] == 0 {
            return Ok(());
        }
        remaining[depth] -= 1;
        if is_map[depth] {
            r.string()?;
        }
        match r.u8()? {
            127 | 126 | 121 | 120 => {}
            125 => {
                r.var_signed()?;
            }
            124 => r.skip(4)?,
            123 | 122 => r.skip(8)?,
            119 => {
                r.string()?;
            }
            116 => {
                r.buf()?;
            }
            tag @ (117 | 118) => {
                let count = r.count("nested values", if tag == 118 { 2 } else { 1 })?;
                if depth == MAX_ANY_DEPTH {
                    return Err(InvalidUpdate::TooDeep);
                }
                depth += 1;
                remaining[depth] = count;
                is_map[depth] = tag == 118;
            }
            other => return Err(InvalidUpdate::UnknownAnyTag(other)),
        }
    }
}

/// JSON text inside an update must be one JSON value ([`crate::json`]).
fn json(text: &str) -> Result<(), InvalidUpdate> {
    if is_json(text) {
        Ok(())
    } else {
        Err(InvalidUpdate::UnsupportedContent(5))
    }
}

/// Bounds-checked reads over the update, remembering the position for error messages.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    pub(crate) fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    pub(crate) fn u8(&mut self) -> Result<u8, InvalidUpdate> {
        let byte = *self
            .bytes
            .get(self.at)
            .ok_or(InvalidUpdate::Malformed(self.at))?;
        self.at += 1;
        Ok(byte)
    }

    /// A lib0 unsigned varint: 7 bits a byte, least significant first, at most 10 bytes.
    pub(crate) fn var(&mut self) -> Result<u64, InvalidUpdate> {
        let start = self.at;
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(InvalidUpdate::Malformed(start));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(InvalidUpdate::Malformed(start))
    }

    /// A lib0 signed varint (sign in the first byte), skipped: at most 10 bytes.
    fn var_signed(&mut self) -> Result<(), InvalidUpdate> {
        let start = self.at;
        for _ in 0..10 {
            if self.u8()? & 0x80 == 0 {
                return Ok(());
            }
        }
        Err(InvalidUpdate::Malformed(start))
    }

    /// A declared count, which the bytes left must be able to hold.
    fn count(&mut self, what: &'static str, min_entry_len: usize) -> Result<u64, InvalidUpdate> {
        let claimed = self.var()?;
        let left = self.left();
        if claimed.saturating_mul(min_entry_len as u64) > left as u64 {
            return Err(InvalidUpdate::CountExceedsBytes {
                what,
                claimed,
                left,
            });
        }
        Ok(claimed)
    }

    fn client(&mut self) -> Result<u64, InvalidUpdate> {
        let client = self.var()?;
        if client > MAX_CLIENT_ID {
            return Err(InvalidUpdate::ClientIdTooLarge(client));
        }
        Ok(client)
    }

    fn clock(&mut self) -> Result<u64, InvalidUpdate> {
        let clock = self.var()?;
        if clock > MAX_CLOCK {
            return Err(InvalidUpdate::ClockOutOfRange(clock));
        }
        Ok(clock)
    }

    pub(crate) fn id(&mut self) -> Result<(u64, u64), InvalidUpdate> {
        Ok((self.client()?, self.clock()?))
    }

    fn skip(&mut self, n: usize) -> Result<(), InvalidUpdate> {
        if n > self.left() {
            return Err(InvalidUpdate::Malformed(self.at));
        }
        self.at += n;
        Ok(())
    }

    pub(crate) fn buf(&mut self) -> Result<&'a [u8], InvalidUpdate> {
        let start = self.at;
        let len = self.var()?;
        if len > self.left() as u64 {
            return Err(InvalidUpdate::Malformed(start));
        }
        let bytes = &self.bytes[self.at..self.at + len as usize];
        self.at += len as usize;
        Ok(bytes)
    }

    pub(crate) fn string(&mut self) -> Result<&'a str, InvalidUpdate> {
        let start = self.at;
        let bytes = self.buf()?;
        std::str::from_utf8(bytes).map_err(|_| InvalidUpdate::Malformed(start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{Any, Array, ClientID, Doc, Map, Options, ReadTxn, Text, Transact, WriteTxn};

    fn doc(client: u64) -> Doc {
        Doc::with_options(Options {
            client_id: ClientID::new(client),
            offset_kind: yrs::OffsetKind::Utf16,
            ..Options::default()
        })
    }

    fn ranges(update: &[u8]) -> Result<Vec<ClientRange>, InvalidUpdate> {
        let mut found = Vec::new();
        validate_update_v1(update, |r| found.push(r))?;
        Ok(found)
    }

    /// Updates real editors produce pass, and report what they write.
    #[test]
    fn accepts_what_yjs_editors_send() {
        let d = doc(7);
        let text = d.get_or_insert_text("content");
        let update = {
            let mut txn = d.transact_mut();
            text.insert(&mut txn, 0, "héllo 😀 wörld");
            txn.encode_update_v1()
        };
        assert_eq!(
            ranges(&update).unwrap(),
            vec![ClientRange {
                client: 7,
                start: 0,
                end: 14
            }]
        );
        let delete = {
            let mut txn = d.transact_mut();
            text.remove_range(&mut txn, 2, 5);
            text.insert(&mut txn, 1, "x");
            txn.encode_update_v1()
        };
        assert!(ranges(&delete).is_ok());
        // Maps, arrays and nested values too (other Yjs types in the same document).
        let map = d.get_or_insert_map("meta");
        let array = d.get_or_insert_array("list");
        let nested = {
            let mut txn = d.transact_mut();
            map.insert(&mut txn, "title", Any::from("notes"));
            map.insert(&mut txn, "n", Any::from(42.5));
            array.insert(&mut txn, 0, Any::from(vec![Any::from(true), Any::Null]));
            let _ = txn.get_or_insert_xml_fragment("xml");
            txn.encode_update_v1()
        };
        assert!(ranges(&nested).is_ok());
        let full = d.transact().encode_state_as_update_v1(&Default::default());
        assert!(ranges(&full).is_ok());
        assert!(ranges(&[0, 0]).unwrap().is_empty());
    }

    /// The v1 prefix of a one-client, one-struct update: clients, structs, client, clock.
    fn head(client: u64, clock: u64) -> Vec<u8> {
        use yrs::encoding::write::Write;
        let mut out = Vec::new();
        out.write_var(1u32);
        out.write_var(1u32);
        out.write_var(client);
        out.write_var(clock);
        out
    }

    /// A root-level String item "hi" in "content", then an empty delete set.
    fn string_item(client: u64, clock: u64) -> Vec<u8> {
        let mut out = head(client, clock);
        out.extend([4, 1, 7]);
        out.extend(b"content");
        out.extend([2]);
        out.extend(b"hi");
        out.extend([0]);
        out
    }

    #[test]
    fn refuses_what_yrs_mishandles() {
        assert!(
            ranges(&string_item(5, 0)).is_ok(),
            "the template itself is valid"
        );
        let any_nested = |depth: usize| {
            let mut out = head(5, 0);
            out.extend([8, 1, 7]);
            out.extend(b"content");
            out.push(1); // one value
            for _ in 0..depth {
                out.extend([117, 1]); // an array of one…
            }
            out.push(126); // …null
            out.push(0);
            out
        };
        assert!(ranges(&any_nested(MAX_ANY_DEPTH)).is_ok());
        let two_clients = |first: u64, second: u64| {
            let mut u = vec![2];
            u.extend(&string_item(first, 0)[1..]);
            u.truncate(u.len() - 1); // the delete set comes after both sections
            u.extend(&string_item(second, 0)[1..]);
            u
        };
        assert!(ranges(&two_clients(6, 5)).is_ok(), "highest client first");
        let cases: Vec<(&str, Vec<u8>, InvalidUpdate)> = vec![
            (
                "client id past 2^53",
                string_item(1 << 53, 0),
                InvalidUpdate::ClientIdTooLarge(1 << 53),
            ),
            (
                "clock near u32::MAX",
                string_item(5, u64::from(u32::MAX) - 1),
                InvalidUpdate::ClockOutOfRange(u64::from(u32::MAX) - 1),
            ),
            (
                "clock + len past i32::MAX",
                string_item(5, MAX_CLOCK - 1),
                InvalidUpdate::ClockOutOfRange(MAX_CLOCK + 1),
            ),
            (
                // Found by the apply fuzz target: yrs panics merging the repeated sections.
                "the same client in four sections, clocks going backwards",
                vec![
                    4, 1, 1, 155, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                    1, 1, 1, 1, 37, 1, 1, 69, 1, 3, 0,
                ],
                InvalidUpdate::ClientsOutOfOrder(1),
            ),
            (
                // Found by the apply fuzz target: a deleted item whose parent is a character.
                "an item whose parent is another item",
                vec![
                    1, 2, 1, 0, 33, 0, 235, 1, 33, 3, 1, 0, 0, 235, 1, 33, 3, 1, 0, 0, 71, 0,
                ],
                InvalidUpdate::NestedParent,
            ),
            (
                // Found by the apply fuzz target: item (1, 10) with right origin (1, 10),
                // "😀é"; on a document that has (1, 10) yrs keeps the rest of the item with
                // both origins (1, 10), an encoding that no longer validates.
                "an item that is its own right origin",
                vec![
                    1, 1, 1, 10, 0x44, 1, 10, 6, 0xf0, 0x9f, 0x98, 0x80, 0xc3, 0xa9, 0,
                ],
                InvalidUpdate::OriginNotBefore,
            ),
            (
                "an item whose origin is a later clock of its own client",
                {
                    let mut u = head(5, 3);
                    u.extend([0x84, 5, 7, 2]);
                    u.extend(b"hi");
                    u.push(0);
                    u
                },
                InvalidUpdate::OriginNotBefore,
            ),
            (
                "client sections in ascending order",
                two_clients(5, 6),
                InvalidUpdate::ClientsOutOfOrder(6),
            ),
            (
                "one client in two sections",
                two_clients(5, 5),
                InvalidUpdate::ClientsOutOfOrder(5),
            ),
            (
                "nesting past the limit",
                any_nested(MAX_ANY_DEPTH + 1),
                InvalidUpdate::TooDeep,
            ),
            (
                "nesting thousands deep",
                any_nested(5000),
                InvalidUpdate::TooDeep,
            ),
            (
                "a million clients in a few bytes",
                vec![0xc0, 0x84, 0x3d, 0, 0],
                InvalidUpdate::CountExceedsBytes {
                    what: "client sections",
                    claimed: 1_000_000,
                    left: 2,
                },
            ),
            (
                "structs claimed past the bytes",
                {
                    let mut u = head(5, 0);
                    u[1] = 100;
                    u.extend([4, 1, 1, b'c', 1, b'x', 0]);
                    u
                },
                InvalidUpdate::CountExceedsBytes {
                    what: "structs",
                    claimed: 100,
                    left: 9,
                },
            ),
            (
                "string longer than the update",
                {
                    let mut u = head(5, 0);
                    u.extend([4, 1, 0x7f]);
                    u
                },
                InvalidUpdate::Malformed(6),
            ),
            (
                "subdocument content",
                {
                    let mut u = head(5, 0);
                    u.extend([9, 1, 1, b'c']);
                    u.extend([0, 0]);
                    u
                },
                InvalidUpdate::UnsupportedContent(9),
            ),
            (
                "legacy JSON content",
                {
                    let mut u = head(5, 0);
                    u.extend([2, 1, 1, b'c', 1, 1, b'1', 0]);
                    u
                },
                InvalidUpdate::UnsupportedContent(2),
            ),
            (
                "XmlHook type",
                {
                    let mut u = head(5, 0);
                    u.extend([7, 1, 1, b'c', 5, 0]);
                    u
                },
                InvalidUpdate::UnsupportedType(5),
            ),
            (
                "unknown Any tag",
                {
                    let mut u = head(5, 0);
                    u.extend([8, 1, 1, b'c', 1, 200, 0]);
                    u
                },
                InvalidUpdate::UnknownAnyTag(200),
            ),
            (
                "empty string item",
                {
                    let mut u = head(5, 0);
                    u.extend([4, 1, 1, b'c', 0, 0]);
                    u
                },
                InvalidUpdate::Empty,
            ),
            (
                "empty GC block",
                {
                    let mut u = head(5, 0);
                    u.extend([0, 0, 0]);
                    u
                },
                InvalidUpdate::Empty,
            ),
            (
                "delete range past i32::MAX",
                vec![0, 1, 5, 1, 0xfe, 0xff, 0xff, 0xff, 0x07, 5],
                InvalidUpdate::ClockOutOfRange(MAX_CLOCK + 4),
            ),
            (
                "empty delete range",
                vec![0, 1, 5, 1, 3, 0],
                InvalidUpdate::Empty,
            ),
            (
                "trailing bytes",
                {
                    let mut u = string_item(5, 0);
                    u.push(0);
                    u
                },
                InvalidUpdate::TrailingBytes(1),
            ),
            (
                "overlong varint",
                vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
                InvalidUpdate::Malformed(0),
            ),
            (
                "truncated",
                string_item(5, 0)[..9].to_vec(),
                InvalidUpdate::Malformed(6),
            ),
        ];
        for (name, update, expected) in cases {
            assert_eq!(ranges(&update), Err(expected), "{name}");
        }
    }

    /// Whatever the validator accepts, yrs decodes, applies and encodes without panicking —
    /// checked on every truncation and single-byte mutation of real updates.
    #[test]
    fn mutations_of_real_updates_never_reach_yrs_unsafely() {
        use yrs::updates::decoder::Decode;
        let d = doc(9);
        let text = d.get_or_insert_text("content");
        let array = d.get_or_insert_array("a");
        let seeds = {
            let mut seeds = Vec::new();
            let mut txn = d.transact_mut();
            text.insert(&mut txn, 0, "abc😀");
            array.insert(&mut txn, 0, Any::from(vec![Any::from("x"), Any::from(1.5)]));
            seeds.push(txn.encode_update_v1());
            drop(txn);
            let mut txn = d.transact_mut();
            text.remove_range(&mut txn, 1, 2);
            seeds.push(txn.encode_update_v1());
            seeds
        };
        let mut checked = 0;
        for seed in &seeds {
            let mut variants = Vec::new();
            for cut in 0..seed.len() {
                variants.push(seed[..cut].to_vec());
            }
            for i in 0..seed.len() {
                for value in [0u8, 1, 2, 0x7f, 0x80, 0xff, seed[i].wrapping_add(1)] {
                    let mut v = seed.clone();
                    v[i] = value;
                    variants.push(v);
                }
            }
            for variant in variants {
                if validate_update_v1(&variant, |_| {}).is_err() {
                    continue;
                }
                checked += 1;
                let result = std::panic::catch_unwind(|| {
                    let target = doc(1);
                    target.get_or_insert_text("content");
                    if let Ok(update) = yrs::Update::decode_v1(&variant) {
                        let mut txn = target.transact_mut();
                        let _ = txn.apply_update(update);
                    }
                    let encoded = target
                        .transact()
                        .encode_state_as_update_v1(&Default::default());
                    encoded
                });
                assert!(
                    result.is_ok(),
                    "yrs panicked on an accepted update {variant:?}"
                );
            }
        }
        assert!(checked > 50, "only {checked} variants were accepted");
    }
}
