import { runDaemon } from './main.js';

// Belt and braces: every file vigil makes is created with an explicit private mode, and whatever a
// library or a later change creates without one is private too.
process.umask(0o077);
process.exitCode = await runDaemon(process.argv.slice(2));
