//! The web root the embedded server serves: the widget's files (`target/web/`, built by
//! `scripts/build-widget.sh`: the demo page at `/` and the package at `/collab-textarea/`) plus
//! the desktop UI at `/desktop/` and the page sharing links open at `/join/` (both compiled
//! into the binary from `desktop/app/`). It is
//! assembled afresh at every start in `<data dir>/web/`, so the server, the window and LAN
//! colleagues' browsers all load the same files from one origin.

use std::path::{Path, PathBuf};

/// The desktop UI, compiled in.
const APP_FILES: &[(&str, &str)] = &[
    ("index.html", include_str!("../app/index.html")),
    ("app.js", include_str!("../app/app.js")),
    ("app.css", include_str!("../app/app.css")),
];

/// The page a guest's link opens (`/join/#token=…`), compiled in.
const JOIN_FILES: &[(&str, &str)] = &[
    ("index.html", include_str!("../app/join.html")),
    ("join.js", include_str!("../app/join.js")),
    ("join.css", include_str!("../app/join.css")),
];

/// Where the built widget files are, in order: `$COLLAB_DESKTOP_WEB_ROOT`; `web/` beside the
/// executable (how a package ships them); `web/` in Tauri's resource directory; the workspace's
/// `target/web/` (a development build run from the source tree). `None` if none has
/// `collab-textarea/index.js`.
pub fn find_widget_files(resource_dir: Option<PathBuf>) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("COLLAB_DESKTOP_WEB_ROOT") {
        candidates.push(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        candidates.push(dir.join("web"));
    }
    if let Some(dir) = resource_dir {
        candidates.push(dir.join("web"));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/web"));
    candidates
        .into_iter()
        .find(|dir| dir.join("collab-textarea/index.js").is_file())
}

/// Rebuilds `out` from `widget` (if found) and the desktop UI. Returns whether the widget's
/// files were found.
pub fn assemble(out: &Path, widget: Option<&Path>) -> std::io::Result<bool> {
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    std::fs::create_dir_all(out)?;
    if let Some(widget) = widget {
        copy_dir(widget, out)?;
    }
    let app = out.join("desktop");
    std::fs::create_dir_all(&app)?;
    for (name, contents) in APP_FILES {
        std::fs::write(app.join(name), contents)?;
    }
    let join = out.join("join");
    std::fs::create_dir_all(&join)?;
    for (name, contents) in JOIN_FILES {
        std::fs::write(join.join(name), contents)?;
    }
    Ok(widget.is_some())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() || (kind.is_symlink() && entry.path().is_dir()) {
            std::fs::create_dir_all(&target)?;
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembles_widget_and_app() {
        let dir = tempfile::tempdir().unwrap();
        let widget = dir.path().join("widget");
        std::fs::create_dir_all(widget.join("collab-textarea/wasm")).unwrap();
        std::fs::write(widget.join("index.html"), "demo").unwrap();
        std::fs::write(widget.join("collab-textarea/index.js"), "js").unwrap();
        std::fs::write(widget.join("collab-textarea/wasm/x.wasm"), "wasm").unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(out.join("stale")).unwrap();
        assert!(assemble(&out, Some(&widget)).unwrap());
        assert!(out.join("collab-textarea/wasm/x.wasm").is_file());
        assert!(out.join("desktop/index.html").is_file());
        assert!(out.join("desktop/app.js").is_file());
        assert!(out.join("join/index.html").is_file());
        assert!(!out.join("stale").exists());
        assert!(!assemble(&out, None).unwrap());
        assert!(!out.join("index.html").exists());
        assert!(out.join("desktop/app.css").is_file());
    }
}
