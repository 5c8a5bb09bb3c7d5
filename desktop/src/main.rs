//! collab-textarea desktop app (Tauri v2).
//!
//! # Layout
//! - `main.rs`: start-up (data directory, web root, server, menu, window), the commands the
//!   window's page calls, and shutdown on quit or close.
//! - [`server`]: the sync server in-process (`sync_server::Server`): start, stop and flush.
//! - [`settings`]: `settings.json` (name, colour, LAN port, titles, deleted documents) and the
//!   purge of deleted documents from the database.
//! - [`web`]: assembles the web root: the widget's built files plus the desktop UI (`app/`).
//! - [`lan`]: the LAN address and QR codes for Share on LAN.
//!
//! The window shows `http://127.0.0.1:PORT/desktop/`, served by the embedded server; its
//! script calls the commands below through Tauri's IPC (allowed for that origin by
//! `capabilities/main.json`). Share on LAN stops the server and binds it again on
//! `0.0.0.0:PORT` (same database), and the page reloads from the new address.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod lan;
mod server;
mod settings;
mod web;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Mutex;

use serde::Serialize;
use tauri::menu::{
    AboutMetadata, MenuBuilder, MenuItemBuilder, PredefinedMenuItem, SubmenuBuilder,
};
use tauri::{AppHandle, Manager, RunEvent, State, WebviewUrl, WebviewWindowBuilder};

use settings::Settings;

const TITLE: &str = "Collab Textarea";

/// Everything the commands share.
struct App {
    dir: PathBuf,
    db: PathBuf,
    web: PathBuf,
    widget_found: bool,
    settings: Mutex<Settings>,
    net: tokio::sync::Mutex<Net>,
}

/// The server and how it is bound.
struct Net {
    running: server::Running,
    sharing: bool,
}

/// What the page needs to draw itself.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    settings: Settings,
    /// The origin the window loads from: `http://127.0.0.1:PORT`.
    origin: String,
    sharing: bool,
    /// When sharing: `http://LAN-IP:PORT/`, the demo page others open (add `?doc=`).
    share_base: Option<String>,
    /// When sharing on a machine without a LAN address.
    share_note: Option<String>,
    widget_found: bool,
    data_dir: String,
    version: &'static str,
    /// Why the last Share on LAN change failed, if it did.
    error: Option<String>,
}

impl App {
    fn settings(&self) -> std::sync::MutexGuard<'_, Settings> {
        self.settings.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self, settings: &Settings) -> Result<(), String> {
        settings.save(&self.dir)
    }

    fn status(&self, net: &Net, error: Option<String>) -> Status {
        let mut settings = self.settings().clone();
        if settings.name.is_empty() {
            settings.name = default_name();
        }
        let port = net.running.addr().port();
        let (share_base, share_note) = if net.sharing {
            match lan::lan_ip() {
                Some(ip) => (Some(format!("http://{ip}:{port}/")), None),
                None => (
                    Some(format!("http://127.0.0.1:{port}/")),
                    Some("No network found: only this computer can open it.".into()),
                ),
            }
        } else {
            (None, None)
        };
        Status {
            settings,
            origin: format!("http://127.0.0.1:{port}"),
            sharing: net.sharing,
            share_base,
            share_note,
            widget_found: self.widget_found,
            data_dir: self.dir.display().to_string(),
            version: env!("CARGO_PKG_VERSION"),
            error,
        }
    }

    /// Purges deleted documents; only while the server is stopped.
    fn purge(&self) {
        let deleted = self.settings().deleted.clone();
        match settings::purge_deleted(&self.db, &deleted) {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "purged deleted documents"),
            Err(error) => tracing::warn!(%error, "could not purge deleted documents"),
        }
    }
}

fn default_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .map(|n| {
            let mut c = n.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default()
        })
        .unwrap_or_else(|_| "Me".into())
}

fn local_any_port() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

#[tauri::command]
async fn app_state(app: State<'_, App>) -> Result<Status, String> {
    let net = app.net.lock().await;
    Ok(app.status(&net, None))
}

