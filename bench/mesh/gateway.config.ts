// System C's gateway: Hive Gateway over the supergraph composed by mesh.config.ts.
import { defineConfig } from '@graphql-hive/gateway';

export const gatewayConfig = defineConfig({
  // The supergraph is composed once per benchmark; each run's fresh DS mock has its own port.
  transportEntries: {
    DS: {
      location: process.env.DS_MOCK_URL,
      headers: [['Authorization', `Bearer ${process.env.DS_MOCK_TOKEN}`]],
    },
  },
  // Hive Gateway's batching of the subgraph calls of a request: on by default, said here because
  // the benchmark compares with it on.
  __experimental__batchExecution: true,
  // One log line per request would cost the gateway more than the work we measure.
  logging: 'error',
});
