// Types for collab-textarea: the `<collab-textarea>` custom element and `mount()`.

/** Options for {@link mount}; the custom element takes the same as attributes. */
export interface MountOptions {
  /**
   * WebSocket base URL of the sync server, e.g. `"ws://127.0.0.1:8787/sync"`; the document is
   * at `{server}/{doc}`. Default: `ws(s)://<page host>/sync`.
   */
  server?: string;
  /** Document name: 1–128 of `A-Z a-z 0-9 . _ -`. */
  doc: string;
  /** Shown to others. Default `"Anonymous"`. */
  name?: string;
  /** CSS colour of your caret and avatar. Default: picked from the name. */
  color?: string;
  /** Milliseconds to batch local edits before sending. Default 300; 0 sends at once. */
  debounce?: number;
  /** Default false. */
  readonly?: boolean;
  placeholder?: string;
  /**
   * Access token (HS256 JWT) for a server started with `--auth-secret`; sent as `?token=`.
   * A refused token (close code 4401 or 4402) shows a red "Not authorized" and is not
   * retried automatically.
   *
   * Or a function giving (a promise of) a token: called before each connect and again when
   * the server closes the connection because the token has expired (4401); the widget then
   * reconnects with the new token, keeping every edit. A function that throws or rejects
   * shows "Not authorized".
   */
  token?: string | TokenFunction;
  /**
   * Where this device keeps a copy of the document and of the changes the server has not yet
   * acknowledged, so that they survive a reload or a closed tab: `"indexeddb"` (the default)
   * or `"none"` (memory only; the save line says so while offline).
   */
  persist?: "indexeddb" | "none";
  /**
   * A History button in the header, which opens the version history: the versions the server
   * keeps (time, authors, label), a read-only preview of one, and, with write access, Restore
   * and naming the current text. Needs a server with the versions API on the same host as
   * `server` (`http(s)://host/api/docs/{doc}/versions`, with the token as a bearer token).
   * Default false.
   */
  history?: boolean;
  /**
   * Every text the widget shows, by key; keys left out keep their English default. Read at
   * mount. The widget speaks the element's language (its nearest `lang`, else `<html lang>`,
   * else the browser's): relative times through `Intl.RelativeTimeFormat`, plural forms
   * through `Intl.PluralRules`.
   */
  messages?: CollabMessages;
}

/**
 * One text, or one text per plural category for a message with a `{count}` (as
 * `Intl.PluralRules` names the categories of the element's language; `other` is used for a
 * category not given). A plain string is used for every count.
 */
export type PluralMessage =
  | string
  | { zero?: string; one?: string; two?: string; few?: string; many?: string; other?: string };

/**
 * The texts of the widget. `{name}` placeholders are filled in; an unknown key is refused
 * (the mount fails with an error naming the known keys). Defaults in English as shown.
 */
