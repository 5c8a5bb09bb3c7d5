//! collab-textarea desktop app (Tauri v2).
//!
//! # Layout
//! - `main.rs`: start-up (data directory, web root, server, menu, window), the commands the
//!   window's page calls, and shutdown on quit or close.
//! - [`server`]: the sync server in-process (`sync_server::Server`): start, stop and flush.
//! - [`settings`]: `settings.json` (name, colour, LAN port, link lifetime, titles, deleted
//!   documents).
//! - [`keys`]: the signing keys (`keys.json`) and the tokens: the window's, and sharing links.
//! - [`web`]: assembles the web root: the widget's built files, the desktop UI (`app/`) and
//!   the page guests' links open (`join/`).
//! - [`lan`]: the LAN address and QR codes for Share on LAN.
//!
//! The window shows `http://127.0.0.1:PORT/desktop/`, served by the embedded server; its
//! script calls the commands below through Tauri's IPC (allowed for that origin by
//! `capabilities/main.json`). The server always checks tokens: the window gets an owner token
//! from `app_state`, guests get links (`share_links`). Share on LAN stops the server and binds
//! it again on `0.0.0.0:PORT` (same database), and the page reloads from the new address; Stop
//! sharing and Reset links replace the share key, which ends every link at once.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod keys;
mod lan;
mod server;
mod settings;
mod web;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Mutex;

use serde::Serialize;
use sync_server::auth::{Access, ShareKey};
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
    keys: Mutex<keys::Keys>,
    auth: server::Auth,
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
    /// The window's own token (every document, admin): for the widget and `/api/`.
    token: String,
}

/// A document's sharing links (`share_links`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Links {
    view: String,
    edit: String,
    view_qr: String,
    edit_qr: String,
    /// Unix seconds.
    expires_at: u64,
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
        let token = self.keys().owner_token(&settings.name, &settings.color);
        Status {
            token,
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

    fn keys(&self) -> std::sync::MutexGuard<'_, keys::Keys> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new share key, saved, then in force: every link made so far stops working and the
    /// guests they connected are disconnected (4401); the window's owner token is untouched.
    fn reset_links(&self) -> Result<(), String> {
        let secret = self.keys().new_share_key()?;
        self.auth.share.rotate(secret);
        tracing::info!("sharing links reset: every earlier link is refused");
        Ok(())
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

/// Forgets a document the page has deleted through the server's API
/// (`DELETE /api/docs/{id}`): its title goes, its id stays hidden from the list for good.
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

/// Links for `doc` while sharing: "Can view" and "Can edit", each a token for that one
/// document valid for `ttl_hours` (1 hour to 90 days; remembered), in the URL fragment of the
/// guest page (`/join/#token=…`), so it is never sent in a request, logged or passed on as a
/// Referer. With their QR codes.
#[tauri::command]
async fn share_links(
    app: State<'_, App>,
    doc: String,
    title: String,
    ttl_hours: u64,
) -> Result<Links, String> {
    if sync_server::DocName::parse(&doc).is_err() {
        return Err(format!("not a document name: {doc:?}"));
    }
    if !(1..=90 * 24).contains(&ttl_hours) {
        return Err("links last from 1 hour to 90 days".into());
    }
    {
        let mut s = app.settings();
        if s.link_hours != ttl_hours {
            s.link_hours = ttl_hours;
            app.save(&s)?;
        }
    }
    let net = app.net.lock().await;
    let status = app.status(&net, None);
    let base = match (net.sharing, status.share_base) {
        (true, Some(base)) => base,
        _ => return Err("turn Share on LAN on first".into()),
    };
    let keys = app.keys();
    let title = encode_fragment(&settings::clean_title(&title));
    let link = |access| {
        let (token, exp) = keys.link_token(&doc, access, ttl_hours * 3600);
        (format!("{base}join/#token={token}&title={title}"), exp)
    };
    let (view, expires_at) = link(Access::Read);
    let (edit, _) = link(Access::Write);
    Ok(Links {
        view_qr: lan::qr_svg(&view)?,
        edit_qr: lan::qr_svg(&edit)?,
        view,
        edit,
        expires_at,
    })
}

/// Percent-encodes everything but unreserved characters (for the title in a link).
fn encode_fragment(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reset links: a new share key while sharing stays on (see `App::reset_links`).
#[tauri::command]
async fn reset_links(app: State<'_, App>) -> Result<Status, String> {
    let net = app.net.lock().await;
    app.reset_links()?;
    Ok(app.status(&net, None))
}

/// Share on LAN on (`0.0.0.0:port`) or off (`127.0.0.1`, a free port): stops the server
/// (flushing everything), then binds it again on the same database. Turning it off first
/// resets the links, so guests are told their link no longer works before the server goes.
/// If the port cannot be bound, the server comes back local-only and the status says why.
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
    } else if net.sharing {
        app.reset_links()?;
    }
    net.running.stop().await;
    let want = if on {
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))
    } else {
        local_any_port()
    };
    let mut error = None;
    match server::start(want, &app.db, &app.web, &app.auth).await {
        Ok(running) => {
            net.running = running;
            net.sharing = on;
        }
        Err(why) => {
            tracing::warn!(%why, %want, "cannot bind; staying local");
            error = Some(format!("Cannot share on port {port}: {why}"));
            net.running = server::start(local_any_port(), &app.db, &app.web, &app.auth).await?;
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
    let keys = keys::Keys::load_or_create(&dir)?;
    let auth = server::Auth {
        owner: keys.owner.clone(),
        share: ShareKey::new(keys.share.clone()),
    };
    let running =
        tauri::async_runtime::block_on(server::start(local_any_port(), &db, &web, &auth))?;
    let addr = running.addr();
    app.manage(App {
        dir: dir.clone(),
        db,
        web,
        widget_found,
        settings: Mutex::new(settings),
        keys: Mutex::new(keys),
        auth,
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
            share_links,
            reset_links,
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
