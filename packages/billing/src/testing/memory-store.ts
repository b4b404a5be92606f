import { randomUUID } from "node:crypto";
import type { BillingRecord, BillingStore, Settlement } from "../store.ts";

interface MemoryUser {
  stripeCustomerId: string | null;
  defaultPaymentMethodId: string | null;
}

/** An in-memory BillingStore for tests; `users`, `records` and `events` are inspectable. */
export function createMemoryBillingStore(): BillingStore & {
  users: Map<string, MemoryUser>;
  records: Map<string, BillingRecord>;
  events: Map<string, string>;
  settlements: Map<string, Settlement>;
} {
  const settlements = new Map<string, Settlement>();
  const users = new Map<string, MemoryUser>();
  const records = new Map<string, BillingRecord>();
  const events = new Map<string, string>();

  const userOf = (userId: string): MemoryUser => {
    let user = users.get(userId);
    if (!user) {
      user = { stripeCustomerId: null, defaultPaymentMethodId: null };
      users.set(userId, user);
    }
    return user;
  };

  return {
    users,
    records,
    events,
    settlements,
    async getSettlement(paymentIntentId) {
      const settlement = settlements.get(paymentIntentId);
      return settlement ? { ...settlement } : null;
    },
    async completeSettlement(paymentIntentId, result) {
      const settlement = settlements.get(paymentIntentId);
      if (settlement?.status === "pending") {
        settlement.status = "done";
        settlement.result = result.status;
      }
      const record = records.get(paymentIntentId);
      if (record && record.status !== result.status && result.from.includes(record.status)) {
        record.status = result.status;
        if (result.failureCode !== null) record.failureCode = result.failureCode;
        record.updatedAt = new Date();
      }
    },
    async noteSettlementAttempt(paymentIntentId) {
      const settlement = settlements.get(paymentIntentId);
      if (settlement) settlement.attempts += 1;
    },
    async dueSettlements(limit) {
      return [...settlements.values()]
        .filter((settlement) => settlement.status === "pending")
        .slice(0, limit)
        .map((settlement) => settlement.paymentIntentId);
    },
    async queueOrphanCancels() {
      return 0;
    },
    async getCustomer(userId) {
      const user = users.get(userId);
      return {
        stripeCustomerId: user?.stripeCustomerId ?? null,
        defaultPaymentMethodId: user?.defaultPaymentMethodId ?? null,
      };
    },
    async setCustomerIdIfUnset(userId, customerId) {
      const user = userOf(userId);
      if (user.stripeCustomerId === null) {
        for (const other of users.values()) {
          if (other.stripeCustomerId === customerId) throw new Error("stripe_customer_id is unique");
        }
        user.stripeCustomerId = customerId;
      }
      return user.stripeCustomerId;
    },
    async setDefaultPaymentMethod(customerId, paymentMethodId) {
      for (const user of users.values()) {
        if (user.stripeCustomerId === customerId) {
          user.defaultPaymentMethodId = paymentMethodId;
          return true;
        }
      }
      return false;
    },
    async clearDefaultPaymentMethod(paymentMethodId) {
      for (const user of users.values()) {
        if (user.defaultPaymentMethodId === paymentMethodId) user.defaultPaymentMethodId = null;
      }
    },
    async createRecord(input) {
      const existing = records.get(input.paymentIntentId);
      if (existing) return { ...existing };
      if (input.executionId !== null) {
        for (const record of records.values()) {
          if (record.executionId === input.executionId) throw new Error("execution_id is unique");
        }
      }
      const now = new Date();
      const record: BillingRecord = { ...input, id: randomUUID(), createdAt: now, updatedAt: now };
      records.set(record.paymentIntentId, record);
      return { ...record };
    },
    async findRecordByPaymentIntent(paymentIntentId) {
      const record = records.get(paymentIntentId);
      return record ? { ...record } : null;
    },
    async updateRecordStatus(paymentIntentId, update, from) {
      const record = records.get(paymentIntentId);
      if (!record || !from.includes(record.status)) return null;
      record.status = update.status;
      if (update.failureCode !== undefined) record.failureCode = update.failureCode;
      record.updatedAt = new Date();
      return { ...record };
    },
    async recordEvent(eventId, type) {
      if (events.has(eventId)) return false;
      events.set(eventId, type);
      return true;
    },
    async forgetEvent(eventId) {
      events.delete(eventId);
    },
  };
}
