//! The automerge-paper editing trace as real per-keystroke Yjs updates: every patch of the trace
//! becomes one yrs transaction on `Y.Text("content")`, encoded as one v1 update. Generated once
//! per client id and cached on disk (the only place the bench names yrs).

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use yrs::updates::decoder::Decode as _;
use yrs::{Doc, GetString as _, ReadTxn as _, StateVector, Text as _, Transact as _, Update};

/// First client id the writers use; writer `w` of a room writes as `CLIENT_BASE + w`.
pub const CLIENT_BASE: u64 = 1000;
const CACHE_VERSION: &str = "yrs-0.28.1-v1";

/// One patch: position (code points; the trace is ASCII), characters deleted, text inserted.
pub struct Trace {
    patches: Vec<(u32, u32, String)>,
    end: String,
}

pub fn load(path: &Path) -> anyhow::Result<Trace> {
    let file = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut json = String::new();
    flate2::read::GzDecoder::new(file).read_to_string(&mut json)?;
    let value: serde_json::Value = serde_json::from_str(&json)?;
    let mut patches = Vec::new();
    for txn in value["txns"].as_array().context("no txns")? {
        for patch in txn["patches"].as_array().context("no patches")? {
            let pos = patch[0].as_u64().context("position")? as u32;
            let del = patch[1].as_u64().context("deleted")? as u32;
            let ins = patch[2].as_str().context("inserted")?.to_owned();
            patches.push((pos, del, ins));
        }
    }
    let end = value["endContent"]
        .as_str()
        .context("endContent")?
        .to_owned();
    Ok(Trace { patches, end })
}

impl Trace {
    pub fn len(&self) -> usize {
        self.patches.len()
    }

    /// The text's length (code points) after each patch.
    pub fn lengths(&self) -> Vec<usize> {
        let mut len = 0usize;
        self.patches
            .iter()
            .map(|(_, del, ins)| {
                len = len - *del as usize + ins.chars().count();
                len
            })
            .collect()
    }

    /// Characters inserted and deleted by the first `n` patches.
    pub fn typed(&self, n: usize) -> (usize, usize) {
        self.patches[..n.min(self.len())]
            .iter()
            .fold((0, 0), |(i, d), (_, del, ins)| {
                (i + ins.chars().count(), d + *del as usize)
            })
    }

    /// The text after the first `n` patches (positions are code points; ASCII text only).
    pub fn text_after(&self, n: usize) -> anyhow::Result<String> {
        if n >= self.len() {
            return Ok(self.end.clone());
        }
        let mut text = String::new();
        for (pos, del, ins) in &self.patches[..n] {
            if !ins.is_ascii() {
                bail!("the trace is not ASCII: cannot splice it by byte positions");
            }
            let (pos, del) = (*pos as usize, *del as usize);
            text.replace_range(pos..pos + del, ins);
        }
        Ok(text)
    }
}

/// The trace's updates as written by `client`, plus the whole final document as one update.
pub struct Updates {
    pub updates: Vec<Vec<u8>>,
    pub compacted: Vec<u8>,
}

/// Generates the first `limit` updates of the trace for `client` (all of them, and checked
/// against the trace's end text, when `limit` covers the trace). Cached under `cache_dir`.
pub fn updates(
    trace: &Trace,
    client: u64,
    limit: usize,
    cache_dir: &Path,
) -> anyhow::Result<Updates> {
    let limit = limit.min(trace.len());
    let full = limit == trace.len();
    let cache = cache_dir.join(format!("automerge-paper-{CACHE_VERSION}-c{client}.bin"));
    if let Ok(bytes) = fs::read(&cache) {
        if let Some(mut cached) = decode_cache(&bytes) {
            if cached.updates.len() >= limit {
                cached.updates.truncate(limit);
                if !full {
                    cached.compacted = compact(&cached.updates)?;
                }
                return Ok(cached);
            }
        }
    }
    let doc = Doc::with_client_id(client);
    let text = doc.get_or_insert_text("content");
    let mut out = Vec::with_capacity(limit);
    for (pos, del, ins) in &trace.patches[..limit] {
        let mut txn = doc.transact_mut();
        if *del > 0 {
            text.remove_range(&mut txn, *pos, *del);
        }
        if !ins.is_empty() {
            text.insert(&mut txn, *pos, ins);
        }
        out.push(txn.encode_update_v1());
    }
    let txn = doc.transact();
    if full && text.get_string(&txn) != trace.end {
        bail!("replaying the trace did not give its endContent");
    }
    let compacted = txn.encode_state_as_update_v1(&StateVector::default());
    drop(txn);
    let result = Updates {
        updates: out,
        compacted,
    };
    if full {
        fs::create_dir_all(cache_dir)?;
        let tmp = cache.with_extension("tmp");
        fs::write(&tmp, encode_cache(&result))?;
        fs::rename(&tmp, &cache)?;
    }
    Ok(result)
}

fn compact(updates: &[Vec<u8>]) -> anyhow::Result<Vec<u8>> {
    let doc = Doc::new();
    let mut txn = doc.transact_mut();
    for update in updates {
        txn.apply_update(Update::decode_v1(update)?)?;
    }
    Ok(txn.encode_state_as_update_v1(&StateVector::default()))
}

/// Whether the cache file name is for the full trace (used only to name the file in messages).
pub fn cache_path(cache_dir: &Path, client: u64) -> PathBuf {
    cache_dir.join(format!("automerge-paper-{CACHE_VERSION}-c{client}.bin"))
}

fn encode_cache(u: &Updates) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"SBU1");
    out.extend_from_slice(&(u.updates.len() as u64).to_le_bytes());
    for b in u.updates.iter().chain(std::iter::once(&u.compacted)) {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    }
    out
}

fn decode_cache(bytes: &[u8]) -> Option<Updates> {
    let rest = bytes.strip_prefix(b"SBU1")?;
    let count = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?) as usize;
    let mut pos = 8;
    let mut all = Vec::with_capacity(count + 1);
    for _ in 0..=count {
        let len = u32::from_le_bytes(rest.get(pos..pos + 4)?.try_into().ok()?) as usize;
        pos += 4;
        all.push(rest.get(pos..pos + len)?.to_vec());
        pos += len;
    }
    let compacted = all.pop()?;
    Some(Updates {
        updates: all,
        compacted,
    })
}
