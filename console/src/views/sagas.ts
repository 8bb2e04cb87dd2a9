// Sagas filtered by type, state, employee and age, newest first, one page at a time; the stuck
// view is the same list held to STUCK.
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { problemView } from "../api";
import { SagaState, SagaType, type Saga } from "../gen/hrmesh/orchestrator/v1/orchestrator_pb";
import { age, h, link, named, when } from "../ui";
import { choices, type Context, route } from "./context";

const PAGE_SIZE = 20;

/** The age filter's choices: created within the last … */
const AGES: Record<string, number> = {
  "1h": 3_600_000,
  "24h": 86_400_000,
  "7d": 7 * 86_400_000,
  "30d": 30 * 86_400_000,
};

export function stateBadge(state: SagaState, testId?: string): HTMLElement {
  const name = named(SagaState, state);
  return h("span", { class: `state state-${name}`, "data-testid": testId }, name);
}

function select(name: string, options: string[], chosen: string, any: string): HTMLSelectElement {
  return h(
    "select",
    { name, "data-testid": `filter-${name}` },
    h("option", { value: "" }, any),
    options.map((option) =>
      h("option", { value: option.toLowerCase(), selected: option.toLowerCase() === chosen }, option.toLowerCase().replace(/_/g, " ")),
    ),
  );
}

export async function sagasView(ctx: Context, stuckOnly: boolean): Promise<HTMLElement> {
  const path = stuckOnly ? "/stuck" : "/sagas";
  const params = {
    type: ctx.params.get("type") ?? "",
    state: stuckOnly ? "stuck" : (ctx.params.get("state") ?? ""),
    employee: ctx.params.get("employee") ?? "",
    age: ctx.params.get("age") ?? "",
    page: ctx.params.get("page") ?? "",
  };
  const form = h(
    "form",
    {
      class: "filters",
      "data-testid": "saga-filters",
      onsubmit: (event: Event) => {
        event.preventDefault();
        const data = new FormData(event.target as HTMLFormElement);
        const value = (key: string) => String(data.get(key) ?? "").trim();
        location.hash = route(path, {
          type: value("type"),
          state: stuckOnly ? "" : value("state"),
          employee: value("employee"),
          age: value("age"),
        });
      },
    },
    select("type", choices(SagaType), params.type, "any type"),
    !stuckOnly && select("state", choices(SagaState), params.state, "any state"),
    h("input", { name: "employee", placeholder: "employee id", value: params.employee, "data-testid": "filter-employee" }),
    h(
      "select",
      { name: "age", "data-testid": "filter-age" },
      h("option", { value: "" }, "any age"),
      Object.keys(AGES).map((key) => h("option", { value: key, selected: key === params.age }, `last ${key}`)),
    ),
    h("button", { type: "submit", "data-testid": "filter-apply" }, "Filter"),
  );
  const title = h("h2", {}, stuckOnly ? "Stuck sagas" : "Sagas");
  const typeValue = SagaType[params.type.toUpperCase() as keyof typeof SagaType];
  const stateValue = SagaState[params.state.toUpperCase() as keyof typeof SagaState];
  const within = AGES[params.age];
  try {
    const answer = await ctx.api.orchestrator.listSagas(
      {
        type: typeof typeValue === "number" ? typeValue : SagaType.UNSPECIFIED,
        state: typeof stateValue === "number" ? stateValue : SagaState.UNSPECIFIED,
        employeeId: params.employee,
        createdAfter: within === undefined ? undefined : timestampFromMs(Date.now() - within),
        pageSize: PAGE_SIZE,
        pageToken: params.page,
      },
      { signal: ctx.signal },
    );
    const rows = answer.sagas.map((saga) => sagaRow(saga, stuckOnly));
    const headers = ["Saga", "Type", "State", "Employee", "Created", "Age", stuckOnly ? "Why it is stuck" : "Reason"];
    const list =
      rows.length === 0
        ? h("p", { class: "empty", "data-testid": "sagas-empty" }, stuckOnly ? "No saga is stuck." : "No saga matches.")
        : h(
            "table",
            { "data-testid": "sagas" },
            h("thead", {}, h("tr", {}, headers.map((header) => h("th", {}, header)))),
            h("tbody", {}, rows),
          );
    const paging = h(
      "nav",
      { class: "paging" },
      params.page && link(route(path, { ...params, state: stuckOnly ? "" : params.state, page: "" }), "First page", "first-page"),
      answer.nextPageToken &&
        link(route(path, { ...params, state: stuckOnly ? "" : params.state, page: answer.nextPageToken }), "Next page", "next-page"),
    );
    return h("section", { "data-testid": stuckOnly ? "stuck-view" : "sagas-view" }, title, form, list, paging);
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    return h("section", { "data-testid": stuckOnly ? "stuck-view" : "sagas-view" }, title, form, problemView(error));
  }
}

function sagaRow(saga: Saga, stuckOnly: boolean): HTMLElement {
  return h(
    "tr",
    { "data-testid": "saga-row", "data-saga-id": saga.sagaId },
    h("td", {}, link(`#/sagas/${encodeURIComponent(saga.sagaId)}`, saga.sagaId, "saga-link")),
    h("td", {}, named(SagaType, saga.type)),
    h("td", {}, stateBadge(saga.state)),
    h("td", {}, link(`#/employees/${encodeURIComponent(saga.employeeId)}`, saga.employeeId)),
    h("td", {}, when(saga.createTime)),
    h("td", {}, age(saga.createTime)),
    h("td", { class: stuckOnly ? "reason" : "" }, saga.reason),
  );
}
