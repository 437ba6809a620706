// The "new user" form (admin): what the API will refuse, checked before it is asked
// (engine/src/http/accounts.rs `create_user`: an admin has no tenants, a merchant exactly one,
// a password of at least 10 characters), the request body, and the API's problems by field.
//
// The API takes the first password from the admin (there is no invitation mail); the user
// changes it after signing in (`PUT /api/v1/me/password`). So the form offers a generated one
// and the page shows it once after the user is created, for the admin to hand over.

import { ApiError, fieldProblems } from './api/errors';
import type { NewUser, Role } from './api/types';

/** engine/src/http/auth.rs `MIN_PASSWORD_LEN`. */
export const MIN_PASSWORD_LEN = 10;

export const ROLES: Role[] = ['admin', 'integrator', 'merchant', 'support'];

export interface UserForm {
  email: string;
  password: string;
  role: Role;
  tenants: string[];
}

export type UserField = 'email' | 'password' | 'role' | 'tenants';
export type UserProblems = Partial<Record<UserField, string>>;

/** What the role does with tenants, as the form explains it. */
export function tenantRule(role: Role): string {
  switch (role) {
    case 'admin':
      return 'an admin sees every tenant: none to choose';
    case 'merchant':
      return 'a merchant belongs to exactly one tenant';
    default:
      return 'the tenants this user works for';
  }
}

/** The problems the API would answer, each under its field; empty when the form may be sent. */
export function userProblems(form: UserForm): UserProblems {
  const problems: UserProblems = {};
  const email = form.email.trim();
  if (!email) problems.email = 'give the user an email address';
  else if (!email.includes('@') || email.length > 254) problems.email = 'this is not an email address';
  if ([...form.password].length < MIN_PASSWORD_LEN)
    problems.password = `at least ${MIN_PASSWORD_LEN} characters`;
  if (!ROLES.includes(form.role)) problems.role = 'choose a role';
  if (form.role === 'admin' && form.tenants.length > 0) problems.tenants = 'an admin sees every tenant: choose none';
  if (form.role === 'merchant' && form.tenants.length !== 1) problems.tenants = 'a merchant belongs to exactly one tenant';
  return problems;
}

/** The `POST /users` body (an admin's tenants dropped: the API refuses them). */
export function newUserBody(form: UserForm): NewUser {
  return {
    email: form.email.trim(),
    password: form.password,
    role: form.role,
    tenants: form.role === 'admin' ? [] : [...form.tenants],
  };
}

/** A refused create's problems under the fields they name (`email_taken` is the email's). */
export function apiUserProblems(error: unknown): UserProblems {
  if (!(error instanceof ApiError)) return {};
  if (error.code === 'email_taken') return { email: error.message };
  const problems: UserProblems = {};
  for (const p of fieldProblems(error)) {
    if (p.field === 'email' || p.field === 'password' || p.field === 'role' || p.field === 'tenants')
      problems[p.field] = p.message;
  }
  return problems;
}

// No look-alike characters (0/O, 1/l/I), so a password read aloud or copied by hand survives.
const ALPHABET = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A random password of `length` characters from `random` (the browser's crypto by default). */
export function generatePassword(
  length = 16,
  random: (bytes: Uint8Array<ArrayBuffer>) => Uint8Array<ArrayBuffer> = (b) => crypto.getRandomValues(b),
): string {
  // Rejection sampling: bytes at or above the largest multiple of the alphabet size are
  // drawn again, so every character is equally likely.
  const limit = 256 - (256 % ALPHABET.length);
  let out = '';
  while (out.length < length) {
    for (const byte of random(new Uint8Array(length))) {
      if (byte < limit && out.length < length) out += ALPHABET[byte % ALPHABET.length];
    }
  }
  return out;
}
