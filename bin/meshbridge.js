#!/usr/bin/env node
// The `meshbridge` executable. Runs the TypeScript sources through tsx's loader (no build step needed to run);
// `npm run build` emits plain JavaScript to dist/, which is what the image (Dockerfile) runs, without tsx.
import { register } from 'tsx/esm/api';

register();
await import('./cli.ts');
