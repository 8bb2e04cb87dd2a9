// The seeded population the suites share.
export const EMPLOYEES = parseInt(__ENV.EMPLOYEES || '2000', 10);
export const MANAGERS = ['m-0001', 'm-0002', 'm-0003', 'm-0004', 'm-0005', 'm-0006', 'm-0007', 'm-0008'];

export function employee(index) {
  return `e-${String(index % EMPLOYEES).padStart(5, '0')}`;
}

// The Monday of week `week` after 2027-01-04 (a Monday), as YYYY-MM-DD.
export function monday(week) {
  const day = new Date(Date.UTC(2027, 0, 4) + week * 7 * 86400000);
  return day.toISOString().slice(0, 10);
}
