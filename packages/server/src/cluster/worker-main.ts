/** Entry point of a worker process (forked by the supervisor). */
import { runWorker } from './worker.js';

runWorker();
