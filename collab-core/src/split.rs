//! Cuts a v1 update into updates that each fit a size limit.
//!
//! A document, or a large local change, may be far larger than one WebSocket message may be.
//! [`split_update_v1`] cuts its v1 encoding into pieces of at most `max_bytes` each, cutting
//! between blocks and, where one string is too large, inside it at a character boundary (the
//! way yrs itself splits items: the second part's left origin is the first part's last
//! character). Pieces come in an order in which each one applies at once given the pieces
//! before it: every item's origins are in an earlier piece, in the same piece, or not in the
//! update at all (the receiver holds them). The delete set comes last, so nothing deletes
//! what has not arrived yet.
//!
//! The v1 grammar (lib0): `varUint(clients) { varUint(blocks) varUint(client) varUint(clock)
//! block* }*` then the delete set `varUint(clients) { varUint(client) varUint(ranges)
//! { varUint(clock) varUint(len) }* }*`.

use std::collections::{HashMap, VecDeque};

use yrs::encoding::read::{Cursor, Read};
use yrs::encoding::write::Write;

/// Why an update could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("malformed update at byte {0}")]
    Malformed(usize),
    #[error("unsupported content kind {0}")]
    UnsupportedContent(u8),
}

/// The pieces of `update`, each at most `max_bytes` long, unless one block cannot be cut
/// (an embed or a value larger than `max_bytes`), which then goes alone in its own piece.
/// An update that fits is returned as it is, as the only piece.
pub fn split_update_v1(update: &[u8], max_bytes: usize) -> Result<Vec<Vec<u8>>, SplitError> {
    if update.len() <= max_bytes {
        return Ok(vec![update.to_vec()]);
    }
    let parsed = parse(update)?;
    Ok(Splitter::new(parsed, max_bytes).run())
}

/// The most bytes of update a sync message may carry under a message limit.
pub fn piece_budget(max_message_size: usize) -> usize {
    max_message_size
        .saturating_sub(crate::wire::SYNC_MESSAGE_OVERHEAD)
        .max(1024)
}

/// Bit flags of an item's info byte (lib0 / Yjs).
const HAS_ORIGIN: u8 = 0b1000_0000;
const HAS_RIGHT_ORIGIN: u8 = 0b0100_0000;
const HAS_PARENT_SUB: u8 = 0b0010_0000;
const CONTENT_MASK: u8 = 0b0001_1111;
/// Block kinds (the low five bits of the info byte).
const GC: u8 = 0;
const STRING: u8 = 4;
const SKIP: u8 = 10;

/// A client id and clock.
type Id = (u64, u64);

/// One block of the update, borrowing its bytes.
#[derive(Debug, Clone)]
struct Block<'a> {
    clock: u64,
    len: u64,
    kind: Kind<'a>,
}

#[derive(Debug, Clone)]
enum Kind<'a> {
    /// A GC or skip block: only a length.
    Range(u8),
    Item {
        info: u8,
        origin: Option<Id>,
        right_origin: Option<Id>,
        /// The parent's id, when the parent is a nested type named by id (a dependency).
        parent_id: Option<Id>,
        /// The parent info and parent sub as encoded (present only without origins).
        parent: &'a [u8],
        content: Content<'a>,
    },
}

#[derive(Debug, Clone)]
enum Content<'a> {
    /// A string, which can be cut at a character boundary.
    String(&'a str),
    /// Anything else, as encoded; never cut.
    Opaque(&'a [u8]),
}

struct Parsed<'a> {
    /// Client sections in the update's order, each block in clock order.
    clients: Vec<(u64, Vec<Block<'a>>)>,
    /// The delete set, decoded.
    deletes: Vec<(u64, Vec<(u64, u64)>)>,
}

/// Reads a varUint.
fn var(c: &mut Cursor<'_>) -> Result<u64, SplitError> {
    let at = c.next;
    c.read_var().map_err(|_| SplitError::Malformed(at))
}

fn byte(c: &mut Cursor<'_>) -> Result<u8, SplitError> {
    let at = c.next;
    c.read_u8().map_err(|_| SplitError::Malformed(at))
}

/// Reads `varUint(len) • bytes`, borrowing them from the update.
fn bytes<'a>(c: &mut Cursor<'a>) -> Result<&'a [u8], SplitError> {
    let at = c.next;
    let len = usize::try_from(var(c)?).map_err(|_| SplitError::Malformed(at))?;
    let start = c.next;
    let end = start
        .checked_add(len)
        .filter(|end| *end <= c.buf.len())
        .ok_or(SplitError::Malformed(at))?;
    c.next = end;
    Ok(&c.buf[start..end])
}

