/**
 * An engine's snapshot for the view tests (console panel, console adapter, web rows): an idle,
 * healthy, available point with no Monitor yet, unless `overrides` say otherwise.
 *
 * @module
 */
import type { EngineSnapshot } from "../../src/app/view.ts";

/** A snapshot of an available point `CP_001` at "Lab", with `overrides` applied. */
export function engineSnapshot(overrides: Partial<EngineSnapshot> = {}): EngineSnapshot {
  return {
    cpId: "CP_001",
    location: "Lab",
    maxPowerKw: 22,
    tariffEurPerKwh: 0.3,
    status: "available",
    health: "OK",
    vehiclePluggedIn: false,
    lastProbeAt: null,
    monitorWatching: false,
    monitorLost: false,
    centralAwaySince: null,
    session: null,
    startup: null,
    ...overrides,
  };
}
