//! What the app remembers between runs, in `settings.json` next to the database: the user's
//! name and colour, the LAN port, the open document, and the desktop's own document metadata.
//!
//! Documents are named by an id the sync server stores them under (`meeting-notes-3f9a`);
//! the title the user sees and renames lives here, because the server has no titles. Deleting
//! a document hides it at once (a tombstone here) and removes its rows from the database the
//! next time the server is stopped (see `purge_deleted`), because the server has no delete.

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
    /// The document open when the app was last used.
    pub last_doc: Option<String>,
    /// Titles of documents, by id (documents without an entry show their id).
    pub docs: BTreeMap<String, DocMeta>,
    /// Deleted document ids; hidden from the list for good, purged from the database.
    pub deleted: BTreeSet<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            name: String::new(),
            color: "#0e7490".into(),
            share_port: 8787,
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

/// Removes the rows of deleted documents from the server's SQLite file. Call only while no
/// server has the file open (before `Server::bind`, after `stop`). The schema is the sync
/// server's (`documents`, `snapshots`, `updates`); a missing file or table means nothing to do.
pub fn purge_deleted(db: &Path, deleted: &BTreeSet<String>) -> Result<usize, String> {
    if deleted.is_empty() || !db.exists() {
        return Ok(0);
    }
    let mut conn = rusqlite::Connection::open(db).map_err(|e| e.to_string())?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    let mut removed = 0;
    for id in deleted {
        for sql in [
            "DELETE FROM updates WHERE doc = ?1",
            "DELETE FROM snapshots WHERE doc = ?1",
            "DELETE FROM documents WHERE name = ?1",
        ] {
            match tx.execute(sql, [id]) {
                Ok(n) => removed += n,
                Err(error) if error.to_string().contains("no such table") => {}
                Err(error) => return Err(error.to_string()),
            }
        }
    }
    tx.commit().map_err(|e| e.to_string())?;
    Ok(removed)
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

    #[test]
    fn purge_removes_only_deleted_rows() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db.sqlite3");
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE documents (name TEXT PRIMARY KEY, text_bytes INTEGER, created_at INTEGER, updated_at INTEGER);
             CREATE TABLE snapshots (doc TEXT PRIMARY KEY, data BLOB, compacted_at INTEGER);
             CREATE TABLE updates (id INTEGER PRIMARY KEY AUTOINCREMENT, doc TEXT, data BLOB, origin TEXT, created_at INTEGER);
             INSERT INTO documents VALUES ('a', 1, 0, 0), ('b', 1, 0, 0);
             INSERT INTO snapshots VALUES ('a', x'00', 0), ('b', x'00', 0);
             INSERT INTO updates (doc, data, origin, created_at) VALUES ('a', x'00', '', 0), ('b', x'00', '', 0);",
        )
        .unwrap();
        drop(conn);
        let deleted: BTreeSet<String> = ["a".to_string()].into();
        assert_eq!(purge_deleted(&db, &deleted).unwrap(), 3);
        let conn = rusqlite::Connection::open(&db).unwrap();
        let names: Vec<String> = conn
            .prepare("SELECT name FROM documents")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(names, ["b"]);
        assert_eq!(
            purge_deleted(&dir.path().join("missing.sqlite3"), &deleted).unwrap(),
            0
        );
    }
}