fn string<'a>(c: &mut Cursor<'a>) -> Result<&'a str, SplitError> {
    let at = c.next;
    std::str::from_utf8(bytes(c)?).map_err(|_| SplitError::Malformed(at))
}

fn parse(update: &[u8]) -> Result<Parsed<'_>, SplitError> {
    let mut c = Cursor::new(update);
    let count = var(&mut c)?;
    let mut clients = Vec::new();
    for _ in 0..count {
        let blocks = var(&mut c)?;
        let client = var(&mut c)?;
        let mut clock = var(&mut c)?;
        let mut list = Vec::new();
        for _ in 0..blocks {
            let block = parse_block(&mut c, clock)?;
            clock = clock
                .checked_add(block.len)
                .ok_or(SplitError::Malformed(c.next))?;
            list.push(block);
        }
        clients.push((client, list));
    }
    let count = var(&mut c)?;
    let mut deletes = Vec::new();
    for _ in 0..count {
        let client = var(&mut c)?;
        let ranges = var(&mut c)?;
        let mut list = Vec::new();
        for _ in 0..ranges {
            list.push((var(&mut c)?, var(&mut c)?));
        }
        deletes.push((client, list));
    }
    Ok(Parsed { clients, deletes })
}

fn read_id(c: &mut Cursor<'_>) -> Result<Id, SplitError> {
    Ok((var(c)?, var(c)?))
}

fn parse_block<'a>(c: &mut Cursor<'a>, clock: u64) -> Result<Block<'a>, SplitError> {
    let info = byte(c)?;
    let kind = info & CONTENT_MASK;
    if kind == GC || kind == SKIP {
        let len = var(c)?;
        return Ok(Block {
            clock,
            len,
            kind: Kind::Range(info),
        });
    }
    let origin = (info & HAS_ORIGIN != 0).then(|| read_id(c)).transpose()?;
    let right_origin = (info & HAS_RIGHT_ORIGIN != 0)
        .then(|| read_id(c))
        .transpose()?;
    let parent_start = c.next;
    let mut parent_id = None;
    if origin.is_none() && right_origin.is_none() {
        if var(c)? == 1 {
            string(c)?;
        } else {
            parent_id = Some(read_id(c)?);
        }
        if info & HAS_PARENT_SUB != 0 {
            string(c)?;
        }
    }
    let parent = &c.buf[parent_start..c.next];
    let content_start = c.next;
    let (len, content) = match kind {
        STRING => {
            let text = string(c)?;
            (text.encode_utf16().count() as u64, Content::String(text))
        }
        _ => {
            let len = skip_content(c, kind)?;
            (len, Content::Opaque(&c.buf[content_start..c.next]))
        }
    };
    if len == 0 {
        return Err(SplitError::Malformed(content_start));
    }
    Ok(Block {
        clock,
        len,
        kind: Kind::Item {
            info,
            origin,
            right_origin,
            parent_id,
            parent,
            content,
        },
    })
}

/// Reads a lib0 `Any` value.
fn any(c: &mut Cursor<'_>) -> Result<(), SplitError> {
    let at = c.next;
    yrs::Any::decode(c)
        .map(|_| ())
        .map_err(|_| SplitError::Malformed(at))
}

