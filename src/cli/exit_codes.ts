/**
 * The exit codes of every command of the program, in one place.
 *
 * @module
 */

/** Stopped gracefully (or help / version printed). */
export const EXIT_OK = 0;
/** A health port is already in use (also: the probe got a KO). */
export const EXIT_PORT_IN_USE = 1;
/** A bad flag, environment value, fleet file or state directory. */
export const EXIT_BAD_CONFIG = 2;
/** Kafka rejected the SASL credentials at start-up: retrying cannot help. */
export const EXIT_KAFKA_AUTH = 3;
