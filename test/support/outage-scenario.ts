/**
 * A DynamoDB outage in the middle of steady load, end to end: the real service process, DynamoDB (a process of
 * its own) behind a loopback proxy, `connections` closed-loop clients reading tickets; then the proxy stalls
 * (accepts, never answers) or refuses connections for a while, and forwards again. Shared by the load test
 * (which judges behaviour only) and `npm run bench:load` (which reports how fast it all went).
 */
import { ADMIN_KEY, SIGNING_KEY } from './harness.js';
import { type Attempt, now, startLoad } from './load.js';
import type { ServiceProcess } from './process.js';
import type { TcpProxy } from './tcp-proxy.js';

export type Outage = 'stall' | 'refuse';

export interface OutageOptions {
  service: ServiceProcess;
  proxy: TcpProxy;
  apiKey: string;
  ticketIds: string[];
  outage: Outage;
  connections: number;
  /** Load before the outage, and the outage's length. */
  phaseMs: number;
  /**
   * Once DynamoDB is back: recovery is seen when this many requests sent after its return were answered 200
   * (not necessarily in a row: on an overloaded machine a read may still miss its deadline and get a 503,
   * which is correct). Waited for at most `recoveryTimeoutMs`, a bound no healthy run comes near however busy
   * the machine.
   */
  recoveryOk: number;
  recoveryTimeoutMs: number;
}

export interface OutageReport {
  attempts: Attempt[];
  outageFrom: number;
  outageTo: number;
  /** When the first request sent after DynamoDB's return that was answered 200 was sent (0: recovery never seen). */
  recoveredAt: number;
  pidBefore: number | undefined;
  pidAfter: number | undefined;
  exitCode: number | null;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Creates an agent API key through the admin API (the bootstrap key), as an operator would. */
export async function agentKey(service: ServiceProcess): Promise<string> {
  const res = await fetch(`${service.url}/v1/api-keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
    body: JSON.stringify({ name: 'load', role: 'agent' }),
  });
  return ((await res.json()) as { api_key: string }).api_key;
}

/** The environment of the service under test: DynamoDB through the proxy, a short per-attempt deadline. */
export function outageServiceEnv(proxy: TcpProxy, attemptMs: number, tablesEnv: Record<string, string>) {
  return {
    DYNAMODB_ENDPOINT: proxy.url,
    DYNAMODB_TIMEOUT_MS: String(attemptMs),
    BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
    TOKEN_SIGNING_KEY: SIGNING_KEY,
    ...tablesEnv,
  };
}

export async function runOutageScenario(o: OutageOptions): Promise<OutageReport> {
  const pidBefore = o.service.child.pid;
  const load = startLoad({
    port: o.service.port,
    connections: o.connections,
    next: () => ({
      method: 'GET',
      path: `/v1/tickets/${o.ticketIds[Math.floor(Math.random() * o.ticketIds.length)]}`,
      headers: { authorization: `Bearer ${o.apiKey}` },
    }),
  });
  await wait(o.phaseMs);
  if (o.outage === 'stall') o.proxy.stall();
  else await o.proxy.refuse();
  const outageFrom = now();
  await wait(o.phaseMs);
  const outageTo = now();
  await o.proxy.forward();

  // Recovery: enough 200s among the answers to requests sent after DynamoDB came back.
  const okAfter = () => load.attempts.filter((a) => a.sentAt > outageTo && a.status === 200);
  const giveUpAt = now() + o.recoveryTimeoutMs;
  while (okAfter().length < o.recoveryOk && now() < giveUpAt) await wait(100);
  const served = okAfter();
  const recoveredAt = served.length >= o.recoveryOk ? Math.min(...served.map((a) => a.sentAt)) : 0;
  const attempts = await load.stop();
  return {
    attempts,
    outageFrom,
    outageTo,
    recoveredAt,
    pidBefore,
    pidAfter: o.service.child.pid,
    exitCode: o.service.child.exitCode,
  };
}

/**
 * The verdict, as a list of violations. Only what holds however slow the machine is: a request that misses
 * its DynamoDB deadline because the machine is busy is a 503 with Retry-After, which is correct behaviour,
 * so no figure of time is judged here (`npm run bench:load` reports them).
 */
export function outageViolations(r: OutageReport): string[] {
  const problems: string[] = [];
  const statuses = (list: Attempt[]) => [...new Set(list.map((a) => a.status ?? a.error))];
  // Every request got a complete answer: no broken connection, no request left hanging.
  const broken = r.attempts.filter((a) => a.error);
  if (broken.length) problems.push(`${broken.length} broken connections: ${statuses(broken).join(', ')}`);
  // Only 200 or 503, and every 503 says when to retry.
  const other = r.attempts.filter((a) => a.status !== undefined && a.status !== 200 && a.status !== 503);
  if (other.length) problems.push(`unexpected statuses: ${statuses(other).join(', ')}`);
  const bare503 = r.attempts.filter((a) => a.status === 503 && !a.retryAfter);
  if (bare503.length) problems.push(`${bare503.length} answers 503 without Retry-After`);
  // Before the outage the service served; during it every answer was a 503 (nothing hung, nothing else).
  if (!r.attempts.some((a) => a.doneAt < r.outageFrom && a.status === 200)) problems.push('no 200 before the outage');
  const during = r.attempts.filter((a) => a.sentAt > r.outageFrom && a.doneAt < r.outageTo);
  if (!during.length) problems.push('no answer during the outage');
  if (during.some((a) => a.status !== 503)) problems.push(`during the outage: ${statuses(during).join(', ')}`);
  // It came back by itself, in the same process.
  if (!r.recoveredAt) problems.push('no recovery seen after DynamoDB came back');
  if (r.pidAfter !== r.pidBefore || r.exitCode !== null) problems.push(`the service process exited (${r.exitCode})`);
  return problems;
}

/** Figures for the benchmark (and the load test's log): counts, the slowest answer, the time to recover. */
export function outageSummary(r: OutageReport) {
  const ms = (list: Attempt[]) => list.map((a) => a.doneAt - a.sentAt);
  const during = r.attempts.filter((a) => a.sentAt > r.outageFrom && a.doneAt < r.outageTo);
  const ok = r.attempts.filter((a) => a.status === 200);
  return {
    requests: r.attempts.length,
    ok: ok.length,
    unavailable: r.attempts.filter((a) => a.status === 503).length,
    broken: r.attempts.filter((a) => a.error).length,
    duringOutage: during.length,
    slowestMs: Math.round(Math.max(0, ...ms(r.attempts))),
    slowestDuringOutageMs: Math.round(Math.max(0, ...ms(during))),
    recoveredAfterMs: r.recoveredAt ? Math.round(r.recoveredAt - r.outageTo) : null,
  };
}
