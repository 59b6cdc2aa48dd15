/** `tsx src/stack/ensure-binaries.ts`: resolve (and if needed build) the stack's official binaries, print where. */
import { ensureStackBinaries } from './binaries';

const b = await ensureStackBinaries();
console.log(`${b.server}\n${b.sqlTool}\n${b.uiServer}`);
