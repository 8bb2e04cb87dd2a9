// Shared by the hrmesh k6 suites: gRPC clients built from the .proto files under proto/, the load
// profiles, and the JSON summary (p50/p95/p99 and throughput per workflow).
import grpc from 'k6/net/grpc';
import { check } from 'k6';
import { Counter, Trend } from 'k6/metrics';

export const PROTO_DIR = __ENV.PROTO_DIR || '../../proto';
export const ADDR = {
  orchestrator: __ENV.ORCHESTRATOR_ADDR || '127.0.0.1:50051',
  ledger: __ENV.LEDGER_ADDR || '127.0.0.1:50052',
  performance: __ENV.PERFORMANCE_ADDR || '127.0.0.1:50053',
  notification: __ENV.NOTIFICATION_ADDR || '127.0.0.1:50054',
};
const FILES = {
  orchestrator: 'hrmesh/orchestrator/v1/orchestrator.proto',
  ledger: 'hrmesh/ledger/v1/ledger.proto',
  performance: 'hrmesh/performance/v1/performance.proto',
  notification: 'hrmesh/notification/v1/notification.proto',
};
export const SERVICE = {
  orchestrator: 'hrmesh.orchestrator.v1.SagaService',
  ledger: 'hrmesh.ledger.v1.LedgerService',
  performance: 'hrmesh.performance.v1.PerformanceService',
  notification: 'hrmesh.notification.v1.NotificationService',
};

// One client per service, loaded from the .proto files (init context only).
export function clients(names) {
  const out = {};
  for (const name of names) {
    const client = new grpc.Client();
    client.load([PROTO_DIR], FILES[name]);
    out[name] = client;
  }
  return out;
}

let connected = false;

// Connects this VU's clients once.
export function connect(all) {
  if (connected) return;
  for (const [name, client] of Object.entries(all)) {
    client.connect(ADDR[name], { plaintext: true, timeout: '10s' });
  }
  connected = true;
}

// Calls `service/method`; throws with the status when the call fails, so callers see why.
export function call(client, service, method, request) {
  const response = client.invoke(`${SERVICE[service]}/${method}`, request, {
    timeout: '30s',
    metadata: { authorization: `Bearer ${__ENV.HRMESH_TOKEN}` },
  });
  if (response.status !== grpc.StatusOK) {
    const detail = response.error ? JSON.stringify(response.error) : '';
    throw new Error(`${service} ${method}: status ${response.status} ${detail}`);
  }
  return response.message;
}

export const workflowMs = new Trend('workflow_ms', true);
export const workflowErrors = new Counter('workflow_errors');
export const WORKFLOWS = ['complete-review', 'request-time-off'];

// Runs `prepare` (not measured) then `run` (measured, into `ms` tagged `{ [tag]: name }`). Any
// exception counts as a failed check and in `errors`, so a throwing script fails the thresholds.
export function timed({ ms, errors, tag, name, checked }, prepare, run) {
  let ok = false;
  try {
    const state = prepare();
    const start = Date.now();
    ok = run(state);
    ms.add(Date.now() - start, { [tag]: name });
  } catch (err) {
    console.error(`${name}: ${err}`);
    errors.add(1, { [tag]: name });
  }
  check(ok, { [`${name} ${checked}`]: (v) => v === true });
}

// One workflow iteration, measured by `timed`.
export function measured(workflow, prepare, run) {
  timed(
    { ms: workflowMs, errors: workflowErrors, tag: 'workflow', name: workflow, checked: 'completed' },
    prepare,
    run,
  );
}

// The load profiles (seed 002, step 16), per workflow scenario.
export function profile(name) {
  switch (name) {
    case 'smoke':
      return { executor: 'shared-iterations', vus: 1, iterations: 5, maxDuration: '1m' };
    case 'load':
      return {
        executor: 'ramping-vus',
        startVUs: 0,
        stages: [
          { duration: '10s', target: 8 },
          { duration: '40s', target: 8 },
          { duration: '5s', target: 0 },
        ],
        gracefulRampDown: '10s',
      };
    case 'stress':
      return {
        executor: 'ramping-vus',
        startVUs: 0,
        stages: [
          { duration: '20s', target: 8 },
          { duration: '30s', target: 16 },
          { duration: '30s', target: 32 },
          { duration: '30s', target: 48 },
          { duration: '10s', target: 0 },
        ],
        gracefulRampDown: '10s',
      };
    case 'spike':
      return {
        executor: 'ramping-vus',
        startVUs: 1,
        stages: [
          { duration: '10s', target: 2 },
          { duration: '5s', target: 64 },
          { duration: '20s', target: 64 },
          { duration: '5s', target: 2 },
          { duration: '10s', target: 2 },
        ],
        gracefulRampDown: '10s',
      };
    case 'soak':
      return {
        executor: 'constant-vus',
        vus: 8,
        duration: __ENV.SOAK_DURATION || '30m',
      };
    default:
      throw new Error(`unknown profile ${name}: smoke, load, stress, spike or soak`);
  }
}

// Thresholds: latency per workflow (seed 002's bar for a saga is p95 ≈ 800 ms), every check
// passing (smoke) or nearly every (the others), and no exception at all.
export function thresholds(profileName) {
  const out = {
    workflow_errors: ['count==0'],
    checks: [profileName === 'smoke' ? 'rate==1' : 'rate>0.999'],
  };
  for (const workflow of WORKFLOWS) {
    out[`workflow_ms{workflow:${workflow}}`] = ['p(95)<800', 'p(99)<1500'];
  }
  return out;
}

export const summaryTrendStats = ['avg', 'min', 'med', 'max', 'p(95)', 'p(99)', 'count'];

// The JSON summary the runner reads: per workflow, count, throughput and p50/p95/p99 in ms.
export function summary(data, mode) {
  const seconds = data.state.testRunDurationMs / 1000;
  const out = { mode, seconds, workflows: {}, thresholds_ok: true };
  for (const workflow of WORKFLOWS) {
    const metric = data.metrics[`workflow_ms{workflow:${workflow}}`];
    if (!metric) continue;
    const v = metric.values;
    out.workflows[workflow] = {
      count: v.count,
      per_second: v.count / seconds,
      p50: v.med,
      p95: v['p(95)'],
      p99: v['p(99)'],
    };
  }
  for (const metric of Object.values(data.metrics)) {
    for (const threshold of Object.values(metric.thresholds || {})) {
      if (!threshold.ok) out.thresholds_ok = false;
    }
  }
  return out;
}
