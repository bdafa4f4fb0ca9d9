/**
 * prom-client's classes, imported one file at a time. The package's entry point also loads its
 * Pushgateway (node:https, node:zlib), its cluster aggregator and OpenTelemetry: about 9 MiB resident,
 * where the registry, gauge and counter files alone cost about 1.5 MiB (measured on Node 20). prom-client
 * 15 has no `exports` map, so these paths are reachable; the types are the package's own.
 */
declare module 'prom-client/lib/registry.js' {
  import type { Registry } from 'prom-client';

  const RegistryClass: typeof Registry;
  export = RegistryClass;
}

declare module 'prom-client/lib/gauge.js' {
  import type { Gauge } from 'prom-client';

  const GaugeClass: typeof Gauge;
  export = GaugeClass;
}

declare module 'prom-client/lib/counter.js' {
  import type { Counter } from 'prom-client';

  const CounterClass: typeof Counter;
  export = CounterClass;
}
