/**
 * CrossGuard policy pack of the Freeda stacks: `pulumi preview --policy-pack infra/policy` (CI applies it
 * to every preview and update). The rules are in rules.ts, their wiring in policies.ts.
 */
import { PolicyPack } from '@pulumi/policy';
import { policies } from './policies';

new PolicyPack('freeda', { policies });