/// Reads past a non-string content; returns its length in clocks.
fn skip_content(c: &mut Cursor<'_>, kind: u8) -> Result<u64, SplitError> {
    match kind {
        // Deleted: a length.
        1 => var(c),
        // JSON values: a count of strings.
        2 => {
            let count = var(c)?;
            for _ in 0..count {
                string(c)?;
            }
            Ok(count)
        }
        // Binary, or an embed (one JSON string).
        3 | 5 => bytes(c).map(|_| 1),
        // Format: key and JSON value.
        6 => {
            string(c)?;
            string(c).map(|_| 1)
        }
        // A shared type: its type ref, and for an XML element its tag name.
        7 => match byte(c)? {
            3 => string(c).map(|_| 1),
            0..=6 | 9 | 15 => Ok(1),
            other => Err(SplitError::UnsupportedContent(other)),
        },
        // Values: a count of lib0 `Any`s.
        8 => {
            let count = var(c)?;
            for _ in 0..count {
                any(c)?;
            }
            Ok(count)
        }
        // A sub-document: its guid and options.
        9 => {
            string(c)?;
            any(c).map(|_| 1)
        }
        other => Err(SplitError::UnsupportedContent(other)),
    }
}

impl Block<'_> {
    /// What the receiver must hold before this block integrates: its origins and parent.
    fn dependencies(&self) -> impl Iterator<Item = Id> + '_ {
        let (origin, right, parent) = match &self.kind {
            Kind::Item {
                origin,
                right_origin,
                parent_id,
                ..
            } => (*origin, *right_origin, *parent_id),
            Kind::Range(_) => (None, None, None),
        };
        origin.into_iter().chain(right).chain(parent)
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match &self.kind {
            Kind::Range(info) => {
                out.write_u8(*info);
                out.write_var(self.len);
            }
            Kind::Item {
                info,
                origin,
                right_origin,
                parent,
                content,
                ..
            } => {
                let flags = (info & (CONTENT_MASK | HAS_PARENT_SUB))
                    | if origin.is_some() { HAS_ORIGIN } else { 0 }
                    | if right_origin.is_some() {
                        HAS_RIGHT_ORIGIN
                    } else {
                        0
                    };
                out.write_u8(flags);
                for (client, clock) in origin.iter().chain(right_origin) {
                    out.write_var(*client);
                    out.write_var(*clock);
                }
                if origin.is_none() && right_origin.is_none() {
                    out.write_all(parent);
                }
                match content {
                    Content::String(text) => out.write_string(text),
                    Content::Opaque(bytes) => out.write_all(bytes),
                }
            }
        }
    }
}

/// Cuts `block` (of `client`) so that no string part holds more than `max_text` bytes.
fn cut_block<'a>(block: Block<'a>, client: u64, max_text: usize) -> Vec<Block<'a>> {
    let (info, origin, right_origin, parent_id, parent, text) = match block.kind {
        Kind::Item {
            info,
            origin,
            right_origin,
            parent_id,
            parent,
            content: Content::String(text),
        } if text.len() > max_text => (info, origin, right_origin, parent_id, parent, text),
        kind => {
            return vec![Block {
                clock: block.clock,
                len: block.len,
                kind,
            }]
        }
    };
    let mut parts = Vec::new();
    let mut clock = block.clock;
    let mut rest = text;
    let mut first = true;
    while !rest.is_empty() {
        let mut end = rest.len().min(max_text.max(4));
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (part, tail) = rest.split_at(end);
        let len = part.encode_utf16().count() as u64;
        // A later part follows the previous one: that is its left origin, and an item with an
        // origin carries no parent info.
        let (origin, parent_id, parent) = match first {
            true => (origin, parent_id, parent),
            false => (Some((client, clock - 1)), None, &[][..]),
        };
        let kind = Kind::Item {
            info,
            origin,
            right_origin,
            parent_id,
            parent,
            content: Content::String(part),
        };
        parts.push(Block { clock, len, kind });
        clock += len;
        rest = tail;
        first = false;
    }
    parts
}

