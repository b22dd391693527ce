/** Who is calling: an agent (user), a support tool or channel bridge (API key) or the operator's bootstrap key. */
import { z } from 'zod';

/**
 * Ranked: a route open to a role is open to the roles after it. `integration` (API keys of channel bridges:
 * WhatsApp, SMS, e-mail) sits between agent and manager: it reads what an agent reads and may act as the
 * customer on tickets, but never reaches a manager's or admin's route (users, keys, webhooks, canned responses,
 * reports), and never acts as an agent (see `actsAsAgent`).
 */
export const ROLES = ['agent', 'integration', 'manager', 'admin'] as const;
export type Role = (typeof ROLES)[number];
export const Role = z.enum(ROLES).meta({ id: 'Role' });

/** The roles of people's accounts: `integration` is for API keys only (a bridge is not a person who logs in). */
export const USER_ROLES = ['agent', 'manager', 'admin'] as const satisfies readonly Role[];
export type UserRole = (typeof USER_ROLES)[number];
export const UserRole = z
  .enum(USER_ROLES, { error: 'a user is an agent, manager or admin (integration is a role for API keys only)' })
  .meta({ id: 'UserRole' });

export interface Principal {
  kind: 'user' | 'api_key' | 'bootstrap';
  /** The e-mail of a user, `api-key:<id>` for a key; what history events record as the actor. */
  id: string;
  name: string;
  role: Role;
  email?: string;
  /** A user's login session (logout, password change act on it). */
  sessionId?: string;
}

/** agent < integration < manager < admin */
export const hasRole = (principal: Principal, min: Role) => ROLES.indexOf(principal.role) >= ROLES.indexOf(min);

/**
 * May the principal act as support staff (reply, change a ticket)? Every role but `integration`: a bridge's key
 * ranks above an agent for reading, yet writes only what its customers send. A leaked bridge key can therefore
 * never answer, close or reassign tickets in an agent's name.
 */
export const actsAsAgent = (principal: Principal) => principal.role !== 'integration';
