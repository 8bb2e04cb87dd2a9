// 500 concurrent users (seed 000: 500 users, review operations under 2 s) with think time: each
// iteration is one operation, in a fixed mix of reads and sagas, then 1-5 s of thinking.
//   40 % ListBalances, 20 % ListReviews, 20 % ListNotifications (reads);
//   10 % request-time-off and 10 % complete-review, as sagas (StartSaga with wait). A review is
//   first brought into manager review by three performance calls, which are not measured.
// USERS (default 500) sets the VUs, USERS_HOLD (default 60s) how long they all stay. Sagas go to
// the orchestrator replicas in ORCHESTRATOR_ADDRS (comma-separated), VU by VU. Writes the JSON
// summary (per operation: count, per second, p50/p95/p99) to SUMMARY.
import exec from 'k6/execution';
import grpc from 'k6/net/grpc';
import { sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import { ADDR, PROTO_DIR, SERVICE, call, clients, summaryTrendStats, timed } from './lib.js';
import { employee, monday, EMPLOYEES, MANAGERS } from './data.js';

const USERS = parseInt(__ENV.USERS || '500', 10);
const ORCHESTRATORS = (__ENV.ORCHESTRATOR_ADDRS || ADDR.orchestrator).split(',');
// Weeks far from the ones workflows.js uses (0.. and 60..), so the two never meet on a day.
const WEEK_OFFSET = 120;
export const OPERATIONS = ['balances', 'reviews', 'notifications', 'time-off', 'complete-review'];

const c = clients(['ledger', 'performance', 'notification']);
const orchestrator = new grpc.Client();
orchestrator.load([PROTO_DIR], 'hrmesh/orchestrator/v1/orchestrator.proto');

const operationMs = new Trend('operation_ms', true);
const operationErrors = new Counter('operation_errors');

export const options = {
  scenarios: {
    users: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [
        { duration: '30s', target: USERS },
        { duration: __ENV.USERS_HOLD || '60s', target: USERS },
        { duration: '10s', target: 0 },
      ],
      gracefulRampDown: '15s',
    },
  },
  thresholds: Object.fromEntries([
    ['operation_errors', ['count==0']],
    ['checks', ['rate==1']],
    ...OPERATIONS.map((op) => [`operation_ms{op:${op}}`, ['p(95)<300']]),
  ]),
  summaryTrendStats,
};

let connected = false;
function connect() {
  if (connected) return;
  for (const [name, client] of Object.entries(c)) {
    client.connect(ADDR[name], { plaintext: true, timeout: '10s' });
  }
  orchestrator.connect(ORCHESTRATORS[exec.vu.idInTest % ORCHESTRATORS.length], {
    plaintext: true, timeout: '10s',
  });
  connected = true;
}

const SECTIONS = [{ title: 'Delivery', body: 'Delivered the quarter\'s commitments.' }];

// A quarterly review of its own period, moved into manager review (not measured).
function reviewInManagerReview(n, key) {
  const id = employee(n);
  const week = Math.floor(n / EMPLOYEES) * 13 + WEEK_OFFSET;
  const review = call(c.performance, 'performance', 'CreateReview', {
    requestId: `${key}/create`,
    employeeId: id,
    managerId: MANAGERS[n % MANAGERS.length],
    cycle: 'REVIEW_CYCLE_QUARTERLY',
    periodStart: monday(week),
    periodEnd: monday(week + 12),
    dueDate: monday(week + 14),
  });
  call(c.performance, 'performance', 'OpenSelfAssessment', { requestId: `${key}/open`, reviewId: review.reviewId });
  call(c.performance, 'performance', 'SubmitSelfAssessment', {
    requestId: `${key}/self`, reviewId: review.reviewId, sections: SECTIONS,
  });
  return { id, reviewId: review.reviewId };
}

function saga(request) {
  const response = orchestrator.invoke(`${SERVICE.orchestrator}/StartSaga`, request, {
    timeout: '30s',
    metadata: { authorization: `Bearer ${__ENV.HRMESH_TOKEN}` },
  });
  if (response.status !== grpc.StatusOK) {
    throw new Error(`StartSaga: status ${response.status} ${JSON.stringify(response.error)}`);
  }
  return response.message.state === 'SAGA_STATE_COMPLETED';
}

// One operation of the mix: what to prepare (not measured) and what to run (measured).
function operation(k) {
  // Each kind of operation counts its own iterations, so an employee gets a time-off request
  // (or a review) only once every EMPLOYEES of them.
  const n = Math.floor(k / 10);
  const id = employee(k);
  const key = `users/${k}`;
  switch (k % 10) {
    case 0: case 1: case 2: case 3:
      return ['balances', () => null, () => {
        call(c.ledger, 'ledger', 'ListBalances', { employeeId: id });
        return true;
      }];
    case 4: case 5:
      return ['reviews', () => null, () => {
        call(c.performance, 'performance', 'ListReviews', { employeeId: id, pageSize: 20 });
        return true;
      }];
    case 6: case 7:
      return ['notifications', () => null, () => {
        call(c.notification, 'notification', 'ListNotifications', { recipientId: id, pageSize: 20 });
        return true;
      }];
    case 8:
      return ['time-off', () => null, () => {
        const day = monday(Math.floor(n / EMPLOYEES) + WEEK_OFFSET);
        return saga({
          requestId: key,
          wait: true,
          requestTimeOff: {
            employeeId: employee(n),
            managerId: MANAGERS[n % MANAGERS.length],
            policyId: 'pto',
            dates: { startDate: day, endDate: day },
            reason: 'a day off',
          },
        });
      }];
    default:
      return ['complete-review', () => reviewInManagerReview(n, key), (r) => saga({
        requestId: key,
        wait: true,
        completeReview: {
          reviewId: r.reviewId,
          employeeId: r.id,
          rating: 'RATING_MEETS_EXPECTATIONS',
          sections: SECTIONS,
          bonusPolicyId: 'pto',
        },
      })];
  }
}

export default function () {
  connect();
  const [op, prepare, run] = operation(exec.scenario.iterationInTest);
  timed(
    { ms: operationMs, errors: operationErrors, tag: 'op', name: op, checked: 'succeeded' },
    prepare,
    run,
  );
  // Think time: a person reads what they asked for before the next click.
  sleep(1 + Math.random() * 4);
}

export function handleSummary(data) {
  const seconds = data.state.testRunDurationMs / 1000;
  const out = { seconds, operations: {}, thresholds_ok: true, errors: 0 };
  for (const op of OPERATIONS) {
    const metric = data.metrics[`operation_ms{op:${op}}`];
    if (!metric) continue;
    const v = metric.values;
    out.operations[op] = {
      count: v.count, per_second: v.count / seconds, p50: v.med, p95: v['p(95)'], p99: v['p(99)'],
    };
  }
  if (data.metrics.operation_errors) out.errors = data.metrics.operation_errors.values.count;
  for (const metric of Object.values(data.metrics)) {
    for (const threshold of Object.values(metric.thresholds || {})) {
      if (!threshold.ok) out.thresholds_ok = false;
    }
  }
  const result = { stdout: `users: ${JSON.stringify(out)}\n` };
  if (__ENV.SUMMARY) result[__ENV.SUMMARY] = JSON.stringify(out, null, 2);
  return result;
}
