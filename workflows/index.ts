// The worker bundles this module: every workflow type pgferry registers, by its contract name.
export { backup } from './backup';
export { cleanup } from './cleanup';
export { migration } from './migration';
export { preflight } from './preflight';
export { provision } from './provision';
export { restore } from './restore';
export { scheduledBackup } from './scheduled-backup';
export { fleet } from './fleet';
