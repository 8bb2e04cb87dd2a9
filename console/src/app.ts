// The hrmesh operator console: a single page served by the orchestrator, talking grpc-web to every
// service with the caller's bearer token. The token comes from the address's fragment
// (#token=… or #access_token=…, which browsers never send to a server) or is pasted in; it is held
// in memory only and dropped from the address bar at once.
import { clients, type Clients, type Config, SERVICES, type ServiceName, setToken, signedIn } from "./api";
import { h } from "./ui";
import { auditView } from "./views/audit";
import type { Context } from "./views/context";
import { employeeView } from "./views/employee";
import { sagaView } from "./views/saga";
import { sagasView } from "./views/sagas";

const FIRST_VIEW = "hrmesh:first-view";

let api: Clients;
let current: AbortController | undefined;
let subject = "";

/** The token's subject, read for display only (the services verify the token). */
function subjectOf(token: string): string {
  try {
    const payload = token.split(".")[1] ?? "";
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const claims = JSON.parse(json) as { sub?: unknown };
    return typeof claims.sub === "string" ? claims.sub : "";
  } catch {
    return "";
  }
}

function takeTokenFromAddress(): void {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  const token = fragment.get("token") ?? fragment.get("access_token");
  if (token) {
    signIn(token);
    history.replaceState(null, "", `${location.pathname}${location.search}#/sagas`);
  }
}

function signIn(token: string): void {
  setToken(token);
  subject = subjectOf(token.trim());
}

function signInView(): HTMLElement {
  const input = h("textarea", { rows: "4", cols: "80", "data-testid": "token-input", placeholder: "eyJ…" });
  return h(
    "section",
    { "data-testid": "signin-view" },
    h("h2", {}, "Sign in"),
    h(
      "p",
      {},
      "Paste a bearer token from your identity provider (in development: the console address ",
      h("code", {}, "hrmesh up"),
      " prints carries one). It stays in this page's memory and is gone when the page closes.",
    ),
    h(
      "form",
      {
        onsubmit: (event: Event) => {
          event.preventDefault();
          signIn(input.value);
          void show();
        },
      },
      input,
      h("div", {}, h("button", { type: "submit", "data-testid": "token-submit" }, "Sign in")),
    ),
  );
}

function header(): HTMLElement {
  const employee = h("input", { name: "employee", placeholder: "employee id", "data-testid": "employee-search" });
  return h(
    "header",
    {},
    h("h1", {}, "hrmesh"),
    h(
      "nav",
      {},
      h("a", { href: "#/sagas", "data-testid": "nav-sagas" }, "Sagas"),
      h("a", { href: "#/stuck", "data-testid": "nav-stuck" }, "Stuck"),
      h("a", { href: "#/audit/orchestrator", "data-testid": "nav-audit" }, "Audit"),
      h(
        "form",
        {
          class: "inline",
          onsubmit: (event: Event) => {
            event.preventDefault();
            const id = employee.value.trim();
            if (id) location.hash = `#/employees/${encodeURIComponent(id)}`;
          },
        },
        employee,
        h("button", { type: "submit", "data-testid": "employee-go" }, "Employee"),
      ),
    ),
    h(
      "span",
      { class: "who" },
      signedIn() && ["signed in as ", h("strong", { "data-testid": "signed-in-as" }, subject || "(no subject)"), " "],
      signedIn() &&
        h(
          "button",
          {
            "data-testid": "sign-out",
            onclick: () => {
              signIn("");
              void show();
            },
          },
          "Sign out",
        ),
    ),
  );
}

async function render(ctx: Context, path: string[]): Promise<HTMLElement> {
  const [first, second] = path;
  switch (first) {
    case "sagas":
      return second ? sagaView(ctx, decodeURIComponent(second)) : sagasView(ctx, false);
    case "stuck":
      return sagasView(ctx, true);
    case "audit": {
      const service = (SERVICES as string[]).includes(second ?? "") ? (second as ServiceName) : "orchestrator";
      return auditView(ctx, service);
    }
    case "employees":
      if (second) return employeeView(ctx, decodeURIComponent(second));
      break;
  }
  location.hash = "#/sagas";
  return h("section", {});
}

/** Shows the view the fragment names; a newer navigation aborts the calls of the one before. */
async function show(): Promise<void> {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const main = document.getElementById("main") as HTMLElement;
  document.getElementById("header")?.replaceChildren(header());
  if (!signedIn()) {
    main.replaceChildren(signInView());
    return;
  }
  const [pathPart, query] = location.hash.replace(/^#\/?/, "").split("?", 2);
  const ctx: Context = { api, signal: controller.signal, params: new URLSearchParams(query ?? "") };
  main.setAttribute("aria-busy", "true");
  try {
    const view = await render(ctx, (pathPart ?? "").split("/").filter((part) => part !== ""));
    if (!controller.signal.aborted) {
      main.replaceChildren(view);
      // The first view's data on screen: what a first load costs (read by the browser tests).
      if (performance.getEntriesByName(FIRST_VIEW).length === 0) performance.mark(FIRST_VIEW);
    }
  } catch (error) {
    if (!controller.signal.aborted) main.replaceChildren(h("p", { class: "problem" }, String(error)));
  } finally {
    if (!controller.signal.aborted) main.removeAttribute("aria-busy");
  }
}

async function start(): Promise<void> {
  takeTokenFromAddress();
  const answer = await fetch("config.json", { cache: "no-store" });
  const config = (await answer.json()) as Config;
  api = clients(config);
  window.addEventListener("hashchange", () => void show());
  await show();
}

void start();
