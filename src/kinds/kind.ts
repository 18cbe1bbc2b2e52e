export type { KindModule } from '../core/kind-module.js';
