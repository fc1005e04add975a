import type { Schemas } from './api.ts';

/**
 * The API key lives in sessionStorage only: gone when the tab closes, never in localStorage, a
 * cookie or the URL, and never sent anywhere but this server's API.
 */
const STORAGE_KEY = 'licentric.console.apiKey';

export interface Session {
  token: string;
  key: Schemas['ApiKey'];
}

export function storedToken(): string | null {
  return sessionStorage.getItem(STORAGE_KEY);
}

export function storeToken(token: string): void {
  sessionStorage.setItem(STORAGE_KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}
