// The signed-in user, the tenants they work for, and the tenant the pages show (remembered
// in localStorage; admins may also look at every tenant at once: `tenant === null`).

import { api, setUnauthenticatedHandler } from '../api/client';
import type { Tenant, User } from '../api/types';
import { roleCan, type UiAction } from '../permissions';

const TENANT_KEY = 'ferry.tenant';

class Session {
  user = $state<User | null>(null);
  tenants = $state<Tenant[]>([]);
  tenant = $state<string | null>(null);
  /** True until the first `me` answered (to show nothing rather than a login flash). */
  loading = $state(true);

  /** Whether the user's role may do `action` (docs/security.md's matrix, as the UI needs it). */
  can(action: UiAction): boolean {
    return roleCan(this.user?.role, action);
  }

  async load(): Promise<void> {
    try {
      this.user = await api.me();
      await this.loadTenants();
    } catch {
      this.user = null;
    } finally {
      this.loading = false;
    }
  }

  async login(email: string, password: string): Promise<void> {
    this.user = await api.login(email, password);
    await this.loadTenants();
  }

  async logout(): Promise<void> {
    try {
      await api.logout();
    } finally {
      this.user = null;
      this.tenants = [];
    }
  }

  /** The tenant for actions that need one (enable a template): the chosen one, else the first. */
  get actionTenant(): string | null {
    return this.tenant ?? this.tenants[0]?.id ?? null;
  }

  choose(tenant: string | null): void {
    this.tenant = tenant;
    if (tenant) localStorage.setItem(TENANT_KEY, tenant);
    else localStorage.removeItem(TENANT_KEY);
  }

  private async loadTenants(): Promise<void> {
    this.tenants = await api.tenants();
    const saved = localStorage.getItem(TENANT_KEY);
    const ids = this.tenants.map((t) => t.id);
    if (saved && ids.includes(saved)) this.tenant = saved;
    // Someone working for one tenant always looks at it; an admin starts with all of them.
    else this.tenant = this.user?.role === 'admin' || ids.length !== 1 ? null : ids[0];
  }
}

export const session = new Session();
setUnauthenticatedHandler(() => {
  session.user = null;
});
