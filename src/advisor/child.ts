import { callModel } from './client.js';

/**
 * The advisor's short-lived child: reads one JSON document on stdin — `{request, apiKey, baseUrl,
 * timeoutMs}` — makes the call with the SDK and writes the result as JSON on stdout. The daemon calls
 * through it so the SDK's memory is never part of the long-running process; the key travels on stdin,
 * never in argv or a file.
 */
const chunks: Buffer[] = [];
for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
  request: Parameters<typeof callModel>[0];
  apiKey: string;
  baseUrl: string;
  timeoutMs: number;
};
const result = await callModel(input.request, {
  apiKey: input.apiKey,
  baseUrl: input.baseUrl,
  timeoutMs: input.timeoutMs,
});
process.stdout.write(JSON.stringify(result));