export interface CollabMessages {
  /** Status dot (its label and tooltip), and the save line with nothing unsaved. Default `"Connected"`. */
  connected?: string;
  /** First connection. Default `"Connecting…"`. */
  connecting?: string;
  /** A later connection attempt. Default `"Reconnecting…"`. */
  reconnecting?: string;
  /** Waiting before the next attempt; `{seconds}`. Default `"Disconnected — retrying in {seconds} s"`. */
  retrying?: PluralMessage;
  /** Stopped (unmounted). Default `"Disconnected"`. */
  disconnected?: string;
  /** The server refused the token (4401/4402). Default `"Not authorized"`. */
  notAuthorized?: string;
  /** The document was deleted (4410). Default `"This document was deleted"`. */
  deleted?: string;
  /** Any other refusal. Default `"Disconnected — refused by the server"`. */
  refusedByServer?: string;
  /** Save line: connected, nothing saved yet this session. Default `"All changes saved"`. */
  allSaved?: string;
  /** Save line: saved under 3 s ago. Default `"Saved just now"`. */
  savedJustNow?: string;
  /**
   * Save line: saved a while ago; `{time}` is `Intl.RelativeTimeFormat` (narrow style) in the
   * element's language, e.g. "5s ago", "vor 5 s". Default `"Saved {time}"`.
   */
  savedAgo?: string;
  /** Save line: edits on their way. Default `"Saving…"`. */
  saving?: string;
  /**
   * Save line: offline with `{count}` unsaved edits kept in this browser's IndexedDB (an edit:
   * a run of typing at one place without a 2 s pause; each undo or redo is one). Default
   * `{ one: "Offline — {count} change kept on this device", other: "Offline — {count} changes kept on this device" }`.
   */
  offline?: PluralMessage;
  /** Save line: offline, the edits being written to IndexedDB. Default `{ one: "Offline — storing {count} change on this device…", other: "Offline — storing {count} changes on this device…" }`. */
  offlineStoring?: PluralMessage;
  /** Save line: offline with `persist: "none"`. Default `{ one: "Offline — {count} unsaved change only in this tab, lost if it closes", other: "Offline — {count} unsaved changes only in this tab, lost if it closes" }`. */
  offlineTabOnly?: PluralMessage;
  /** Save line: offline, and the browser refused IndexedDB. Default `{ one: "Offline — {count} unsaved change only in this tab: the browser refused to store it", other: "Offline — {count} unsaved changes only in this tab: the browser refused to store them" }`. */
  offlineStorageRefused?: PluralMessage;
  /** Refused: over the document limit; `{limit}` e.g. "64 MB". Default `"Not saved: this document is over the server's {limit} limit"`. */
  notSavedOverLimit?: string;
  /** Refused: over the document limit, an older server that did not say it. Default `"Not saved: this document is over the server's size limit"`. */
  notSavedTooLarge?: string;
  /** Refused: a change over the message limit. Default `"Not saved: a change is over the server's message size limit"`. */
  notSavedMessageTooLarge?: string;
  /** Refused: an update was rejected. Default `"Not saved: the server refused a change"`. */
  notSavedRejected?: string;
  /** Refused: the server could not read a message. Default `"Not saved: the server could not read a message"`. */
  notSavedMalformed?: string;
  /** Refused with unsaved edits: the token. Default `"Not saved: not authorized"`. */
  notSavedUnauthorized?: string;
  /** Refused with unsaved edits: the document was deleted. Default `"Not saved: this document was deleted"`. */
  notSavedDeleted?: string;
  /** The Retry button. Default `"Retry"`. */
  retry?: string;
  /** Accessible name of the avatar list. Default `"People here"`. */
  people?: string;
  /** Your own avatar's label and tooltip; `{name}`. Default `"{name} (you)"`. */
  you?: string;
  /** After the sixth avatar; `{count}` more people. Default `"+{count}"`. */
  more?: PluralMessage;
  /**
   * Accessible name of the textarea when the host has none (no `<label for>`, `aria-label`
   * or `aria-labelledby`). Default `"Shared text"`.
   */
  textLabel?: string;
  /** The header's button that opens and closes the history panel. Default `"History"`. */
  history?: string;
  /** Name of the history panel (a region), shown as its title. Default `"Version history"`. */
  historyTitle?: string;
  /** Accessible name of the list of versions. Default `"Versions"`. */
  historyList?: string;
  /** History panel: the first list is on its way. Default `"Loading versions…"`. */
  historyLoading?: string;
  /** History panel: the server keeps no version yet. Default `"No versions yet: one is kept after each pause in editing."`. */
  historyEmpty?: string;
  /** A version's time under 3 s ago (later ones are `Intl.RelativeTimeFormat`'s, "5m ago"). Default `"just now"`. */
  historyJustNow?: string;
  /** A version without a label, made after a pause in editing (kind `auto`). Default `"Autosave"`. */
  historyKindAuto?: string;
  /** A named version whose label is empty (kind `named`). Default `"Named version"`. */
  historyKindNamed?: string;
  /** The version a restore made (kind `restore`). Default `"Restored version"`. */
  historyKindRestore?: string;
  /** Accessible name of the read-only preview of a version's text. Default `"Text of the chosen version"`. */
  historyPreview?: string;
  /** The preview's placeholder before a version is chosen. Default `"Choose a version to see its text."`. */
  historyPick?: string;
  /** History panel: a version's text is on its way. Default `"Loading this version…"`. */
  historyPreviewLoading?: string;
  /** The button that restores the chosen version (shown with write access). Default `"Restore this version"`. */
  historyRestore?: string;
  /** History panel: a restore is on its way. Default `"Restoring…"`. */
  historyRestoring?: string;
  /** History panel: the restore was made; `{time}` is the version's time ("5m ago"). Default `"Restored the version from {time}."`. */
  historyRestored?: string;
  /** Label (and placeholder) of the field for naming the current text. Default `"Name for the current text"`. */
  historyNameLabel?: string;
  /** The button that names the current text as a version. Default `"Name this version"`. */
  historyName?: string;
  /** History panel: the current text was named; `{label}`. Default `"Named the current text “{label}”."`. */
  historyNamedDone?: string;
  /** History panel: the list could not be fetched; `{reason}` is one of the reasons below. Default `"Could not load the versions: {reason}"`. */
  historyLoadFailed?: string;
  /** History panel: a version's text could not be fetched; `{reason}`. Default `"Could not load this version: {reason}"`. */
  historyPreviewFailed?: string;
  /** History panel: the restore failed; `{reason}`. Default `"Could not restore this version: {reason}"`. */
  historyRestoreFailed?: string;
  /** History panel: naming failed; `{reason}`. Default `"Could not name this version: {reason}"`. */
  historyNameFailed?: string;
  /** Reason: no answer from the server. Default `"the server cannot be reached"`. */
  historyUnreachable?: string;
  /** Reason: HTTP 401. Default `"not authorized"`. */
  historyUnauthorized?: string;
  /** Reason: HTTP 403 (a read-only token); Restore and naming are then hidden. Default `"your access does not allow it"`. */
  historyForbidden?: string;
  /** Reason: HTTP 404 (an unknown version). Default `"it no longer exists"`. */
  historyNotFound?: string;
  /** Reason: another error status with no text (with text, the server's own words are shown); `{status}`. Default `"the server answered {status}"`. */
  historyStatus?: string;
}

