import { describe, expect, it } from 'vitest';
import type { Template } from './api/types';
import { enableBody, initialForm, problemsByField } from './templateForm';

const template: Template = {
  id: 'shopify-orders-to-exact',
  name: 'Shopify orders to Exact',
  description: '',
  category: 'orders',
  slots: {
    shop: { connector: 'shopify', description: 'the webshop' },
    erp: { connector: 'exact_online', description: 'the ERP' },
  },
  settings: {
    journal: { type: 'string', default: '70', description: '', allowed: null },
    days: { type: 'number', default: 30, description: '', allowed: null },
    statuses: { type: 'list', default: ['paid'], description: '', allowed: null },
  },
};

describe('template enable form', () => {
  it('starts with no connection and the defaults', () => {
    expect(initialForm(template)).toEqual({
      connections: { shop: '', erp: '' },
      settings: { journal: '70', days: '30', statuses: '["paid"]' },
    });
  });

  it('sends chosen connections and only the changed settings, typed', () => {
    const form = initialForm(template);
    form.connections.shop = 'my-shop';
    form.settings.journal = '71';
    form.settings.statuses = '["paid", "refunded"]';
    expect(enableBody(template, form)).toEqual({
      body: { connections: { shop: 'my-shop' }, settings: { journal: '71', statuses: ['paid', 'refunded'] } },
      problems: [],
    });
  });

  it('names a setting whose text is not JSON', () => {
    const form = initialForm(template);
    form.settings.days = 'thirty';
    expect(enableBody(template, form).problems).toEqual([
      { field: 'settings.days', message: 'setting `days` must be JSON of type number' },
    ]);
  });

  it('places the API problems next to their field', () => {
    expect(
      problemsByField(template, [
        { field: 'connections.erp', message: 'connection slot `erp` is not bound' },
        { field: 'settings.days', message: 'too many' },
        { field: 'tenant', message: 'tenant `x` is odd' },
      ]),
    ).toEqual({
      'connections.erp': ['connection slot `erp` is not bound'],
      'settings.days': ['too many'],
      '': ['tenant `x` is odd'],
    });
  });
});
