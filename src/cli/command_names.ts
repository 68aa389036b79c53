/**
 * The names of the sub-commands, apart from the commands themselves, so that `main.ts` can pick
 * one without loading the others.
 *
 * @module
 */

/** `ev-cp-engine probe ...`: ask an engine's health port once. */
export const PROBE_COMMAND = "probe";
/** `ev-cp-engine fleet ...`: many charging points in one process. */
export const FLEET_COMMAND = "fleet";
/** `ev-cp-engine send ...`: play Central, send one command to a charging point. */
export const SEND_COMMAND = "send";