/** Gives a token for the next connection. */
export type TokenFunction = () => string | Promise<string>;

/** `connected` means connected *and* synced. */
export type ConnectionStatus = "connecting" | "connected" | "disconnected";

/**
 * `saved`: every local change is on the server's disk. `refused`: the server refused them
 * for a reason a retry would repeat (e.g. the document would be over its size limit); the
 * text stays, nothing is retried until Retry, and the save line says why.
 */
export type SaveState = "saved" | "saving" | "offline" | "refused";

/** `detail` of `collab-status`. */
export interface StatusDetail {
  status: ConnectionStatus;
  /** Reconnection attempt (0 on the first connection). */
  attempt: number;
}

/** `detail` of `collab-save`. */
export interface SaveDetail {
  state: SaveState;
  /** Local edits not yet acknowledged as durable (an edit: a run of typing at one place
   * without a 2 s pause; each undo or redo is one), as the save line counts them. */
  unsaved: number;
  /** Milliseconds since the epoch of the last acknowledgement, or null if none yet. */
  savedAt: number | null;
  /**
   * Where the unsaved changes are besides the page: `device` (kept in this browser's
   * IndexedDB), `storing` (being written there) or `memory` (persistence off or refused).
   */
  local: "device" | "storing" | "memory";
}

/** One person in the document. */
export interface PresenceUser {
  clientId: number;
  name: string;
  color: string;
  /** This widget's own entry. */
  self: boolean;
}

/** `detail` of `collab-presence`. */
export interface PresenceDetail {
  users: PresenceUser[];
}

/** `detail` of `collab-text`: empty; read the text with `text()`. */
export type TextDetail = Record<string, never>;

/** The widget's events, dispatched on the host element (not bubbling). */
export interface CollabEventMap {
  "collab-status": CustomEvent<StatusDetail>;
  "collab-save": CustomEvent<SaveDetail>;
  "collab-presence": CustomEvent<PresenceDetail>;
  "collab-text": CustomEvent<TextDetail>;
}

/** Short names accepted by {@link MountHandle.on}, and the events they stand for. */
export interface CollabEventShortNames {
  status: "collab-status";
  save: "collab-save";
  presence: "collab-presence";
  text: "collab-text";
}

export type CollabEventName = keyof CollabEventMap | keyof CollabEventShortNames;

