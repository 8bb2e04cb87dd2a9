// One saga: its input, its steps, and its history as a timeline kept live over WatchSaga; a stuck
// saga offers Retry, Skip step and Mark compensated (the last two need a justification).
import { toJsonString } from "@bufbuild/protobuf";
import { problemView } from "../api";
import {
  type Saga,
  type SagaEvent,
  SagaState,
  SagaType,
  StartSagaRequestSchema,
  StepKind,
  StepStatus,
} from "../gen/hrmesh/orchestrator/v1/orchestrator_pb";
import { fill, h, link, named, newId, when } from "../ui";
import type { Context } from "./context";
import { stateBadge } from "./sagas";

const OPERATOR_KINDS = new Set(["operator_retried", "operator_skipped", "operator_marked_compensated"]);

function pairs(output: { [key: string]: string }): string {
  return Object.entries(output)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}=${value}`)
    .join(" ");
}

export async function sagaView(ctx: Context, sagaId: string): Promise<HTMLElement> {
  const { orchestrator } = ctx.api;
  let saga: Saga;
  try {
    saga = await orchestrator.getSaga({ sagaId }, { signal: ctx.signal });
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    return h("section", { "data-testid": "saga-view" }, h("h2", {}, `Saga ${sagaId}`), problemView(error));
  }
  const summary = h("dl", { class: "summary" });
  const steps = h("div");
  const actions = h("div");
  const live = h("span", { class: "live", "data-testid": "live" });
  const history = h("tbody", { "data-testid": "history" });
  const seen = new Set<bigint>();
  const streamProblem = h("div");

  const stepName = (index: number) => saga.steps.find((step) => step.index === index)?.name ?? String(index);
  const addEvent = (event: SagaEvent) => {
    if (seen.has(event.sequence)) return;
    seen.add(event.sequence);
    const operator = OPERATOR_KINDS.has(event.kind);
    history.append(
      h(
        "tr",
        { "data-testid": "history-entry", "data-kind": event.kind, class: operator ? "operator" : "" },
        h("td", {}, String(event.sequence)),
        h("td", {}, when(event.time)),
        h("td", {}, `${event.step} ${stepName(event.step)}`),
        h("td", { class: `kind kind-${event.kind}` }, event.kind.replace(/_/g, " ")),
        h("td", {}, event.detail),
        h("td", { "data-testid": operator ? "history-actor" : undefined }, event.actor),
        h("td", {}, pairs(event.output)),
      ),
    );
  };

  const render = () => {
    fill(
      summary,
      h("dt", {}, "Type"),
      h("dd", {}, named(SagaType, saga.type)),
      h("dt", {}, "State"),
      h("dd", {}, stateBadge(saga.state, "saga-state")),
      h("dt", {}, "Employee"),
      h("dd", {}, link(`#/employees/${encodeURIComponent(saga.employeeId)}`, saga.employeeId, "saga-employee")),
      h("dt", {}, "Created"),
      h("dd", {}, when(saga.createTime)),
      h("dt", {}, "Updated"),
      h("dd", {}, when(saga.updateTime)),
      saga.reason && [h("dt", {}, "Reason"), h("dd", { "data-testid": "saga-reason" }, saga.reason)],
    );
    fill(
      steps,
      h(
        "table",
        { "data-testid": "steps" },
        h("thead", {}, h("tr", {}, ["#", "Step", "Kind", "Status", "Output"].map((title) => h("th", {}, title)))),
        h(
          "tbody",
          {},
          saga.steps.map((step) =>
            h(
              "tr",
              { "data-testid": "step", "data-status": named(StepStatus, step.status) },
              h("td", {}, String(step.index)),
              h("td", {}, step.name),
              h("td", {}, named(StepKind, step.kind)),
              h("td", { class: `status status-${named(StepStatus, step.status)}` }, named(StepStatus, step.status)),
              h("td", {}, pairs(step.output)),
            ),
          ),
        ),
      ),
    );
    fill(actions, saga.state === SagaState.STUCK && operatorPanel());
    saga.history.forEach(addEvent);
  };

  const refresh = async () => {
    saga = await orchestrator.getSaga({ sagaId }, { signal: ctx.signal });
    render();
  };

  const operatorPanel = (): HTMLElement => {
    const justification = h("textarea", {
      "data-testid": "justification",
      rows: "2",
      placeholder: "Justification (required to skip a step or mark the saga compensated)",
    });
    const outcome = h("div", { "data-testid": "action-outcome" });
    const buttons: HTMLButtonElement[] = [];
    const act = async (action: "retry" | "skip" | "compensated") => {
      const text = justification.value.trim();
      if (action !== "retry" && text === "") {
        outcome.replaceChildren(
          h("p", { class: "problem", "data-testid": "justification-required" }, "Write a justification first: it is kept in the saga's history."),
        );
        return;
      }
      buttons.forEach((button) => (button.disabled = true));
      const request = { sagaId, justification: text, requestId: newId() };
      try {
        saga =
          action === "retry"
            ? await orchestrator.retrySaga(request, { signal: ctx.signal })
            : action === "skip"
              ? await orchestrator.skipStep(request, { signal: ctx.signal })
              : await orchestrator.markCompensated(request, { signal: ctx.signal });
        render();
        void watch();
      } catch (error) {
        if (ctx.signal.aborted) return;
        outcome.replaceChildren(problemView(error));
        buttons.forEach((button) => (button.disabled = false));
      }
    };
    buttons.push(
      h("button", { "data-testid": "action-retry", onclick: () => void act("retry") }, "Retry"),
      h("button", { "data-testid": "action-skip", onclick: () => void act("skip") }, "Skip step"),
      h("button", { "data-testid": "action-compensated", onclick: () => void act("compensated") }, "Mark compensated"),
    );
    return h(
      "div",
      { class: "actions", "data-testid": "actions" },
      h("h3", {}, "This saga waits for a person"),
      h("p", {}, saga.reason),
      justification,
      h("div", { class: "buttons" }, buttons),
      outcome,
    );
  };

  let watching = false;
  const watch = async () => {
    if (watching) return;
    watching = true;
    live.textContent = "live";
    live.className = "live on";
    streamProblem.replaceChildren();
    try {
      for await (const update of orchestrator.watchSaga({ sagaId }, { signal: ctx.signal })) {
        // The stream replays the history first: only news needs the steps read again.
        const news = update.event !== undefined && !seen.has(update.event.sequence);
        if (update.event) addEvent(update.event);
        if (news || update.state !== saga.state) await refresh();
      }
      await refresh();
    } catch (error) {
      if (ctx.signal.aborted) return;
      streamProblem.replaceChildren(problemView(error));
    } finally {
      watching = false;
      live.textContent = "not live: the saga ended or waits";
      live.className = "live off";
    }
  };

  render();
  void watch();
  return h(
    "section",
    { "data-testid": "saga-view", "data-saga-id": sagaId },
    h("h2", {}, "Saga ", h("code", {}, sagaId), " ", live),
    summary,
    actions,
    h("h3", {}, "Steps"),
    steps,
    h("h3", {}, "Timeline"),
    streamProblem,
    h(
      "table",
      { class: "timeline" },
      h("thead", {}, h("tr", {}, ["#", "Time", "Step", "Event", "Detail", "By", "Output"].map((title) => h("th", {}, title)))),
      history,
    ),
    h("h3", {}, "Input"),
    h("pre", { "data-testid": "saga-input" }, saga.start ? toJsonString(StartSagaRequestSchema, saga.start, { prettySpaces: 2 }) : ""),
  );
}