/// Room for one section's header (three varUints) and an update's client count and empty
/// delete set, counted generously.
const SECTION_HEADER: usize = 30;
const UPDATE_HEADER: usize = 12;

/// A piece being filled: sections by client, each its blocks' bytes.
#[derive(Default)]
struct Piece {
    sections: Vec<Section>,
    by_client: HashMap<u64, usize>,
    bytes: usize,
}

struct Section {
    client: u64,
    clock: u64,
    blocks: u64,
    encoded: Vec<u8>,
}

impl Piece {
    fn is_empty(&self) -> bool {
        self.sections.is_empty()
    }

    /// What the piece would weigh with `block_bytes` more of `client`.
    fn weight_with(&self, client: u64, block_bytes: usize) -> usize {
        let header = if self.by_client.contains_key(&client) {
            0
        } else {
            SECTION_HEADER
        };
        UPDATE_HEADER + self.bytes + header + block_bytes
    }

    fn push(&mut self, client: u64, clock: u64, encoded: &[u8]) {
        let index = *self.by_client.entry(client).or_insert_with(|| {
            self.sections.push(Section {
                client,
                clock,
                blocks: 0,
                encoded: Vec::new(),
            });
            self.bytes += SECTION_HEADER;
            self.sections.len() - 1
        });
        let section = &mut self.sections[index];
        section.blocks += 1;
        section.encoded.extend_from_slice(encoded);
        self.bytes += encoded.len();
    }

    /// The piece as a v1 update, with `deletes` as its delete set.
    fn finish(mut self, deletes: &[(u64, Vec<(u64, u64)>)]) -> Vec<u8> {
        // Yjs and yrs write client sections highest id first.
        self.sections.sort_by_key(|s| std::cmp::Reverse(s.client));
        let mut out = Vec::with_capacity(self.bytes + UPDATE_HEADER);
        out.write_var(self.sections.len() as u64);
        for section in &self.sections {
            out.write_var(section.blocks);
            out.write_var(section.client);
            out.write_var(section.clock);
            out.write_all(&section.encoded);
        }
        write_deletes(&mut out, deletes);
        out
    }
}

fn write_deletes(out: &mut Vec<u8>, deletes: &[(u64, Vec<(u64, u64)>)]) {
    out.write_var(deletes.len() as u64);
    for (client, ranges) in deletes {
        out.write_var(*client);
        out.write_var(ranges.len() as u64);
        for (clock, len) in ranges {
            out.write_var(*clock);
            out.write_var(*len);
        }
    }
}

/// The order-keeping cut: blocks go into pieces client by client, and a block whose origin
/// lies in another client's part of the update not yet placed sends us to that client first.
struct Splitter<'a> {
    max_bytes: usize,
    /// Blocks still to place, per client, in clock order.
    queues: Vec<(u64, VecDeque<Block<'a>>)>,
    /// Index into `queues` by client id.
    index: HashMap<u64, usize>,
    /// Per client: the clock ranges the update holds (skips excluded), to tell whether a
    /// dependency is the update's to deliver or the receiver's.
    held: HashMap<u64, Vec<(u64, u64)>>,
    /// Per client: the end of the clocks placed so far.
    placed: HashMap<u64, u64>,
    deletes: Vec<(u64, Vec<(u64, u64)>)>,
    done: Vec<Vec<u8>>,
    piece: Piece,
}

