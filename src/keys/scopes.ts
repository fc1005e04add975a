/** Every scope an API key can hold. `admin` implies all the others. */
export const SCOPES = [
  'machines:read',
  'machines:write',
  'licenses:read',
  'licenses:write',
  'policies:read',
  'policies:write',
  'entitlements:read',
  'entitlements:write',
  'events:read',
  'webhooks:write',
  'admin',
] as const;
export type Scope = (typeof SCOPES)[number];

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

export function grants(held: readonly string[], required: Scope): boolean {
  return held.includes('admin') || held.includes(required);
}
