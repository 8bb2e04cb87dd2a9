// One employee: time-off balances, holds, reviews and notifications, each read from its service
// (a section whose service refuses shows why; the others still show).
import { problemView } from "../api";
import { EntryKind, HoldState } from "../gen/hrmesh/ledger/v1/ledger_pb";
import { NotificationState } from "../gen/hrmesh/notification/v1/notification_pb";
import { Rating, ReviewCycle, ReviewState } from "../gen/hrmesh/performance/v1/performance_pb";
import { type Child, h, named, table, when } from "../ui";
import type { Context } from "./context";

async function section(title: string, testId: string, load: () => Promise<HTMLElement>, signal: AbortSignal) {
  try {
    return h("section", { class: "part", "data-testid": testId }, h("h3", {}, title), await load());
  } catch (error) {
    if (signal.aborted) throw error;
    return h("section", { class: "part", "data-testid": testId }, h("h3", {}, title), problemView(error));
  }
}

export async function employeeView(ctx: Context, employeeId: string): Promise<HTMLElement> {
  const { ledger, performance, notification } = ctx.api;
  const signal = ctx.signal;
  const parts = await Promise.all([
    section("Balances", "balances", async () => {
      const { balances } = await ledger.listBalances({ employeeId }, { signal });
      return table(
        "balances-table",
        ["Policy", "Accrued", "Consumed", "Adjustments", "Balance", "Pending", "Available"],
        balances.map((b) => [b.policyId, b.accrued, b.consumed, b.adjustments, b.balance, b.pending, b.available]),
        "No policy assigned.",
      );
    }, signal),
    section("Holds", "holds", async () => {
      const { entries } = await ledger.listEntries({ employeeId, kinds: [EntryKind.HOLD], pageSize: 50 }, { signal });
      const ids = [...new Set(entries.map((entry) => entry.holdId))];
      const holds = await Promise.all(ids.map((holdId) => ledger.getHold({ holdId }, { signal })));
      return table(
        "holds-table",
        ["Hold", "Policy", "Days", "Total", "State", "Reference", "Created"],
        holds.map((hold): Child[] => [
          h("code", {}, hold.holdId),
          hold.policyId,
          hold.days.map((day) => day.date).join(", "),
          hold.total,
          named(HoldState, hold.state),
          hold.reference,
          when(hold.createTime),
        ]),
        "No holds.",
      );
    }, signal),
    section("Reviews", "reviews", async () => {
      const { reviews } = await performance.listReviews({ employeeId, pageSize: 50 }, { signal });
      return table(
        "reviews-table",
        ["Review", "Cycle", "Period", "Due", "State", "Rating", "Manager"],
        reviews.map((review): Child[] => [
          h("code", {}, review.reviewId),
          named(ReviewCycle, review.cycle),
          `${review.periodStart} – ${review.periodEnd}`,
          review.dueDate,
          named(ReviewState, review.state),
          review.rating ? named(Rating, review.rating) : "",
          review.managerId,
        ]),
        "No reviews.",
      );
    }, signal),
    section("Notifications", "notifications", async () => {
      const { notifications } = await notification.listNotifications({ recipientId: employeeId, pageSize: 50 }, { signal });
      return table(
        "notifications-table",
        ["Sent", "Subject", "Category", "State", "Read"],
        notifications.map((note): Child[] => [
          when(note.createTime),
          note.subject,
          note.category,
          named(NotificationState, note.state),
          note.read ? "yes" : "no",
        ]),
        "No notifications.",
      );
    }, signal),
  ]);
  return h("section", { "data-testid": "employee-view", "data-employee-id": employeeId }, h("h2", {}, "Employee ", h("code", {}, employeeId)), parts);
}
