// The window's page comes from the in-process server (http://127.0.0.1:PORT), which Tauri
// treats as a remote origin: its commands are reachable only through the permissions
// generated here and granted in capabilities/main.json.
fn main() {
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(
        tauri_build::AppManifest::new().commands(&[
            "app_state",
            "save_profile",
            "create_doc",
            "open_doc",
            "rename_doc",
            "delete_doc",
            "qr_svg",
            "share_links",
            "reset_links",
            "set_sharing",
            "quit",
        ]),
    ))
    .expect("tauri-build failed");
}
