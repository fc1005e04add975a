/** Every scope an API key can hold. `admin` implies all the others. */
export const SCOPES = [
  'machines:read',
  'machines:write',
  'licenses:read',
  'licenses:write',
  'policies:read',
  'policies:write',
  'products:read',
  'products:write',
  'entitlements:read',
  'entitlements:write',
  'events:read',
  'webhooks:write',
  'signing-keys:write',
  'admin',
] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * The scopes a key limited to one product may hold: those whose objects belong to a product.
 * Whatever spans every product (`admin`, changing products, the event log, webhooks, API keys)
 * would let such a key see or act beyond its product, so it is refused when the key is made.
 * A list of what is allowed rather than refused, so that a new scope is refused until it is
 * known to stay within a product.
 */
export const PRODUCT_KEY_SCOPES: readonly Scope[] = [
  'machines:read',
  'machines:write',
  'licenses:read',
  'licenses:write',
  'policies:read',
  'policies:write',
  'products:read',
  'entitlements:read',
];

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

export function grants(held: readonly string[], required: Scope): boolean {
  return held.includes('admin') || held.includes(required);
}
