/**
 * The events the engine publishes on `cp-events`, with the exact envelope and field names of
 * the wire contract (protocol.md sections 2 and 3). Pure: ids and time are passed in.
 *
 * @module
 */
import type { Driver, EndReason, Status } from "../domain/charge_point.ts";
import { costOf, roundCents, roundEnergy } from "../domain/session.ts";

/** What every event builder needs: who publishes, a fresh id and the creation time. */
export interface EventContext {
  readonly cpId: string;
  /** A fresh UUID v4. */
  readonly messageId: string;
  /** Epoch milliseconds of the event's creation. */
  readonly now: number;
}

/** The fields of the envelope of every published message. */
export interface Envelope {
  readonly message_id: string;
  readonly event_type: string;
  readonly action: string;
  readonly cp_id: string;
  readonly engine_id: string;
  /** Epoch seconds with fraction. */
  readonly timestamp: number;
}

/** A published message: the envelope and its payload fields. */
export type EventPayload = Envelope & Readonly<Record<string, unknown>>;

/** Epoch milliseconds -> the wire's epoch seconds with fraction. */
export function toEpochSeconds(epochMs: number): number {
  return epochMs / 1000;
}

function envelope(context: EventContext, eventType: string, action: string): Envelope {
  return {
    message_id: context.messageId,
    event_type: eventType,
    action,
    cp_id: context.cpId,
    engine_id: context.cpId,
    timestamp: toEpochSeconds(context.now),
  };
}

/** The static description of a charging point, sent in its registration. */
export interface ChargePointDescription {
  readonly location: string;
  readonly maxPowerKw: number;
  readonly tariffEurPerKwh: number;
}

/** `CP_REGISTRATION` (action `connect`), with the English and Spanish keys Centrals read. */
export function registrationEvent(
  context: EventContext,
  point: ChargePointDescription,
): EventPayload {
  return {
    ...envelope(context, "CP_REGISTRATION", "connect"),
    status: "offline",
    data: {
      location: point.location,
      localizacion: point.location,
      max_kw: point.maxPowerKw,
      max_power_kw: point.maxPowerKw,
      tarifa_kwh: point.tariffEurPerKwh,
      tariff_per_kwh: point.tariffEurPerKwh,
      price_eur_kwh: point.tariffEurPerKwh,
      status: "offline",
      estado: "offline",
    },
  };
}

/** `cp_status_change`. */
export function statusChangeEvent(
  context: EventContext,
  change: { status: Status; previousStatus: Status; reason: string },
): EventPayload {
  return {
    ...envelope(context, "cp_status_change", "cp_status_change"),
    status: change.status,
    previous_status: change.previousStatus,
    reason: change.reason,
  };
}

/** The figures of a session at one moment. */
export interface SessionFigures {
  readonly driver: Driver;
  readonly energyKwh: number;
  readonly powerKw: number;
  readonly tariffEurPerKwh: number;
}

/** `charging_progress`: energy with 3 decimals, cost and power with 2. */
export function progressEvent(context: EventContext, figures: SessionFigures): EventPayload {
  return {
    ...envelope(context, "charging_progress", "charging_progress"),
    username: figures.driver.username,
    user_id: figures.driver.userId,
    energy_kwh: roundEnergy(figures.energyKwh),
    cost: costOf(figures.energyKwh, figures.tariffEurPerKwh),
    power_kw: roundCents(figures.powerKw),
  };
}

/** `charging_completed`, the driver's ticket. */
export function completedEvent(
  context: EventContext,
  figures: Omit<SessionFigures, "powerKw"> & { durationSeconds: number; reason: EndReason },
): EventPayload {
  return {
    ...envelope(context, "charging_completed", "charging_completed"),
    username: figures.driver.username,
    user_id: figures.driver.userId,
    energy_kwh: roundEnergy(figures.energyKwh),
    cost: costOf(figures.energyKwh, figures.tariffEurPerKwh),
    duration_sec: Math.max(0, Math.round(figures.durationSeconds)),
    reason: figures.reason,
  };
}
