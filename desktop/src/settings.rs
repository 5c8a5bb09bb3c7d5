//! What the app remembers between runs, in `settings.json` next to the database: the user's
//! name and colour, the LAN port, how long sharing links last, the open document, and the
//! desktop's own document metadata.
//!
//! Documents are named by an id the sync server stores them under (`meeting-notes-3f9a`);
//! the title the user sees and renames lives here, because the server has no titles (and a
//! stable id keeps sharing links working across a rename). The page deletes a document
//! through the server's API (`DELETE /api/docs/{id}`); its id stays here as a tombstone, so it
//! is never shown or reused, and the page deletes it again should a guest's client that still
//! had it open upload it once more.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Settings {
    pub name: String,
    pub color: String,
    /// The port Share on LAN binds (0.0.0.0:share_port).
    pub share_port: u16,
    /// How long new sharing links last, in hours (default 7 days).
    pub link_hours: u64,
    /// The document open when the app was last used.
    pub last_doc: Option<String>,
    /// Titles of documents, by id (documents without an entry show their id).
    pub docs: BTreeMap<String, DocMeta>,
    /// Deleted document ids; hidden from the list for good (deleted through the server).
    pub deleted: BTreeSet<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            name: String::new(),
            color: "#0e7490".into(),
            share_port: 8787,
            link_hours: 7 * 24,
            last_doc: None,
            docs: BTreeMap::new(),
            deleted: BTreeSet::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct DocMeta {
    pub title: String,
    /// Milliseconds since the epoch.
    pub created_at: u64,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Settings {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("settings.json")
    }

    /// Reads the settings; a missing or unreadable file gives the defaults (logged).
    pub fn load(dir: &Path) -> Settings {
        let path = Settings::path(dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
                tracing::warn!(%error, path = %path.display(), "settings unreadable, using defaults");
                Settings::default()
            }),
            Err(_) => Settings::default(),
        }
    }

    /// Writes the settings atomically (temporary file, then rename).
    pub fn save(&self, dir: &Path) -> Result<(), String> {
        let path = Settings::path(dir);
        let tmp = dir.join("settings.json.tmp");
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A new document: a fresh id made from the title, recorded with the title.
    pub fn create_doc(&mut self, title: &str) -> String {
        let title = clean_title(title);
        let id = loop {
            let id = new_doc_id(&title);
            if !self.docs.contains_key(&id) && !self.deleted.contains(&id) {
                break id;
            }
        };
        self.docs.insert(
            id.clone(),
            DocMeta {
                title,
                created_at: now_ms(),
            },
        );
        self.last_doc = Some(id.clone());
        id
    }

    pub fn rename_doc(&mut self, id: &str, title: &str) {
        let entry = self.docs.entry(id.to_string()).or_insert_with(|| DocMeta {
            title: String::new(),
            created_at: now_ms(),
        });
        entry.title = clean_title(title);
    }

    pub fn delete_doc(&mut self, id: &str) {
        self.docs.remove(id);
        self.deleted.insert(id.to_string());
        if self.last_doc.as_deref() == Some(id) {
            self.last_doc = None;
        }
    }
}

/// Trimmed, at most 200 characters, "Untitled" when empty.
pub fn clean_title(title: &str) -> String {
    let title: String = title.trim().chars().take(200).collect();
    if title.is_empty() {
        "Untitled".into()
    } else {
        title
    }
}

/// `slug-xxxx`: the title's letters and digits (lower case, `-` between words, at most 40),
/// then 4 random hex digits. Always a valid server document name (`A-Z a-z 0-9 . _ -`, 1–128).
pub fn new_doc_id(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug = if slug.is_empty() { "doc" } else { slug };
    format!("{slug}-{:04x}", random_u16())
}

fn random_u16() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(now_ms());
    hasher.finish() as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_doc_name(name: &str) -> bool {
        (1..=128).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    }

    #[test]
    fn ids_are_valid_doc_names() {
        for title in [
            "Meeting notes",
            "",
            "   ",
            "Ünïcödé 🎉 title!!",
            "--",
            &"x".repeat(500),
        ] {
            let id = new_doc_id(title);
            assert!(valid_doc_name(&id), "{title:?} -> {id:?}");
        }
        assert!(new_doc_id("Meeting notes").starts_with("meeting-notes-"));
        assert!(new_doc_id("🎉").starts_with("doc-"));
    }

    #[test]
    fn create_rename_delete_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Settings::load(dir.path());
        let id = s.create_doc("  Plan  ");
        assert_eq!(s.docs[&id].title, "Plan");
        assert_eq!(s.last_doc.as_deref(), Some(id.as_str()));
        s.rename_doc(&id, "Plan B");
        s.save(dir.path()).unwrap();
        let mut s = Settings::load(dir.path());
        assert_eq!(s.docs[&id].title, "Plan B");
        s.delete_doc(&id);
        assert!(s.deleted.contains(&id) && !s.docs.contains_key(&id));
        assert_eq!(s.last_doc, None);
    }
}
