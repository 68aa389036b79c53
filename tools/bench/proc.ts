/**
 * What the kernel says a process used: CPU time from `/proc/<pid>/stat` (all its threads,
 * user + system) and memory from `/proc/<pid>/status`. Linux only; Deno reads another process's
 * `/proc` entries only with `--allow-all`, which is why `deno task bench` runs with it.
 *
 * @module
 */

/** Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux for x86 and arm). */
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU seconds (user + system, every thread) that process `pid` has used so far. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // The command name (field 2) may hold spaces: count from the closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // proc(5) fields 14 (utime) and 15 (stime) are the 12th and 13th after the name.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** Resident memory of a process, MB (MiB): now (`VmRSS`) and its peak so far (`VmHWM`). */
export interface Memory {
  readonly rssMb: number;
  readonly peakMb: number;
}

/** Reads a process's resident memory. */
export async function memory(pid: number): Promise<Memory> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rssMb: kb("VmRSS") / 1024, peakMb: kb("VmHWM") / 1024 };
}

/** The sum of the resident memory of several processes, MB. */
export async function totalMemory(pids: readonly number[]): Promise<Memory> {
  const each = await Promise.all(pids.map(memory));
  return {
    rssMb: each.reduce((sum, m) => sum + m.rssMb, 0),
    peakMb: each.reduce((sum, m) => sum + m.peakMb, 0),
  };
}

/**
 * Measures the CPU used by a group of processes between {@linkcode CpuWindow.start} and
 * {@linkcode CpuWindow.stop}: CPU seconds of all of them together, per wall second.
 */
export class CpuWindow {
  readonly #pids: readonly number[];
  #before = 0;
  #startedAt = 0;

  private constructor(pids: readonly number[]) {
    this.#pids = pids;
  }

  /** Starts measuring `pids` now. */
  static async start(pids: readonly number[]): Promise<CpuWindow> {
    const window = new CpuWindow(pids);
    window.#before = await sumCpu(pids);
    window.#startedAt = performance.now();
    return window;
  }

  /** CPU seconds used since the start, and the wall seconds that passed. */
  async stop(): Promise<{ cpuSeconds: number; wallSeconds: number; percentOfCore: number }> {
    const after = await sumCpu(this.#pids);
    const wallSeconds = (performance.now() - this.#startedAt) / 1000;
    const used = after - this.#before;
    return { cpuSeconds: used, wallSeconds, percentOfCore: (used / wallSeconds) * 100 };
  }
}

async function sumCpu(pids: readonly number[]): Promise<number> {
  const each = await Promise.all(pids.map(cpuSeconds));
  return each.reduce((sum, seconds) => sum + seconds, 0);
}
