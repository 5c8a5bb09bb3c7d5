//! Static files from the web root (`--web-root`): the demo page and the widget's package
//! files. Sans-HTTP-framework: maps a URL path to a file inside the root (never outside it),
//! picks its MIME type, and decides conditional requests; `http` turns the result into a
//! response. Every file is sent with `Cache-Control: no-cache` plus `ETag` and
//! `Last-Modified`, so browsers revalidate each time and usually get a 304.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// What `GET /` shows when the server runs without a web root.
pub const NOT_BUILT_PAGE: &str = "<!doctype html>
<html lang=\"en\"><head><meta charset=\"utf-8\"><title>collab-textarea sync server</title>
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>
<body style=\"font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem\">
<h1>collab-textarea sync server</h1>
<p>The sync server is running, but the demo assets are not built, or the server was started
without <code>--web-root</code>.</p>
<p>Run <code>./scripts/demo.sh</code> from the repository to build the widget and serve the demo
page here.</p>
<p>Yjs clients can connect to <code>/sync/{doc}</code> already.</p>
</body></html>
";

/// The directory static files are served from, resolved once at startup.
#[derive(Debug, Clone)]
pub struct WebRoot {
    /// Canonical (absolute, symlinks resolved), so containment is a prefix check.
    dir: PathBuf,
}

/// A file found for a request: what the response needs except the body.
#[derive(Debug, Clone)]
pub struct Asset {
    pub path: PathBuf,
    pub content_type: &'static str,
    pub len: u64,
    /// `"<size>-<mtime>"` in hex: changes whenever the file is rewritten.
    pub etag: String,
    /// The file's modification time, if the file system has one.
    pub modified: Option<SystemTime>,
}

/// The outcome of looking a URL path up in the web root.
#[derive(Debug)]
pub enum Lookup {
    Found(Asset),
    /// A directory named without its trailing slash: redirect to this path.
    AddSlash(String),
    /// Nothing there, or a hidden file (a segment starting with `.`), or a symlink that
    /// leads outside the root.
    NotFound,
    /// A path that tries to climb out (`..`), or holds bad escapes, NUL or backslashes.
    BadPath,
}

impl WebRoot {
    /// Resolves `dir`, which must be an existing directory.
    pub fn open(dir: &Path) -> io::Result<WebRoot> {
        let dir = fs::canonicalize(dir)?;
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "the web root is not a directory",
            ));
        }
        Ok(WebRoot { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Finds the file for a URL path (still percent-encoded, as on the request line). `/` and
    /// paths ending in `/` mean the directory's `index.html`. Blocking: reads metadata.
    pub fn lookup(&self, url_path: &str) -> Lookup {
        let Some(relative) = relative_path(url_path) else {
            return Lookup::BadPath;
        };
        if relative
            .components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
        {
            return Lookup::NotFound;
        }
        let mut candidate = self.dir.join(&relative);
        if url_path.ends_with('/') {
            candidate.push("index.html");
        }
        // Resolving symlinks, then checking the prefix, keeps links from leading out.
        let Ok(resolved) = fs::canonicalize(&candidate) else {
            return Lookup::NotFound;
        };
        if !resolved.starts_with(&self.dir) {
            return Lookup::NotFound;
        }
        let Ok(meta) = fs::metadata(&resolved) else {
            return Lookup::NotFound;
        };
        if meta.is_dir() {
            return if url_path.ends_with('/') {
                Lookup::NotFound
            } else {
                Lookup::AddSlash(format!("{url_path}/"))
            };
        }
        if !meta.is_file() {
            return Lookup::NotFound;
        }
        let modified = meta.modified().ok();
        let stamp = modified
            .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Lookup::Found(Asset {
            content_type: content_type(&candidate),
            len: meta.len(),
            etag: format!("\"{:x}-{stamp:x}\"", meta.len()),
            modified,
            path: resolved,
        })
    }
}

impl Asset {
    /// Reads the whole file. Blocking.
    pub fn read(&self) -> io::Result<Vec<u8>> {
        fs::read(&self.path)
    }

    /// `Last-Modified` as an HTTP date (whole seconds).
    pub fn last_modified(&self) -> Option<String> {
        self.modified.map(httpdate::fmt_http_date)
    }

    /// Whether a conditional GET may be answered with 304 Not Modified. `If-None-Match` wins
    /// over `If-Modified-Since` when both are present (RFC 9110 §13.2.2).
    pub fn not_modified(
        &self,
        if_none_match: Option<&str>,
        if_modified_since: Option<&str>,
    ) -> bool {
        if let Some(tags) = if_none_match {
            // Weak comparison: `W/"x"` matches `"x"`.
            let ours = self.etag.trim_start_matches("W/");
            return tags
                .split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours);
        }
        match (if_modified_since, self.modified) {
            (Some(since), Some(modified)) => match httpdate::parse_http_date(since.trim()) {
                // HTTP dates have whole seconds; the file's time has more.
                Ok(since) => whole_seconds(modified) <= whole_seconds(since),
                Err(_) => false,
            },
            _ => false,
        }
    }
}

