/**
 * Graceful shutdown under load, end to end: the real service process on DynamoDB Local (a process of its own), a
 * closed-loop load of agents writing internal notes on their tickets (two reads and a write in DynamoDB
 * each, made slower by a proxy so that many are in flight at any time), then SIGTERM. Shared by the test suite (small) and the load test (large).
 *
 * "Accepted" means the service read the request. That is observable exactly, whatever the timing: an
 * accepted note is stored in the table, logged by the access log, or both. A request the service never
 * read can have done neither; it can only fail at the connection level (refused once the listener is
 * closed, or reset while still unread in a connection being closed), which tells a client or a load
 * balancer that it may safely send it elsewhere.
 */
import { Agent, get as httpGet } from 'node:http';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { createDynamoClients } from '../../api/db/client.js';
import { MESSAGE_SK_PREFIX } from '../../api/db/tables.js';
import { sharedEngine } from './engine.js';
import { ADMIN_KEY, SIGNING_KEY } from './harness.js';
import { type Attempt, now, startLoad, watchListener } from './load.js';
import { createTables } from './local-dynamodb.js';
import { runService } from './process.js';
import { seedTickets } from './seed.js';
import { TcpProxy } from './tcp-proxy.js';

export interface ShutdownScenarioOptions {
  connections: number;
  /** Load before SIGTERM. */
  warmupMs: number;
  shutdownDelayMs: number;
  /**
   * Added to every DynamoDB answer (through a loopback proxy), so that many requests are in the middle of
   * their DynamoDB calls when the listener closes.
   */
  dynamoLatencyMs: number;
}

export interface ShutdownReport {
  attempts: Attempt[];
  exitCode: number | null;
  signalAt: number;
  /** When the service logged that shutdown began (its clock; same machine). */
  shutdownAt: number;
  exitedAt: number;
  /** The listener was seen accepting at `listenerOpenAt`, and refusing at `listenerClosedBy`. */
  listenerOpenAt: number;
  listenerClosedBy: number;
  /** Readiness before SIGTERM, and once the service said it was shutting down (0: no answer). */
  readinessBefore: number;
  readinessDuring: number;
  /** When the second probe was sent (a test process too busy to send it within the delay proves nothing). */
  readinessProbedAt: number;
  /** Request ids whose note is in the table. */
  stored: Set<string>;
  /** Request ids in the service's access log, with the status it logged. */
  logged: Map<string, number>;
  /** Request ids for which the service logged a failed DynamoDB call, with the error's name. */
  failedCalls: Map<string, string>;
  stdout: string;
  stderr: string;
}

/** Every internal note stored on these tickets (their contents are the request ids). */
async function storedNotes(endpoint: string, table: string, ticketIds: string[]): Promise<Set<string>> {
  const stored = new Set<string>();
  const { client, doc } = createDynamoClients({ endpoint, timeoutMs: 30_000, connectTimeoutMs: 30_000 });
  try {
    await Promise.all(
      ticketIds.map(async (ticketId) => {
        let startKey: Record<string, unknown> | undefined;
        do {
          const out = await doc.send(
            new QueryCommand({
              TableName: table,
              KeyConditionExpression: 'ticket_id = :id AND begins_with(sk, :m)',
              ExpressionAttributeValues: { ':id': ticketId, ':m': MESSAGE_SK_PREFIX },
              ExclusiveStartKey: startKey,
            }),
          );
          for (const item of out.Items ?? []) stored.add(String(item.content));
          startKey = out.LastEvaluatedKey;
        } while (startKey);
      }),
    );
  } finally {
    client.destroy();
  }
  return stored;
}