impl<'a> Splitter<'a> {
    fn new(parsed: Parsed<'a>, max_bytes: usize) -> Self {
        let max_text = max_bytes
            .saturating_sub(UPDATE_HEADER + SECTION_HEADER + 64)
            .max(64);
        let mut queues = Vec::new();
        let mut index = HashMap::new();
        let mut held = HashMap::new();
        for (client, blocks) in parsed.clients {
            let ranges: Vec<(u64, u64)> = blocks
                .iter()
                .filter(|b| !matches!(b.kind, Kind::Range(SKIP)))
                .map(|b| (b.clock, b.clock + b.len))
                .collect();
            held.insert(client, ranges);
            let cut: VecDeque<Block<'a>> = blocks
                .into_iter()
                .flat_map(|b| cut_block(b, client, max_text))
                .collect();
            index.insert(client, queues.len());
            queues.push((client, cut));
        }
        Splitter {
            max_bytes,
            queues,
            index,
            held,
            placed: HashMap::new(),
            deletes: parsed.deletes,
            done: Vec::new(),
            piece: Piece::default(),
        }
    }

    /// Whether the receiver holds `(client, clock)` once what was placed so far arrives.
    fn available(&self, (client, clock): Id) -> bool {
        let in_update = self.held.get(&client).is_some_and(|ranges| {
            let at = ranges.partition_point(|(_, end)| *end <= clock);
            ranges.get(at).is_some_and(|(start, _)| *start <= clock)
        });
        !in_update || self.placed.get(&client).is_some_and(|end| *end > clock)
    }

    /// The first client whose blocks must be placed before `block` (of `client`), if any.
    fn blocked_by(&self, client: u64, block: &Block<'_>) -> Option<u64> {
        block
            .dependencies()
            .find(|dep| dep.0 != client && !self.available(*dep))
            .map(|dep| dep.0)
    }

    fn place(&mut self, queue: usize) {
        let (client, block) = {
            let (client, blocks) = &mut self.queues[queue];
            let Some(block) = blocks.pop_front() else {
                return;
            };
            (*client, block)
        };
        let mut encoded = Vec::new();
        block.encode(&mut encoded);
        if !self.piece.is_empty() && self.piece.weight_with(client, encoded.len()) > self.max_bytes
        {
            let full = std::mem::take(&mut self.piece);
            self.done.push(full.finish(&[]));
        }
        self.piece.push(client, block.clock, &encoded);
        self.placed.insert(client, block.clock + block.len);
    }

    fn run(mut self) -> Vec<Vec<u8>> {
        for start in 0..self.queues.len() {
            // A stack of clients: the top one's next block is placed once nothing it depends
            // on is still waiting in another client's queue.
            let mut stack = vec![start];
            while let Some(&top) = stack.last() {
                let (client, next) = match self.queues[top].1.front() {
                    Some(block) => (self.queues[top].0, block),
                    None => {
                        stack.pop();
                        continue;
                    }
                };
                match self
                    .blocked_by(client, next)
                    .and_then(|dep| self.index.get(&dep).copied())
                {
                    // Origins always existed before what names them, so dependencies form
                    // no cycle in what Yjs or yrs write; should one appear, place the block
                    // anyway (the receiver then keeps it waiting, as it would the whole).
                    Some(dep) if !stack.contains(&dep) => stack.push(dep),
                    _ => {
                        self.place(top);
                        if stack.len() > 1 {
                            // Back to whoever waited for this client.
                            stack.pop();
                        }
                    }
                }
            }
        }
        self.finish_deletes();
        self.done
    }

