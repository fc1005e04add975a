// Preloaded with `node --import`: records every module the process loads, and writes their URLs,
// one a line, to the file named by RECORD_MODULES_TO when the process exits.
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const loaded = new Set();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    loaded.add(resolved.url);
    return resolved;
  },
});
process.on('exit', () => writeFileSync(process.env.RECORD_MODULES_TO, [...loaded].join('\n')));