#[tauri::command]
fn save_profile(app: State<'_, App>, name: String, color: String) -> Result<(), String> {
    let mut s = app.settings();
    s.name = name.trim().chars().take(40).collect();
    s.color = color;
    app.save(&s)
}

#[tauri::command]
fn create_doc(app: State<'_, App>, title: String) -> Result<String, String> {
    let mut s = app.settings();
    let id = s.create_doc(&title);
    app.save(&s)?;
    Ok(id)
}

#[tauri::command]
fn open_doc(app: State<'_, App>, id: Option<String>) -> Result<(), String> {
    let mut s = app.settings();
    s.last_doc = id;
    app.save(&s)
}

#[tauri::command]
fn rename_doc(app: State<'_, App>, id: String, title: String) -> Result<(), String> {
    let mut s = app.settings();
    s.rename_doc(&id, &title);
    app.save(&s)
}

#[tauri::command]
fn delete_doc(app: State<'_, App>, id: String) -> Result<(), String> {
    let mut s = app.settings();
    s.delete_doc(&id);
    app.save(&s)
}

#[tauri::command]
fn qr_svg(text: String) -> Result<String, String> {
    lan::qr_svg(&text)
}

/// Share on LAN on (`0.0.0.0:port`) or off (`127.0.0.1`, a free port): stops the server
/// (flushing everything), then binds it again on the same database. If the port cannot be
/// bound, the server comes back local-only and the status says why.
#[tauri::command]
async fn set_sharing(app: State<'_, App>, on: bool, port: u16) -> Result<Status, String> {
    if on && port == 0 {
        return Err("choose a port between 1 and 65535".into());
    }
    let mut net = app.net.lock().await;
    if on {
        let mut s = app.settings();
        s.share_port = port;
        app.save(&s)?;
    }
    net.running.stop().await;
    app.purge();
    let want = if on {
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))
    } else {
        local_any_port()
    };
    let mut error = None;
    match server::start(want, &app.db, &app.web).await {
        Ok(running) => {
            net.running = running;
            net.sharing = on;
        }
        Err(why) => {
            tracing::warn!(%why, %want, "cannot bind; staying local");
            error = Some(format!("Cannot share on port {port}: {why}"));
            net.running = server::start(local_any_port(), &app.db, &app.web).await?;
            net.sharing = false;
        }
    }
    Ok(app.status(&net, error))
}

/// Stops the server and waits for its last commit. Idempotent.
async fn shutdown(app: &AppHandle) {
    let state = app.state::<App>();
    let mut net = state.net.lock().await;
    if net.running.is_running() {
        net.running.stop().await;
        state.purge();
    }
}

#[tauri::command]
async fn quit(app: AppHandle) -> Result<(), String> {
    shutdown(&app).await;
    app.exit(0);
    Ok(())
}

/// Runs one of the page's menu actions (`window.collabDesktop.menu(name)`).
fn page_action(app: &AppHandle, action: &str) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.eval(format!(
            "window.collabDesktop && window.collabDesktop.menu({})",
            serde_json::Value::from(action)
        ));
    }
}