export async function runShutdownScenario(options: ShutdownScenarioOptions): Promise<ShutdownReport> {
  const engine = await sharedEngine();
  let proxy: TcpProxy | undefined;
  try {
    const tables = await createTables(engine.endpoint);
    const ticketsTable = tables.names.tickets as string;
    const ticketIds = await seedTickets(engine.endpoint, ticketsTable, { to: options.connections });
    proxy = await TcpProxy.start(engine.endpoint, { latencyMs: options.dynamoLatencyMs });
    const service = await runService({
      DYNAMODB_ENDPOINT: proxy.url,
      BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
      TOKEN_SIGNING_KEY: SIGNING_KEY,
      SHUTDOWN_DELAY_MS: String(options.shutdownDelayMs),
      ...tables.env,
    }).ready;
    const exited = service.exited.then((code) => ({ code, at: now() }));

    const created = await fetch(`${service.url}/v1/api-keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
      body: JSON.stringify({ name: 'load tool', role: 'agent' }),
    });
    const { api_key: apiKey } = (await created.json()) as { api_key: string };

    // Readiness is probed on a connection opened before SIGTERM, so the probe is read while the listener
    // is still open however slow the machine is.
    const probeAgent = new Agent({ keepAlive: true, maxSockets: 1 });
    const readinessProbe = () =>
      new Promise<number>((resolve) => {
        const req = httpGet(`${service.url}/health/ready`, { agent: probeAgent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', () => resolve(0));
      });
    const readinessBefore = await readinessProbe();

    const load = startLoad({
      port: service.port,
      connections: options.connections,
      next: (worker, id) => ({
        method: 'POST',
        path: `/v1/tickets/${ticketIds[worker]}/messages`,
        headers: { authorization: `Bearer ${apiKey}` },
        body: JSON.stringify({ content: id, internal: true }),
      }),
    });
    await new Promise((r) => setTimeout(r, options.warmupMs));

    const listener = watchListener(service.port);
    const signalAt = now();
    service.child.kill('SIGTERM');
    let shutdownAt = 0;
    while (!shutdownAt && service.child.exitCode === null) {
      const line = /^.*"message":"shutting down[^\n]*$/m.exec(service.stdout())?.[0];
      if (line) shutdownAt = Date.parse((JSON.parse(line) as { timestamp: string }).timestamp);
      else await new Promise((r) => setTimeout(r, 5));
    }
    // One probe, on the connection opened before SIGTERM and idle since: nothing queues in front of it, so the
    // service reads it at once during the delay. (A loop of probes would not do: an answer given as draining
    // began carries Connection: close, and the next probe, on a fresh connection behind the load, can sit
    // unread until the listener closes on a busy machine.)
    const readinessProbedAt = now();
    const readinessDuring = await readinessProbe();
    probeAgent.destroy();

    const exit = await exited;
    const attempts = await load.stop();
    listener.stop();

    // What the service did: the notes in the table, the requests in its access log.
    const stored = await storedNotes(engine.endpoint, ticketsTable, ticketIds);
    const logged = new Map<string, number>();
    const failedCalls = new Map<string, string>();
    for (const line of service.stdout().split('\n')) {
      if (line.includes('"message":"request"')) {
        const entry = JSON.parse(line) as { request_id?: string; status?: number };
        if (entry.request_id?.startsWith('load-')) logged.set(entry.request_id, entry.status ?? 0);
      } else if (line.includes('"message":"request failed"')) {
        const entry = JSON.parse(line) as { request_id?: string; err?: { name?: string } };
        if (entry.request_id?.startsWith('load-')) failedCalls.set(entry.request_id, entry.err?.name ?? '?');
      }
    }
    // The listener was open at least as late as the last fresh connection that got an answer.
    const lastFresh = Math.max(
      0,
      ...attempts.filter((a) => a.status !== undefined && !a.reused).map((a) => a.connectedAt ?? 0),
    );

    return {
      attempts,
      exitCode: exit.code,
      signalAt,
      shutdownAt,
      exitedAt: exit.at,
      listenerOpenAt: Math.max(listener.lastAccepted, lastFresh),
      listenerClosedBy: listener.firstRefused,
      readinessBefore,
      readinessDuring,
      readinessProbedAt,
      stored,
      logged,
      failedCalls,
      stdout: service.stdout(),
      stderr: service.stderr(),
    };
  } finally {
    await proxy?.close();
  }
}

/**
 * The verdict on a run, as a list of violations (empty: the shutdown was graceful). Only properties that
 * hold however slow the machine is: nothing here depends on how fast the service answers. The one bound,
 * the exit inside the stop timeout, is the product's own limit and several times what a run takes.
 *
 * The answers allowed are 201, and a 503 with Retry-After for a request whose DynamoDB call missed its
 * deadline (the service logged a TimeoutError for it): on a busy machine that is the right answer. Any other
 * error status, or a 503 for another reason, would mean a dependency was released while still in use.
 */
export function shutdownViolations(
  r: ShutdownReport,
  { shutdownDelayMs, stopTimeoutMs }: { shutdownDelayMs: number; stopTimeoutMs: number },
): string[] {
  const problems: string[] = [];
  const byId = new Map(r.attempts.map((a) => [a.id, a]));
  const at = (t: number) => `${Math.round(t - r.signalAt)} ms after SIGTERM`;
  const fmt = (a: Attempt) =>
    `${a.id} sent ${at(a.sentAt)}: ${a.status ?? a.error}${a.reused ? ' (reused connection)' : ''}`;

  // The process: exit 0, inside the stop timeout.
  if (r.exitCode !== 0) problems.push(`exit code ${r.exitCode}`);
  if (r.exitedAt - r.signalAt > stopTimeoutMs) problems.push(`exit ${at(r.exitedAt)}`);
  if (!r.shutdownAt) problems.push('the service never logged the start of its shutdown');

  // Readiness: 200 before, 503 once shutting down, while the listener still served. Judged only if this process
  // managed to send its probe within the delay (it normally does within milliseconds).
  if (r.readinessBefore !== 200) problems.push(`readiness before SIGTERM: ${r.readinessBefore}`);
  if (r.readinessDuring !== 503 && r.readinessProbedAt < r.shutdownAt + shutdownDelayMs) {
    problems.push(`readiness during the shutdown delay: ${r.readinessDuring}`);
  }
  // The listener kept accepting after the shutdown began, was never seen refusing before the delay was over
  // (a lower bound: a busy machine only makes the close later), and then closed. A few ms of slack for the
  // service's log timestamps, which have millisecond resolution.
  if (r.listenerOpenAt <= r.shutdownAt) problems.push('the listener was not seen accepting after the shutdown began');
  if (!r.listenerClosedBy) problems.push('the listener was never seen closed');
  else if (r.listenerClosedBy < r.shutdownAt + shutdownDelayMs - 5) {
    problems.push(
      `listener closed ${Math.round(r.listenerClosedBy - r.shutdownAt)} ms into a ${shutdownDelayMs} ms delay`,
    );
  }

  // 1. No other error status at any time: nothing was refused because a dependency was released too early.
  const deadlineMissed = (id: string) => r.failedCalls.get(id) === 'TimeoutError';
  const allowed = (a: Attempt) => a.status === 201 || (a.status === 503 && !!a.retryAfter && deadlineMissed(a.id));
  for (const a of r.attempts) if (a.status !== undefined && !allowed(a)) problems.push(`status: ${fmt(a)}`);
  // 2. Every accepted request (stored or logged) got its complete answer.
  for (const id of new Set([...r.stored, ...r.logged.keys()])) {
    const a = byId.get(id);
    if (!a) problems.push(`${id} was handled but never sent`);
    else if (a.status === undefined) problems.push(`accepted, not answered: ${fmt(a)}`);
  }
  for (const [id, status] of r.logged) {
    if (status !== 201 && !(status === 503 && deadlineMissed(id))) problems.push(`logged ${status} for ${id}`);
  }
  // 3. Every 201 is real.
  for (const a of r.attempts) if (a.status === 201 && !r.stored.has(a.id)) problems.push(`201, not stored: ${fmt(a)}`);
  // 4. What failed was never read (by 2) and failed at the connection, without a byte of answer; and nothing
  //    sent before the shutdown began failed.
  for (const a of r.attempts.filter((x) => x.error)) {
    if (a.partial) problems.push(`cut answer: ${fmt(a)}`);
    if (a.sentAt < r.shutdownAt) problems.push(`failed, sent before the shutdown began: ${fmt(a)}`);
  }
  // 5. The service kept serving during the delay: answers marked `Connection: close` were handled after
  //    draining began.
  if (!r.attempts.some((a) => a.status === 201 && a.connectionClose)) {
    problems.push('no request was answered after the shutdown began');
  }
  return problems;
}

/** Figures worth printing: how much load, what happened at the close. */
export function shutdownSummary(r: ShutdownReport) {
  const ok = r.attempts.filter((a) => a.status === 201);
  const failed = r.attempts.filter((a) => a.error);
  return {
    requests: r.attempts.length,
    ok: ok.length,
    okAfterShutdownBegan: ok.filter((a) => a.connectionClose).length,
    deadlineMissed: r.attempts.filter((a) => a.status === 503).length,
    failedUnread: failed.length,
    failures: [...new Set(failed.map((a) => a.error))],
    // Answered after the listener was seen refusing connections: read before the close, finished after it.
    answeredAfterClose: ok.filter((a) => a.doneAt > r.listenerClosedBy).length,
    listenerClosedAfterMs: Math.round(r.listenerClosedBy - r.signalAt),
    exitAfterMs: Math.round(r.exitedAt - r.signalAt),
  };
}
