// Seeds what the load suites work on: the pto policy, and EMPLOYEES employees (default 2000), each
// assigned to it with a year of monthly accruals, a past annual review and a goal. Idempotent:
// every write carries a request id derived from the employee, so seeding twice changes nothing.
import exec from 'k6/execution';
import { clients, connect, call } from './lib.js';
import { employee, EMPLOYEES, MANAGERS } from './data.js';

const c = clients(['ledger', 'performance']);

export const options = {
  scenarios: {
    seed: {
      executor: 'shared-iterations',
      vus: 16,
      iterations: EMPLOYEES,
      maxDuration: '30m',
    },
  },
  thresholds: { checks: ['rate==1'], iterations: [`count==${EMPLOYEES}`] },
  setupTimeout: '60s',
};

export function setup() {
  connect(c);
  call(c.ledger, 'ledger', 'CreatePolicy', {
    requestId: 'seed/policy/pto',
    policyId: 'pto',
    policy: {
      resourceType: 'pto',
      unit: 'UNIT_DAYS',
      accrual: { frequency: 'ACCRUAL_FREQUENCY_MONTHLY', amount: '1.75' },
      fullDay: '1',
    },
  });
}

const MONTH_ENDS = [
  '2025-12-31', '2026-01-31', '2026-02-28', '2026-03-31', '2026-04-30', '2026-05-31',
  '2026-06-30', '2026-07-31', '2026-08-31', '2026-09-30', '2026-10-31', '2026-11-30',
];

export default function () {
  connect(c);
  const index = exec.scenario.iterationInTest;
  const id = employee(index);
  const manager = MANAGERS[index % MANAGERS.length];
  call(c.ledger, 'ledger', 'AssignPolicy', {
    requestId: `seed/assign/${id}`,
    employeeId: id,
    policyId: 'pto',
    effectiveFrom: '2025-12-01',
  });
  call(c.ledger, 'ledger', 'AppendEntries', {
    requestId: `seed/accruals/${id}`,
    entries: MONTH_ENDS.map((date) => ({
      employeeId: id,
      policyId: 'pto',
      kind: 'ENTRY_KIND_ACCRUAL',
      amount: '1.75',
      effectiveDate: date,
      reason: 'monthly accrual',
      reference: 'seed',
    })),
  });
  const review = call(c.performance, 'performance', 'CreateReview', {
    requestId: `seed/review/${id}`,
    employeeId: id,
    managerId: manager,
    cycle: 'REVIEW_CYCLE_ANNUAL',
    periodStart: '2025-01-01',
    periodEnd: '2025-12-31',
    dueDate: '2026-01-31',
  });
  call(c.performance, 'performance', 'CreateGoal', {
    requestId: `seed/goal/${id}`,
    employeeId: id,
    title: 'Mentor a new colleague',
    targetDate: '2026-12-31',
    weight: 40,
    reviewId: review.reviewId,
  });
}
