// The services' generated clients over grpc-web, the bearer token (held in memory only) and the
// details of a refused call.
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { BadRequestSchema, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb";
import { LedgerService } from "./gen/hrmesh/ledger/v1/ledger_pb";
import { NotificationService } from "./gen/hrmesh/notification/v1/notification_pb";
import { SagaService } from "./gen/hrmesh/orchestrator/v1/orchestrator_pb";
import { PerformanceService } from "./gen/hrmesh/performance/v1/performance_pb";
import { h, newId } from "./ui";

/** Where each service answers grpc-web (the orchestrator serves it as /console/config.json);
 * an empty URL means the page's own origin (behind the gateway every service is there). */
export interface Config {
  orchestrator: string;
  ledger: string;
  performance: string;
  notification: string;
}

export interface Clients {
  orchestrator: Client<typeof SagaService>;
  ledger: Client<typeof LedgerService>;
  performance: Client<typeof PerformanceService>;
  notification: Client<typeof NotificationService>;
}

export type ServiceName = keyof Clients;
export const SERVICES: ServiceName[] = ["orchestrator", "ledger", "performance", "notification"];

let token = "";

export function setToken(value: string): void {
  token = value.trim();
}

export function signedIn(): boolean {
  return token !== "";
}

const authorize: Interceptor = (next) => async (request) => {
  if (token) request.header.set("authorization", `Bearer ${token}`);
  request.header.set("x-request-id", newId());
  return next(request);
};

export function clients(config: Config): Clients {
  const transport = (base: string) =>
    createGrpcWebTransport({ baseUrl: base || location.origin, interceptors: [authorize] });
  return {
    orchestrator: createClient(SagaService, transport(config.orchestrator)),
    ledger: createClient(LedgerService, transport(config.ledger)),
    performance: createClient(PerformanceService, transport(config.performance)),
    notification: createClient(NotificationService, transport(config.notification)),
  };
}

/** What a refused call said: its status, message and every detail. */
export interface Problem {
  code: string;
  message: string;
  violations: { field: string; description: string }[];
  reasons: { reason: string; domain: string; metadata: Record<string, string> }[];
}

/** The gRPC name of a status code: INVALID_ARGUMENT, FAILED_PRECONDITION, … */
function codeName(code: Code): string {
  if (code === Code.Canceled) return "CANCELLED";
  return (Code[code] ?? String(code)).replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

export function problem(error: unknown): Problem {
  const refused = ConnectError.from(error);
  return {
    code: codeName(refused.code),
    message: refused.rawMessage,
    violations: refused
      .findDetails(BadRequestSchema)
      .flatMap((bad) => bad.fieldViolations.map(({ field, description }) => ({ field, description }))),
    reasons: refused
      .findDetails(ErrorInfoSchema)
      .map(({ reason, domain, metadata }) => ({ reason, domain, metadata })),
  };
}

/** A refused call as the page shows it: the status, the message, which field broke which rule,
 * and the reason with its metadata. */
export function problemView(error: unknown): HTMLElement {
  const { code, message, violations, reasons } = problem(error);
  return h(
    "div",
    { class: "problem", role: "alert", "data-testid": "problem" },
    h("strong", { "data-testid": "problem-code" }, code),
    " ",
    h("span", { "data-testid": "problem-message" }, message),
    violations.length > 0 &&
      h(
        "ul",
        { "data-testid": "problem-violations" },
        violations.map(({ field, description }) => h("li", {}, h("code", {}, field), ": ", description)),
      ),
    reasons.map(({ reason, domain, metadata }) =>
      h(
        "p",
        { "data-testid": "problem-reason" },
        "reason ",
        h("code", {}, reason),
        domain && ` (${domain})`,
        Object.entries(metadata)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([key, value]) => [" · ", h("code", {}, key), "=", value]),
      ),
    ),
  );
}
