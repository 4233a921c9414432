// Types of the ESM entry (index.mjs): the same declarations as the CommonJS build.
export * from './lib/index.js';
export { default } from './lib/index.js';
