// What the UI offers each role: the part of the API's permission matrix
// (engine/src/http/access.rs, docs/security.md) that decides which buttons and panels appear.
// The API checks every request regardless; this only avoids offering what would be refused.

import type { Role } from './api/types';

export type UiAction =
  | 'write_flows'
  | 'read_definition'
  | 'enable_templates'
  | 'trigger'
  | 'replay'
  | 'manage_connections'
  | 'manage_users'
  | 'write_alerts'
  | 'test_alerts';

const ALLOWED: Record<UiAction, Role[]> = {
  // Writing flows and the mapping preview (WriteFlows).
  write_flows: ['admin', 'integrator'],
  // ReadFlowDefinition, EnableTemplates, TriggerRun: everyone but support.
  read_definition: ['admin', 'integrator', 'merchant'],
  enable_templates: ['admin', 'integrator', 'merchant'],
  trigger: ['admin', 'integrator', 'merchant'],
  // ManageConnections: support may not see connection settings at all.
  manage_connections: ['admin', 'integrator', 'merchant'],
  // ReplayFailed: every role, support included.
  replay: ['admin', 'integrator', 'merchant', 'support'],
  // ManageUsers: list, create and disable users.
  manage_users: ['admin'],
  // WriteAlertSettings (a tenant's default; a flow's own alerts are write_flows) and TestAlerts:
  // support reads alert settings and the delivery log (ReadAlertSettings, ReadAlertDeliveries,
  // every role) but sends and changes nothing.
  write_alerts: ['admin', 'integrator', 'merchant'],
  test_alerts: ['admin', 'integrator', 'merchant'],
};

/** Whether `role` may do `action` (no role: nothing). */
export function roleCan(role: Role | undefined | null, action: UiAction): boolean {
  return !!role && ALLOWED[action].includes(role);
}
