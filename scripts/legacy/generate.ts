/**
 * Synthetic legacy JSON stores for the benchmark and the crash tests: the same shapes as the real file
 * (both message shapes, naive and `Z` timestamps, French vocabulary, missing channels), deterministic for a
 * given seed, any size.
 */

/** Small deterministic PRNG (mulberry32), so a seed always gives the same file. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(r: () => number, items: readonly T[]): T => items[Math.floor(r() * items.length)] as T;
const hex = (r: () => number, n: number) => Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join('');
const uuid = (r: () => number) => `${hex(r, 8)}-${hex(r, 4)}-4${hex(r, 3)}-a${hex(r, 3)}-${hex(r, 12)}`;

/** `2025-11-21T19:36:28.759466` (naive, as the legacy public API wrote) or with `Z` (legacy tickets). */
const stamp = (ms: number, naive: boolean) => new Date(ms).toISOString().replace('Z', naive ? '000' : '000Z');

const CUSTOMER_TEXT = [
  'Bonjour, ma connexion internet coupe tous les soirs',
  'Je ne comprends pas ma facture de ce mois-ci',
  'Je veux résilier mon abonnement, vos services sont trop chers',
  'Quelles sont vos offres fibre ?',
  'Merci pour votre aide',
];

export function legacyStore(count: number, seed = 1): Record<string, Record<string, unknown>> {
  const r = random(seed);
  const store: Record<string, Record<string, unknown>> = {};
  const base = Date.UTC(2025, 0, 1);
  for (let i = 0; i < count; i++) {
    const legacyShape = r() < 0.45;
    const id = legacyShape ? uuid(r) : `FRE-${hex(r, 8).toUpperCase()}`;
    if (store[id]) continue;
    const naive = !legacyShape;
    const created = base + Math.floor(r() * 300 * 86_400_000);
    const status = pick(r, ['nouveau', 'en cours', 'fermé']);
    const messages: Record<string, unknown>[] = [];
    let t = created;
    const turns = 1 + Math.floor(r() * 3);
    for (let n = 0; n < turns; n++) {
      for (const side of ['customer', 'assistant'] as const) {
        const at = stamp(t, naive);
        const content = side === 'customer' ? pick(r, CUSTOMER_TEXT) : 'Je comprends votre demande. -- Agent Free';
        messages.push(
          legacyShape
            ? { id: `msg-${n}-${side}`, role: side === 'customer' ? 'user' : 'assistant', content, timestamp: at }
            : {
                message_id: uuid(r),
                content,
                author: side === 'customer' ? 'Anonyme' : 'Assistant Free',
                timestamp: at,
                type: side === 'customer' ? 'client' : 'assistant',
              },
        );
        t += 1000 + Math.floor(r() * 60_000);
      }
    }
    const ticket: Record<string, unknown> = {
      ticket_id: id,
      status,
      created_at: stamp(created, naive),
      messages,
    };
    if (r() < 0.8) ticket.channel = 'chat';
    if (!legacyShape)
      Object.assign(ticket, { customer_name: 'Anonyme', public: true, initial_message: messages[0]?.content });
    if (status === 'fermé') {
      t += 60_000;
      ticket.closed_at = stamp(t, naive);
      ticket.resolution_duration = Math.round((t - created) / 1000);
    }
    if (r() < 0.6) {
      const churn = Math.floor(r() * 100);
      ticket.analytics = {
        sentiment: pick(r, ['positif', 'neutre', 'negatif']),
        category: pick(r, ['facturation', 'technique', 'commercial', 'resiliation', 'autre']),
        urgency: pick(r, ['basse', 'moyenne', 'haute']),
        churn_risk: churn,
        summary: 'Demande de support',
        next_action: 'Vérifier le dossier',
        analyzed_at: new Date(created + 3000).toISOString(),
        ...(churn > 80 && { alert: 'URGENT_RETENTION' }),
      };
    }
    store[id] = ticket;
  }
  return store;
}
