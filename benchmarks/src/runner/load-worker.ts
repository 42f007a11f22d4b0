// piscina task: one autocannon run in this worker thread (see load.ts).
import { runAutocannon, type AutocannonTask, type AutocannonOutcome } from './autocannon-run.js';

export default function run(task: AutocannonTask): Promise<AutocannonOutcome> {
  return runAutocannon(task);
}