fn whole_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Turns `/a/b%20c.js` into `a/b c.js`. `None` for anything that could leave the root or
/// that a file name should not hold: `.` and `..` segments, empty segments (`//`), bad
/// percent escapes, invalid UTF-8, NUL, backslash, or an encoded `/`.
fn relative_path(url_path: &str) -> Option<PathBuf> {
    let rest = url_path.strip_prefix('/')?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let mut out = PathBuf::new();
    if rest.is_empty() {
        return Some(out);
    }
    for raw in rest.split('/') {
        let segment = percent_decode(raw)?;
        if segment.is_empty()
            || segment == "."
            || segment == ".."
            || segment.contains(['/', '\\', '\0'])
        {
            return None;
        }
        out.push(&segment);
    }
    // Belt and braces: only plain names may remain.
    out.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then_some(out)
}

fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The `Content-Type` for a file, by extension.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript",
        "css" => "text/css",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        // TypeScript sources and declarations (`.d.ts`), source maps and text: for reading.
        "ts" | "mts" | "cts" | "map" | "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_paths_map_to_plain_relative_paths() {
        assert_eq!(relative_path("/"), Some(PathBuf::new()));
        assert_eq!(
            relative_path("/collab-textarea/wasm/x_bg.wasm"),
            Some(PathBuf::from("collab-textarea/wasm/x_bg.wasm"))
        );
        assert_eq!(relative_path("/a%20b/"), Some(PathBuf::from("a b")));
        for bad in [
            "",
            "/..",
            "/../etc/passwd",
            "/a/../../b",
            "/%2e%2e/x",
            "/a%2fb",
            "/a%5cb",
            "/a%00",
            "/a//b",
            "/./a",
            "/%zz",
            "/%e9",
            "/%2",
        ] {
            assert_eq!(relative_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn content_types_by_extension() {
        let ct = |p: &str| content_type(Path::new(p));
        assert_eq!(ct("a.wasm"), "application/wasm");
        assert_eq!(ct("index.js"), "text/javascript");
        assert_eq!(ct("index.d.ts"), "text/plain; charset=utf-8");
        assert_eq!(ct("INDEX.HTML"), "text/html; charset=utf-8");
        assert_eq!(ct("LICENSE"), "application/octet-stream");
    }

    #[test]
    fn conditional_requests() {
        let modified = UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_500);
        let asset = Asset {
            path: PathBuf::new(),
            content_type: "text/plain",
            len: 1,
            etag: "\"1-2\"".into(),
            modified: Some(modified),
        };
        let date = asset.last_modified().unwrap();
        assert!(asset.not_modified(Some("\"1-2\""), None));
        assert!(asset.not_modified(Some("\"x\", W/\"1-2\""), None));
        assert!(asset.not_modified(Some("*"), None));
        assert!(!asset.not_modified(Some("\"1-3\""), Some(&date)));
        assert!(asset.not_modified(None, Some(&date)));
        assert!(!asset.not_modified(None, Some("Thu, 01 Jan 1970 00:00:00 GMT")));
        assert!(!asset.not_modified(None, Some("yesterday")));
        assert!(!asset.not_modified(None, None));
    }
}
