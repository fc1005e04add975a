import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** A secret shorter than this is too easy to guess to protect stored key hashes. */
export const MIN_SECRET_LENGTH = 32;

/**
 * The server secret for embedded mode: generated once and kept in the data folder, so keys
 * issued before a restart still authenticate after it. The file is created exclusively, so two
 * processes starting at once cannot each write a different secret.
 */
export async function loadOrCreateSecret(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'secret');
  await mkdir(dataDir, { recursive: true });
  try {
    await writeFile(file, `${randomBytes(48).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const secret = (await readFile(file, 'utf8')).trim();
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new Error(
      `${file} holds a secret shorter than ${MIN_SECRET_LENGTH} characters; delete it or set LICENTRIC_SECRET`,
    );
  }
  return secret;
}
