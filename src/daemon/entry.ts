import { runDaemon } from './main.js';

process.exitCode = await runDaemon(process.argv.slice(2));
