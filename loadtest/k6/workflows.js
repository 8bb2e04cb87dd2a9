// complete-review and request-time-off, as sagas through the orchestrator (MODE=saga) or as the
// same participant calls made directly by the client (MODE=direct, the baseline), under the load
// profile PROFILE (smoke, load, stress, spike, soak). Writes the JSON summary to SUMMARY.
import exec from 'k6/execution';
import {
  clients, connect, call, measured, profile, thresholds, summary, summaryTrendStats,
} from './lib.js';
import { employee, monday, EMPLOYEES, MANAGERS } from './data.js';

const MODE = __ENV.MODE || 'saga';
const PROFILE = __ENV.PROFILE || 'smoke';
if (MODE !== 'saga' && MODE !== 'direct') throw new Error(`MODE must be saga or direct, not ${MODE}`);
// The direct run uses other weeks than the saga run, so the two never meet on one day.
const WEEK_OFFSET = MODE === 'saga' ? 0 : 60;

const c = clients(['orchestrator', 'ledger', 'performance', 'notification']);

export const options = {
  scenarios: {
    complete_review: { ...profile(PROFILE), exec: 'completeReview' },
    request_time_off: { ...profile(PROFILE), exec: 'requestTimeOff' },
  },
  thresholds: thresholds(PROFILE),
  summaryTrendStats,
};

const RATINGS = [
  ['RATING_UNSATISFACTORY', 'unsatisfactory', null],
  ['RATING_NEEDS_IMPROVEMENT', 'needs improvement', null],
  ['RATING_MEETS_EXPECTATIONS', 'meets expectations', null],
  ['RATING_EXCEEDS_EXPECTATIONS', 'exceeds expectations', '1'],
  ['RATING_OUTSTANDING', 'outstanding', '2'],
];
const SECTIONS = [{ title: 'Delivery', body: 'Delivered the quarter\'s commitments.' }];

function slot() {
  const k = exec.scenario.iterationInTest;
  return { k, id: employee(k), week: Math.floor(k / EMPLOYEES) + WEEK_OFFSET };
}

// A quarterly review of its own period, moved into manager review (not measured).
function reviewInManagerReview() {
  const { k, id, week } = slot();
  const manager = MANAGERS[k % MANAGERS.length];
  const key = `lt/${MODE}/cr/${k}`;
  const start = monday(week);
  const review = call(c.performance, 'performance', 'CreateReview', {
    requestId: `${key}/create`,
    employeeId: id,
    managerId: manager,
    cycle: 'REVIEW_CYCLE_QUARTERLY',
    periodStart: start,
    periodEnd: monday(week + 12),
    dueDate: monday(week + 14),
  });
  call(c.performance, 'performance', 'OpenSelfAssessment', {
    requestId: `${key}/open`,
    reviewId: review.reviewId,
  });
  call(c.performance, 'performance', 'SubmitSelfAssessment', {
    requestId: `${key}/self`,
    reviewId: review.reviewId,
    sections: SECTIONS,
  });
  return { k, id, manager, key, reviewId: review.reviewId, rating: RATINGS[k % RATINGS.length] };
}

function notify(key, recipient, kind, template, payload) {
  call(c.notification, 'notification', 'Send', {
    requestId: key,
    recipient: { recipientId: recipient, kind },
    template,
    payload,
    channels: ['CHANNEL_IN_APP'],
    priority: 'PRIORITY_NORMAL',
  });
}

export function completeReview() {
  measured('complete-review', () => {
    connect(c);
    return reviewInManagerReview();
  }, (r) => {
    if (MODE === 'saga') {
      const saga = call(c.orchestrator, 'orchestrator', 'StartSaga', {
        requestId: r.key,
        wait: true,
        completeReview: {
          reviewId: r.reviewId,
          employeeId: r.id,
          rating: r.rating[0],
          sections: SECTIONS,
          bonusPolicyId: 'pto',
        },
      });
      return saga.state === 'SAGA_STATE_COMPLETED';
    }
    const finalized = call(c.performance, 'performance', 'FinalizeReview', {
      requestId: `${r.key}/finalize`,
      reviewId: r.reviewId,
      rating: r.rating[0],
      sections: SECTIONS,
    });
    if (r.rating[2]) {
      call(c.ledger, 'ledger', 'AppendEntries', {
        requestId: `${r.key}/bonus`,
        entries: [{
          employeeId: r.id,
          policyId: 'pto',
          kind: 'ENTRY_KIND_ACCRUAL',
          amount: r.rating[2],
          effectiveDate: new Date().toISOString().slice(0, 10),
          reason: `bonus for review ${r.reviewId}`,
          reference: r.key,
        }],
      });
    }
    call(c.performance, 'performance', 'CompleteReview', {
      requestId: `${r.key}/complete`,
      reviewId: r.reviewId,
    });
    notify(`${r.key}/employee`, r.id, 'RECIPIENT_KIND_EMPLOYEE', 'review.completed', {
      cycle: 'quarterly', rating: r.rating[1],
    });
    notify(`${r.key}/manager`, finalized.managerId, 'RECIPIENT_KIND_MANAGER',
      'review.completed_for_manager', { cycle: 'quarterly', rating: r.rating[1], employee_name: r.id });
    return true;
  });
}

export function requestTimeOff() {
  measured('request-time-off', () => {
    connect(c);
    const { k, id, week } = slot();
    return { key: `lt/${MODE}/to/${k}`, id, manager: MANAGERS[k % MANAGERS.length], day: monday(week) };
  }, (r) => {
    const dates = { startDate: r.day, endDate: r.day };
    if (MODE === 'saga') {
      const saga = call(c.orchestrator, 'orchestrator', 'StartSaga', {
        requestId: r.key,
        wait: true,
        requestTimeOff: {
          employeeId: r.id, managerId: r.manager, policyId: 'pto', dates, reason: 'a day off',
        },
      });
      return saga.state === 'SAGA_STATE_COMPLETED';
    }
    const hold = call(c.ledger, 'ledger', 'HoldDays', {
      requestId: `${r.key}/hold`,
      employeeId: r.id,
      policyId: 'pto',
      dates,
      reference: r.key,
      reason: 'a day off',
    });
    notify(`${r.key}/ask`, r.manager, 'RECIPIENT_KIND_MANAGER', 'time_off.requested', {
      employee_name: r.id, days: hold.total, start_date: r.day, end_date: r.day,
    });
    return true;
  });
}

export function handleSummary(data) {
  const result = summary(data, MODE);
  const out = { stdout: `${MODE} ${PROFILE}: ${JSON.stringify(result)}\n` };
  if (__ENV.SUMMARY) out[__ENV.SUMMARY] = JSON.stringify(result, null, 2);
  return out;
}
