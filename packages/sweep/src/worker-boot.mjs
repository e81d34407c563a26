// Entry of the pool's worker threads. Node 20 loads a worker's entry module before `--import` hooks from
// execArgv are in place, so a .ts entry fails there; this plain module registers tsx first, then
// imports the TypeScript entry named in workerData.entry.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.entry);