    /// Closes the last piece with as much of the delete set as fits, then adds pieces holding
    /// only deletions for the rest.
    fn finish_deletes(&mut self) {
        let mut deletes = std::mem::take(&mut self.deletes).into_iter().peekable();
        let mut piece = std::mem::take(&mut self.piece);
        loop {
            let mut room = self.max_bytes.saturating_sub(UPDATE_HEADER + piece.bytes);
            let mut chunk: Vec<(u64, Vec<(u64, u64)>)> = Vec::new();
            while let Some((client, ranges)) = deletes.peek_mut() {
                // A client's header, then ranges of at most twenty bytes each.
                if room < 40 {
                    break;
                }
                room -= 20;
                let fit = (room / 20).min(ranges.len()).max(1);
                let taken: Vec<(u64, u64)> = ranges.drain(..fit).collect();
                room = room.saturating_sub(taken.len() * 20);
                chunk.push((*client, taken));
                if ranges.is_empty() {
                    deletes.next();
                }
            }
            let more = deletes.peek().is_some();
            if !piece.is_empty() || !chunk.is_empty() || self.done.is_empty() {
                self.done.push(piece.finish(&chunk));
            }
            if !more {
                return;
            }
            piece = Piece::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::updates::decoder::Decode;
    use yrs::{Doc, GetString, ReadTxn, StateVector, Text, Transact, Update};

    fn doc(client: u64) -> Doc {
        Doc::with_options(yrs::Options {
            client_id: yrs::ClientID::new(client),
            offset_kind: yrs::OffsetKind::Utf16,
            ..Default::default()
        })
    }

    fn text(doc: &Doc) -> String {
        doc.get_or_insert_text("content")
            .get_string(&doc.transact())
    }

    fn sync(from: &Doc, to: &Doc) {
        let update = from
            .transact()
            .encode_state_as_update_v1(&to.transact().state_vector());
        to.transact_mut()
            .apply_update(Update::decode_v1(&update).unwrap())
            .unwrap();
    }

    /// Applies each piece to `to` in order; each must integrate at once (nothing waiting).
    fn apply_pieces(pieces: &[Vec<u8>], to: &Doc) {
        for (i, piece) in pieces.iter().enumerate() {
            let mut txn = to.transact_mut();
            txn.apply_update(Update::decode_v1(piece).unwrap()).unwrap();
            assert!(
                !txn.has_missing_updates(),
                "piece {i} of {} left items waiting",
                pieces.len()
            );
        }
    }

    /// A small deterministic generator, so failures reproduce.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self, bound: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % bound.max(1)
        }
    }

    /// Three clients editing the same text, syncing now and then: interleaved items, cut
    /// items, deletions across clients, emoji (two UTF-16 units each).
    fn edited(seed: u64, rounds: usize) -> Vec<Doc> {
        let mut rng = Rng(seed);
        let docs: Vec<Doc> = (1..=3).map(|c| doc(c * 1000 + seed)).collect();
        let words = ["hello ", "wörld ", "😀", "a", "long line of text\n", "ü"];
        for _ in 0..rounds {
            let who = rng.next(3) as usize;
            let d = &docs[who];
            let t = d.get_or_insert_text("content");
            let mut txn = d.transact_mut();
            let len = t.len(&txn);
            if len > 10 && rng.next(4) == 0 {
                let at = rng.next(len as u64 - 4) as u32;
                // Never split a surrogate pair: delete whole chars by going through a string.
                let s = t.get_string(&txn);
                let units: Vec<u16> = s.encode_utf16().collect();
                let mut start = at as usize;
                while start > 0 && (0xDC00..0xE000).contains(&units[start]) {
                    start -= 1;
                }
                let mut end = (start + 3).min(units.len());
                while end < units.len() && (0xDC00..0xE000).contains(&units[end]) {
                    end += 1;
                }
                t.remove_range(&mut txn, start as u32, (end - start) as u32);
            } else {
                let s = t.get_string(&txn);
                let units: Vec<u16> = s.encode_utf16().collect();
                let mut at = rng.next(units.len() as u64 + 1) as usize;
                while at > 0 && at < units.len() && (0xDC00..0xE000).contains(&units[at]) {
                    at -= 1;
                }
                t.insert(
                    &mut txn,
                    at as u32,
                    words[rng.next(words.len() as u64) as usize],
                );
            }
            drop(txn);
            if rng.next(5) == 0 {
                let (a, b) = (rng.next(3) as usize, rng.next(3) as usize);
                if a != b {
                    sync(&docs[a], &docs[b]);
                }
            }
        }
        for a in 0..3 {
            for b in 0..3 {
                if a != b {
                    sync(&docs[a], &docs[b]);
                }
            }
        }
        docs
    }

