import { describe, expect, it } from 'vitest';
import { ApiError } from './api/errors';
import { apiUserProblems, generatePassword, MIN_PASSWORD_LEN, newUserBody, userProblems, type UserForm } from './userForm';

const form = (over: Partial<UserForm> = {}): UserForm => ({
  email: 'jane@shop.eu',
  password: 'long enough pw',
  role: 'support',
  tenants: ['demo'],
  ...over,
});

describe('userProblems', () => {
  it('accepts a complete form', () => {
    expect(userProblems(form())).toEqual({});
    expect(userProblems(form({ role: 'admin', tenants: [] }))).toEqual({});
    expect(userProblems(form({ role: 'integrator', tenants: ['a', 'b'] }))).toEqual({});
  });

  it('names each field the API would refuse', () => {
    expect(userProblems(form({ email: ' ' })).email).toMatch(/email address/);
    expect(userProblems(form({ email: 'jane' })).email).toMatch(/not an email/);
    expect(userProblems(form({ password: 'short' })).password).toBe(`at least ${MIN_PASSWORD_LEN} characters`);
    expect(userProblems(form({ role: 'merchant', tenants: [] })).tenants).toMatch(/exactly one/);
    expect(userProblems(form({ role: 'merchant', tenants: ['a', 'b'] })).tenants).toMatch(/exactly one/);
    expect(userProblems(form({ role: 'admin', tenants: ['a'] })).tenants).toMatch(/every tenant/);
  });

  it('counts characters, not UTF-16 units, like the API', () => {
    expect(userProblems(form({ password: '🔑🔑🔑🔑🔑🔑🔑🔑🔑' })).password).toBeDefined();
    expect(userProblems(form({ password: '🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑' })).password).toBeUndefined();
  });
});

describe('newUserBody', () => {
  it('trims the email and gives an admin no tenants', () => {
    expect(newUserBody(form({ email: ' jane@shop.eu ' }))).toEqual({
      email: 'jane@shop.eu',
      password: 'long enough pw',
      role: 'support',
      tenants: ['demo'],
    });
    expect(newUserBody(form({ role: 'admin' })).tenants).toEqual([]);
  });
});

describe('apiUserProblems', () => {
  it('files the API error under the field it names', () => {
    const weak = new ApiError(422, 'weak_password', '`password` needs at least 10 characters', { field: 'password' });
    expect(apiUserProblems(weak)).toEqual({ password: '`password` needs at least 10 characters' });
    const tenant = new ApiError(422, 'invalid_field', 'no tenant `x`', { field: 'tenants' });
    expect(apiUserProblems(tenant)).toEqual({ tenants: 'no tenant `x`' });
  });

  it('puts a taken email under the email', () => {
    const taken = new ApiError(409, 'email_taken', 'a user with email `a@b` exists');
    expect(apiUserProblems(taken)).toEqual({ email: 'a user with email `a@b` exists' });
  });

  it('gives nothing for errors that name no field', () => {
    expect(apiUserProblems(new ApiError(500, 'internal', 'x'))).toEqual({});
    expect(apiUserProblems(new Error('x'))).toEqual({});
  });
});

describe('generatePassword', () => {
  it('is as long as asked, from the unambiguous alphabet', () => {
    const pw = generatePassword(20);
    expect(pw).toHaveLength(20);
    expect(pw).toMatch(/^[a-km-zA-HJ-NP-Z2-9]+$/);
    expect(pw.length).toBeGreaterThanOrEqual(MIN_PASSWORD_LEN);
  });

  it('draws again for bytes that would favour some characters', () => {
    // 56 characters: bytes from 224 on are rejected, so a source of 255s then 0s gives only 'a'.
    let calls = 0;
    const random = (b: Uint8Array<ArrayBuffer>) => {
      b.fill(calls++ === 0 ? 255 : 0);
      return b;
    };
    expect(generatePassword(4, random)).toBe('aaaa');
    expect(calls).toBe(2);
  });
});
