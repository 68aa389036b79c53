/**
 * Listening on a TCP port (the health port and the web panel's): whether it can be, checked
 * before start-up registers anything, and what to say when opening it failed.
 *
 * @module
 */

/**
 * Opens and closes a listener on `address`; port 0 is always free, and a problem other than a
 * port in use is left for the real opening to report.
 *
 * @throws the error made by `inUse` when something already listens there.
 */
export function ensurePortFree(
  address: { readonly hostname: string; readonly port: number },
  inUse: (cause: Deno.errors.AddrInUse) => Error,
): void {
  if (address.port === 0) return;
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: address.hostname, port: address.port, transport: "tcp" });
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) throw inUse(error);
    return;
  }
  listener.close();
}

/**
 * What to throw when opening `what` (`the health port`) on `address` failed: `inUse`'s error for
 * a port in use; a missing permission as Deno words it (it says what and why); anything else as
 * one line naming the port.
 */
export function portOpenError(
  error: unknown,
  what: string,
  address: { readonly hostname: string; readonly port: number },
  inUse: (cause: Deno.errors.AddrInUse) => Error,
): unknown {
  if (error instanceof Deno.errors.AddrInUse) return inUse(error);
  if (
    error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied ||
    !(error instanceof Error)
  ) return error;
  return new Error(`Cannot open ${what} ${address.port} on ${address.hostname}: ${error.message}`, {
    cause: error,
  });
}