/** The event type an event name (short or full) stands for. */
export type CollabEventOf<K extends CollabEventName> = K extends keyof CollabEventShortNames
  ? CollabEventMap[CollabEventShortNames[K]]
  : K extends keyof CollabEventMap
    ? CollabEventMap[K]
    : never;

/** What {@link mount} resolves with. */
export interface MountHandle {
  /** The element the widget is mounted in. */
  readonly element: HTMLElement;
  /** False once `unmount()` has run. */
  readonly mounted: boolean;
  /**
   * Removes the widget's nodes, listeners, timers and socket, and releases the wasm object.
   * Idempotent. Afterwards `text()` and `unsaved()` answer what they did at that moment,
   * `status()` answers `"disconnected"`, and the setters do nothing.
   */
  unmount(): void;
  /** The current text. */
  text(): string;
  status(): ConnectionStatus;
  /** Local changes not yet acknowledged as durable. */
  unsaved(): number;
  /** Reconnect now (what the Retry button does). */
  retry(): void;
  /** Deletes this device's copy of the document and stops keeping one, in every tab on it (for sign-out). */
  forget(): Promise<void>;
  setName(name: string): void;
  setColor(color: string): void;
  setReadonly(readonly: boolean): void;
  setPlaceholder(text: string): void;
  /** Shows or hides the History button (the `history` option); hiding it closes the panel. */
  setHistory(on: boolean): void;
  /**
   * Listens to one of the widget's events: `status`, `save`, `presence`, `text` (or the full
   * `collab-*` names). The listener gets the event's `detail`, then the event. Returns a
   * function that stops listening; `unmount()` stops every listener added here.
   */
  on<K extends CollabEventName>(
    eventName: K,
    listener: (detail: CollabEventOf<K>["detail"], event: CollabEventOf<K>) => void,
  ): () => void;
}

/**
 * Mounts a collaborative textarea into `element` (inside an open shadow root). Loads the wasm
 * on first use. Rejects if the options are invalid (e.g. a bad document name) or the wasm
 * cannot be loaded.
 */
export function mount(element: HTMLElement, options: MountOptions): Promise<MountHandle>;

/**
 * Starts loading the wasm module if nothing has yet, and resolves once it is ready. Optional:
 * `mount()` and the element call it themselves. A failed load is retried by the next call.
 */
export function ready(): Promise<void>;

/**
 * `<collab-textarea doc="notes" user-name="Ada" name="notes" server="ws://127.0.0.1:8787/sync">`.
 *
 * Mounts when it is in the document and has a `doc`; unmounts when removed. Changing
 * `server`, `doc`, `debounce` or `token` reconnects; `user-name`, `user-color`, `readonly`,
 * `disabled`, `placeholder` and `history` apply in place. Properties mirror the attributes.
 *
 * A form control like `<textarea>`: its text is the form value under `name`; `required`,
 * `maxlength`, `disabled` (or a disabled `<fieldset>`) and `readonly` take part in validation.
 * `form.reset()` leaves the shared text as it is.
 */
export class CollabTextareaElement extends HTMLElement {
  static readonly formAssociated: true;
  static readonly observedAttributes: readonly [
    "server",
    "doc",
    "user-name",
    "user-color",
    "color",
    "debounce",
    "readonly",
    "placeholder",
    "token",
    "persist",
    "history",
    "name",
    "required",
    "disabled",
    "maxlength",
    "lang",
    "aria-label",
    "aria-labelledby",
  ];
  /** The mounted widget's handle; null before the wasm has loaded, without `doc`, or when removed. */
  readonly handle: MountHandle | null;
  /** Why the last mount failed (bad attributes, wasm not loaded), or null. */
  readonly error: unknown;
  /** The current text; while nothing is mounted, the text when the last widget left (`""` before). */
  text(): string;
  /** `"connecting"` while the wasm loads, `"disconnected"` while nothing is mounted. */
  status(): ConnectionStatus;
  unsaved(): number;
  /** Reconnects now; when the last mount failed (e.g. the wasm did not load), mounts again. */
  retry(): void;
  /** Deletes this device's copy of the document, in every tab on it (for sign-out); needs a mounted widget. */
  forget(): Promise<void>;