    #[test]
    fn an_update_that_fits_is_returned_whole() {
        let d = doc(1);
        d.get_or_insert_text("content")
            .insert(&mut d.transact_mut(), 0, "small");
        let update = d
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        assert_eq!(split_update_v1(&update, 1 << 20).unwrap(), vec![update]);
    }

    #[test]
    fn edited_documents_split_into_pieces_that_each_apply_at_once() {
        for seed in 1..=20 {
            let docs = edited(seed, 300);
            let whole = docs[0]
                .transact()
                .encode_state_as_update_v1(&StateVector::default());
            for max in [64, 200, 1000] {
                let pieces = split_update_v1(&whole, max).unwrap();
                assert!(
                    pieces.len() > 1,
                    "seed {seed}: {} bytes in one piece",
                    whole.len()
                );
                for piece in &pieces {
                    assert!(
                        piece.len() <= max,
                        "seed {seed}: a piece of {} > {max}",
                        piece.len()
                    );
                }
                let fresh = doc(99);
                apply_pieces(&pieces, &fresh);
                assert_eq!(text(&fresh), text(&docs[0]), "seed {seed}, max {max}");
                assert_eq!(
                    fresh.transact().state_vector(),
                    docs[0].transact().state_vector()
                );
                // Deletions arrived too: the re-encoded document equals the original's.
                let again = fresh
                    .transact()
                    .encode_state_as_update_v1(&StateVector::default());
                assert_eq!(again, whole, "seed {seed}, max {max}");
            }
        }
    }

    #[test]
    fn a_diff_splits_into_pieces_a_receiver_holding_the_rest_applies_at_once() {
        let docs = edited(7, 200);
        let behind = doc(42);
        sync(&docs[0], &behind);
        // Everyone edits on; `behind` lags.
        let t = docs[1].get_or_insert_text("content");
        for i in 0..50 {
            let mut txn = docs[1].transact_mut();
            let len = t.len(&txn);
            t.insert(&mut txn, (i * 7) % (len + 1), "more text 😀 ");
        }
        let diff = docs[1]
            .transact()
            .encode_state_as_update_v1(&behind.transact().state_vector());
        let pieces = split_update_v1(&diff, 100).unwrap();
        assert!(pieces.len() > 1);
        apply_pieces(&pieces, &behind);
        assert_eq!(text(&behind), text(&docs[1]));
    }

    #[test]
    fn one_huge_string_is_cut_at_character_boundaries() {
        let d = doc(5);
        let paste: String = "añ😀z".repeat(50_000);
        d.get_or_insert_text("content")
            .insert(&mut d.transact_mut(), 0, &paste);
        let update = d
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        let pieces = split_update_v1(&update, 4096).unwrap();
        assert!(pieces.len() > 100);
        assert!(pieces.iter().all(|p| p.len() <= 4096));
        let fresh = doc(6);
        apply_pieces(&pieces, &fresh);
        assert_eq!(text(&fresh), paste);
    }

    #[test]
    fn a_large_delete_set_goes_last_in_pieces_of_its_own() {
        let d = doc(8);
        let t = d.get_or_insert_text("content");
        t.insert(&mut d.transact_mut(), 0, &"x".repeat(20_000));
        // Every other character deleted: 10,000 ranges.
        for i in (0..10_000).rev() {
            t.remove_range(&mut d.transact_mut(), i * 2, 1);
        }
        let update = d
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        let pieces = split_update_v1(&update, 2000).unwrap();
        assert!(pieces.iter().all(|p| p.len() <= 2000));
        let fresh = doc(9);
        apply_pieces(&pieces, &fresh);
        assert_eq!(text(&fresh), "x".repeat(10_000));
    }

    #[test]
    fn malformed_bytes_are_an_error_not_a_panic() {
        let d = doc(1);
        d.get_or_insert_text("content")
            .insert(&mut d.transact_mut(), 0, &"y".repeat(5000));
        let update = d
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        for cut in [3, 10, 100, 4000] {
            assert!(split_update_v1(&update[..cut], 2).is_err(), "cut at {cut}");
        }
    }
}
