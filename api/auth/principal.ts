/** Who is calling: an agent (user), a support tool (API key) or the operator's bootstrap key. */
import { z } from 'zod';

export const ROLES = ['agent', 'manager', 'admin'] as const;
export type Role = (typeof ROLES)[number];
export const Role = z.enum(ROLES).meta({ id: 'Role' });

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

/** agent < manager < admin */
export const hasRole = (principal: Principal, min: Role) => ROLES.indexOf(principal.role) >= ROLES.indexOf(min);