  /** The text, as `text()`. Read-only: the text is the shared document; edit it in the widget. */
  readonly value: string;
  readonly type: "textarea";
  readonly form: HTMLFormElement | null;
  readonly labels: NodeList;
  readonly validity: ValidityState;
  readonly validationMessage: string;
  readonly willValidate: boolean;
  checkValidity(): boolean;
  reportValidity(): boolean;
  setCustomValidity(message: string): void;

  /** Attribute `name`: the form field's name (no longer the display name: see `userName`). */
  name: string;
  /** Boolean attribute `required`: an empty text is `valueMissing`. */
  required: boolean;
  /** Boolean attribute `disabled`: no typing, left out of the form's data and of validation. */
  disabled: boolean;
  /** Attribute `maxlength` (UTF-16 code units); -1 when absent. Typing stops there; a longer text from others is `tooLong`. */
  maxLength: number;

  /** Attribute `server`; `""` when absent (the default server). Setting null removes it. */
  server: string;
  /** Attribute `doc`. */
  doc: string;
  /** Attribute `user-name`: the name others see (default `"Anonymous"`). */
  userName: string;
  /** Attribute `user-color`: CSS colour of your caret and avatar (default: picked from the name). */
  userColor: string;
  /** Attribute `color`: the older spelling of `user-color` (`user-color` wins). */
  color: string;
  /** Attribute `placeholder`. */
  placeholder: string;
  /** Attribute `token` (`""` when absent), or a {@link TokenFunction} set as the property. */
  get token(): string | TokenFunction;
  set token(value: string | TokenFunction | null);
  /** Attribute `persist`: `"indexeddb"` (the default when absent) or `"none"`. */
  persist: string;
  /** Boolean attribute `history`: a History button in the header opens the version history. */
  history: boolean;
  /** Attribute `debounce` in ms; null when absent or not a whole number ≥ 0. */
  debounce: number | null;
  /** Boolean attribute `readonly`: no typing; still submitted, not validated. */
  readonly: boolean;
  /** Same as `readonly`, in the DOM's spelling. */
  readOnly: boolean;
  /**
   * The texts the widget shows (see {@link CollabMessages}); setting it remounts the widget
   * with them (as a `lang` change does). `null` for the English defaults.
   */
  messages: CollabMessages | null;
}

/**
 * The attributes of `<collab-textarea>` as a template or JSX writes them: what the framework
 * declarations below give the element.
 */
export interface CollabTextareaAttributes {
  /** Document name: 1–128 of `A-Z a-z 0-9 . _ -`. Nothing mounts without it. */
  doc?: string;
  server?: string;
  /** The name others see. */
  "user-name"?: string;
  /** CSS colour of your caret and avatar. */
  "user-color"?: string;
  /** The form field's name. */
  name?: string;
  debounce?: number | string;
  readonly?: boolean;
  disabled?: boolean;
  required?: boolean;
  maxlength?: number | string;
  placeholder?: string;
  token?: string;
  persist?: "indexeddb" | "none";
  history?: boolean;
}

declare global {
  interface HTMLElementTagNameMap {
    "collab-textarea": CollabTextareaElement;
  }
  /** The widget dispatches these on whatever element it is mounted in. */
  interface HTMLElementEventMap extends CollabEventMap {}
}

// JSX: `<collab-textarea doc="notes" ref={ref} />` in React 19 (`React.JSX`). These
// augmentations need the framework's types installed; a project without them needs
// `skipLibCheck` (every framework template's default).
declare module "react" {
  namespace JSX {
    interface IntrinsicElements {
      "collab-textarea": DetailedHTMLProps<HTMLAttributes<CollabTextareaElement>, CollabTextareaElement> &
        CollabTextareaAttributes;
    }
  }
}

// Svelte 5 (`svelte-check`): the element's attributes and its events as `oncollab-*`.
declare module "svelte/elements" {
  interface SvelteHTMLElements {
    "collab-textarea": HTMLAttributes<CollabTextareaElement> &
      CollabTextareaAttributes & {
        "oncollab-text"?: (event: CollabEventMap["collab-text"]) => void;
        "oncollab-status"?: (event: CollabEventMap["collab-status"]) => void;
        "oncollab-save"?: (event: CollabEventMap["collab-save"]) => void;
        "oncollab-presence"?: (event: CollabEventMap["collab-presence"]) => void;
      };
  }
}
