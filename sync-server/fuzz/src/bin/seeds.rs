//! Writes `corpus/{validate,apply}/seed-*`: real updates a Yjs editor would send to a
//! document like `base_doc()` (inserts between existing and deleted items, deletes, other
//! shared types, nested values, a whole-document state), plus a few frames for `validate`.
//! Run from the fuzz crate's directory: `cargo run --bin seeds`.

use std::path::Path;

use sync_server_fuzz::{base_doc, TEXT_NAME};
use yrs::types::Attrs;
use yrs::updates::decoder::Decode;
use yrs::{
    Any, Array, Doc, Map, ReadTxn, StateVector, Text, Transact, Update, WriteTxn, XmlFragment,
};

fn main() {
    let base = base_doc();
    let base_state = base
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    // A second editor that has synced the base document.
    let editor = Doc::with_options(yrs::Options {
        client_id: yrs::ClientID::new(2),
        offset_kind: yrs::OffsetKind::Utf16,
        ..yrs::Options::default()
    });
    editor
        .transact_mut()
        .apply_update(Update::decode_v1(&base_state).unwrap())
        .unwrap();
    let text = editor.get_or_insert_text(TEXT_NAME);
    let mut updates: Vec<(&str, Vec<u8>)> = vec![("empty", vec![0, 0])];
    let mut edit = |name: &'static str, change: &dyn Fn(&mut yrs::TransactionMut)| {
        let mut txn = editor.transact_mut();
        change(&mut txn);
        updates.push((name, txn.encode_update_v1()));
    };
    edit("insert-middle", &|txn| text.insert(txn, 3, "XYZ"));
    edit("insert-start-emoji", &|txn| text.insert(txn, 0, "😀é"));
    edit("delete-across", &|txn| text.remove_range(txn, 1, 5));
    edit("append", &|txn| {
        let len = text.len(txn);
        text.insert(txn, len, "!")
    });
    edit("format-embed", &|txn| {
        let bold: Attrs = [("bold".into(), Any::Bool(true))].into_iter().collect();
        text.format(txn, 0, 2, bold);
        text.insert_embed(txn, 1, Any::from("image"));
    });
    edit("map-array-nested", &|txn| {
        let map = txn.get_or_insert_map("meta");
        map.insert(txn, "title", "notes");
        map.insert(txn, "n", Any::from(-42.5));
        let array = txn.get_or_insert_array("list");
        let nested = Any::from(vec![
            Any::from(vec![Any::Null, Any::from(true), Any::from(-7i64)]),
            Any::Buffer(vec![1u8, 2, 3].into()),
        ]);
        array.insert(txn, 0, nested);
    });
    edit("xml", &|txn| {
        let xml = txn.get_or_insert_xml_fragment("xml");
        xml.push_back(txn, yrs::XmlTextPrelim::new("x"));
    });
    let full = editor
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    updates.push(("whole-document", full));
    let fresh = Doc::with_client_id(3);
    let fresh_text = fresh.get_or_insert_text(TEXT_NAME);
    updates.push(("fresh-insert", {
        let mut txn = fresh.transact_mut();
        fresh_text.insert(&mut txn, 0, "fresh");
        txn.encode_update_v1()
    }));

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for target in ["validate", "apply"] {
        std::fs::create_dir_all(root.join(target)).unwrap();
    }
    for (name, update) in &updates {
        for target in ["validate", "apply"] {
            std::fs::write(root.join(target).join(format!("seed-{name}")), update).unwrap();
        }
        // The same update as a sync Update message, then followed by an awareness message.
        let mut frame = vec![0, 2];
        write_var(&mut frame, update.len() as u64);
        frame.extend_from_slice(update);
        std::fs::write(
            root.join("validate").join(format!("seed-frame-{name}")),
            &frame,
        )
        .unwrap();
    }
    let mut awareness = vec![1];
    let state = br##"{"user":{"name":"Ada","color":"#ff0000"}}"##;
    let mut payload = vec![1, 2, 1];
    write_var(&mut payload, state.len() as u64);
    payload.extend_from_slice(state);
    write_var(&mut awareness, payload.len() as u64);
    awareness.extend_from_slice(&payload);
    std::fs::write(
        root.join("validate").join("seed-frame-awareness"),
        awareness,
    )
    .unwrap();
    // SyncStep1 with the base document's state vector.
    let sv = {
        use yrs::updates::encoder::Encode;
        base.transact().state_vector().encode_v1()
    };
    let mut step1 = vec![0, 0];
    write_var(&mut step1, sv.len() as u64);
    step1.extend_from_slice(&sv);
    std::fs::write(root.join("validate").join("seed-frame-step1"), step1).unwrap();
    println!("wrote {} updates to {}", updates.len(), root.display());
}

fn write_var(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}