fn build_menu(app: &tauri::App) -> tauri::Result<()> {
    let new_doc = MenuItemBuilder::with_id("new", "New Document")
        .accelerator("CmdOrCtrl+N")
        .build(app)?;
    let quit = MenuItemBuilder::with_id("quit", "Quit")
        .accelerator("CmdOrCtrl+Q")
        .build(app)?;
    let file = SubmenuBuilder::new(app, "File")
        .item(&new_doc)
        .separator()
        .item(&quit)
        .build()?;
    // The edit items act on the page (the widget's own undo, the focused field's clipboard).
    // They carry no accelerators: the web view already handles Ctrl+Z, Ctrl+C, … itself, and a
    // menu accelerator would take those keys away from it.
    let mut edit = SubmenuBuilder::new(app, "Edit");
    for (id, label) in [
        ("undo", "Undo  (Ctrl+Z)"),
        ("redo", "Redo  (Ctrl+Shift+Z)"),
        ("-", ""),
        ("cut", "Cut  (Ctrl+X)"),
        ("copy", "Copy  (Ctrl+C)"),
        ("paste", "Paste  (Ctrl+V)"),
        ("-", ""),
        ("select-all", "Select All  (Ctrl+A)"),
    ] {
        if id == "-" {
            edit = edit.separator();
        } else {
            edit = edit.item(&MenuItemBuilder::with_id(id, label).build(app)?);
        }
    }
    let edit = edit.build()?;
    let about = PredefinedMenuItem::about(
        app,
        Some("About Collab Textarea"),
        Some(AboutMetadata {
            name: Some(TITLE.into()),
            version: Some(env!("CARGO_PKG_VERSION").into()),
            comments: Some(
                "Collaborative text documents. Edits merge live (Yjs CRDT), are saved on this \
                 computer, and can be shared with colleagues on your network."
                    .into(),
            ),
            license: Some("MIT".into()),
            icon: app.default_window_icon().cloned(),
            ..Default::default()
        }),
    )?;
    let help = SubmenuBuilder::new(app, "Help").item(&about).build()?;
    let menu = MenuBuilder::new(app)
        .items(&[&file, &edit, &help])
        .build()?;
    app.set_menu(menu)?;
    app.on_menu_event(|app, event| match event.id().as_ref() {
        "quit" => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                shutdown(&app).await;
                app.exit(0);
            });
        }
        other => page_action(app, other),
    });
    Ok(())
}

fn data_dir(app: &tauri::App) -> Result<PathBuf, Box<dyn std::error::Error>> {
    if let Some(dir) = std::env::var_os("COLLAB_DESKTOP_DATA_DIR") {
        return Ok(PathBuf::from(dir));
    }
    Ok(app.path().app_data_dir()?)
}

fn setup(app: &mut tauri::App) -> Result<(), Box<dyn std::error::Error>> {
    let dir = data_dir(app)?;
    std::fs::create_dir_all(&dir)?;
    let settings = Settings::load(&dir);
    let db = dir.join("collab.sqlite3");
    let web = dir.join("web");
    let widget = web::find_widget_files(app.path().resource_dir().ok());
    match &widget {
        Some(path) => tracing::info!(path = %path.display(), "widget files"),
        None => tracing::warn!(
            "widget files not found: run scripts/build-widget.sh or set COLLAB_DESKTOP_WEB_ROOT"
        ),
    }
    let widget_found = web::assemble(&web, widget.as_deref())?;
    // Deleted documents are purged while no server has the file open: before the first bind.
    if let Err(error) = settings::purge_deleted(&db, &settings.deleted) {
        tracing::warn!(%error, "could not purge deleted documents");
    }
    let running = tauri::async_runtime::block_on(server::start(local_any_port(), &db, &web))?;
    let addr = running.addr();
    app.manage(App {
        dir: dir.clone(),
        db,
        web,
        widget_found,
        settings: Mutex::new(settings),
        net: tokio::sync::Mutex::new(Net {
            running,
            sharing: false,
        }),
    });
    tracing::info!(data = %dir.display(), %addr, "desktop app started");
    build_menu(app)?;
    let url = format!("http://127.0.0.1:{}/desktop/", addr.port());
    WebviewWindowBuilder::new(app, "main", WebviewUrl::External(url.parse()?))
        .title(TITLE)
        .inner_size(1100.0, 720.0)
        .min_inner_size(640.0, 420.0)
        .build()?;
    Ok(())
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tao=warn,wry=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let app = tauri::Builder::default()
        // First: a second start hands its arguments to the running app and exits, before it
        // opens the database.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.unminimize();
                let _ = window.show();
                let _ = window.set_focus();
            }
        }))
        .invoke_handler(tauri::generate_handler![
            app_state,
            save_profile,
            create_doc,
            open_doc,
            rename_doc,
            delete_doc,
            qr_svg,
            set_sharing,
            quit
        ])
        .setup(setup)
        .build(tauri::generate_context!())
        .expect("cannot start the desktop app");
    app.run(|app, event| {
        if let RunEvent::Exit = event {
            // The window closed or Quit was chosen: nothing is lost if the server flushes
            // before the process ends.
            tauri::async_runtime::block_on(shutdown(app));
        }
    });
}
