// A service's audit trail: every accepted mutating call, newest first, filtered by subject and
// method, one page at a time.
import { problemView, SERVICES, type ServiceName } from "../api";
import { h, link, table, when } from "../ui";
import { type Context, route } from "./context";

export async function auditView(ctx: Context, service: ServiceName): Promise<HTMLElement> {
  const params = {
    subject: ctx.params.get("subject") ?? "",
    method: ctx.params.get("method") ?? "",
    page: ctx.params.get("page") ?? "",
  };
  const path = `/audit/${service}`;
  const tabs = h(
    "nav",
    { class: "tabs" },
    SERVICES.map((name) =>
      h("a", { href: `#/audit/${name}`, class: name === service ? "current" : "", "data-testid": `audit-tab-${name}` }, name),
    ),
  );
  const form = h(
    "form",
    {
      class: "filters",
      onsubmit: (event: Event) => {
        event.preventDefault();
        const data = new FormData(event.target as HTMLFormElement);
        location.hash = route(path, {
          subject: String(data.get("subject") ?? "").trim(),
          method: String(data.get("method") ?? "").trim(),
        });
      },
    },
    h("input", { name: "subject", placeholder: "subject", value: params.subject, "data-testid": "audit-subject" }),
    h("input", { name: "method", placeholder: "/hrmesh.…/Method", value: params.method, size: "48", "data-testid": "audit-method" }),
    h("button", { type: "submit" }, "Filter"),
  );
  const head = [h("h2", {}, `Audit trail: ${service}`), tabs, form];
  try {
    const answer = await ctx.api[service].listAuditEvents(
      { subject: params.subject, method: params.method, pageSize: 50, pageToken: params.page },
      { signal: ctx.signal },
    );
    const rows = answer.events.map((event) => [
      String(event.seq),
      when(event.time),
      h("code", {}, event.method.replace(/^\/hrmesh\./, "")),
      event.subject,
      event.actorType,
      event.onBehalfOf,
      event.outcome,
      event.clientAddress,
      event.forwardedFor,
      event.requestId,
    ]);
    const headers = ["#", "Time", "Method", "Subject", "Actor", "On behalf of", "Outcome", "Client", "Forwarded for", "Request id"];
    return h(
      "section",
      { "data-testid": "audit-view", "data-service": service },
      head,
      table("audit-events", headers, rows, "Nothing recorded."),
      h(
        "nav",
        { class: "paging" },
        params.page && link(route(path, { ...params, page: "" }), "Newest", "first-page"),
        answer.nextPageToken && link(route(path, { ...params, page: answer.nextPageToken }), "Older", "next-page"),
      ),
    );
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    return h("section", { "data-testid": "audit-view", "data-service": service }, head, problemView(error));
  }
}
