import { describe, expect, it } from 'vitest';
import { roleCan } from './permissions';

describe('roleCan', () => {
  it('follows the API matrix for the actions the UI offers', () => {
    expect(roleCan('integrator', 'write_flows')).toBe(true);
    expect(roleCan('merchant', 'write_flows')).toBe(false);
    expect(roleCan('merchant', 'enable_templates')).toBe(true);
    expect(roleCan('support', 'enable_templates')).toBe(false);
    expect(roleCan('support', 'read_definition')).toBe(false);
    expect(roleCan('support', 'trigger')).toBe(false);
    expect(roleCan('support', 'replay')).toBe(true);
    expect(roleCan('admin', 'write_flows')).toBe(true);
    expect(roleCan('merchant', 'manage_connections')).toBe(true);
    expect(roleCan('support', 'manage_connections')).toBe(false);
  });

  it('keeps users to admins, and alert changes and test alerts from support', () => {
    expect(roleCan('admin', 'manage_users')).toBe(true);
    expect(roleCan('integrator', 'manage_users')).toBe(false);
    expect(roleCan('merchant', 'write_alerts')).toBe(true);
    expect(roleCan('merchant', 'test_alerts')).toBe(true);
    expect(roleCan('support', 'write_alerts')).toBe(false);
    expect(roleCan('support', 'test_alerts')).toBe(false);
  });

  it('offers nothing without a role', () => {
    expect(roleCan(null, 'replay')).toBe(false);
    expect(roleCan(undefined, 'trigger')).toBe(false);
  });
});
