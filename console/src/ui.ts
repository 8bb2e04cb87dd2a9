// DOM helpers: elements are built with textContent only (never innerHTML), so nothing a service
// returns can run as markup.
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";

export type Child = Node | string | null | undefined | false | Child[];
type Attrs = Record<string, string | boolean | ((event: Event) => void) | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") {
      element.addEventListener(name.replace(/^on/, ""), value);
    } else {
      element.setAttribute(name, value === true ? "" : value);
    }
  }
  return fill(element, ...children);
}

/** Replaces an element's children (nested lists flattened, empty ones left out). */
export function fill<E extends Element>(element: E, ...children: Child[]): E {
  element.replaceChildren();
  const append = (child: Child) => {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) child.forEach(append);
    else element.append(child);
  };
  children.forEach(append);
  return element;
}

/** A table with a header row; `rows` are lists of cells. */
export function table(testId: string, headers: string[], rows: Child[][], empty: string): HTMLElement {
  if (rows.length === 0) return h("p", { class: "empty", "data-testid": testId }, empty);
  return h(
    "table",
    { "data-testid": testId },
    h("thead", {}, h("tr", {}, headers.map((header) => h("th", {}, header)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell) => h("td", {}, cell))))),
  );
}

/** A time in UTC, with its zone: "2026-12-03 08:15:02 UTC". */
export function when(time: Timestamp | undefined): string {
  if (!time) return "";
  return timestampDate(time).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

/** How long ago, coarsely: "12 s", "5 min", "3 h", "2 d". */
export function age(time: Timestamp | undefined, now = Date.now()): string {
  if (!time) return "";
  const seconds = Math.max(0, Math.round((now - timestampDate(time).getTime()) / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

/** An enum value's name as the proto spells it after its prefix, in lower case: "compensated". */
export function named(names: Record<number, string>, value: number): string {
  const name = names[value];
  return name === undefined ? String(value) : name.toLowerCase().replace(/_/g, " ");
}

/** A link within the console. */
export function link(href: string, text: string, testId?: string): HTMLAnchorElement {
  return h("a", { href, "data-testid": testId }, text);
}

/** A random id for request_id fields (the page may run outside a secure context). */
export function newId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
