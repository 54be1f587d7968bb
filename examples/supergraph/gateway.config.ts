// Hive Gateway configuration of the example: `npx hive-gateway supergraph` in this directory
// serves `supergraph.graphql` (compose it first: see README.md).
import { defineConfig } from '@graphql-hive/gateway';

export const gatewayConfig = defineConfig({
  supergraph: './supergraph.graphql',
  // No `reporting` and no OpenTelemetry exporter: the gateway sends nothing anywhere.
  // ds-subgraph's errors carry a stable `extensions.code` (NOT_FOUND, FORBIDDEN, ...): let them
  // reach clients as the subgraph wrote them; only the gateway's own unexpected errors are masked.
  maskedErrors: true,
  // ds-subgraph only answers callers that send its shared secret (SUBGRAPH_SHARED_SECRETS).
  propagateHeaders: {
    fromClientToSubgraphs({ subgraphName }) {
      const secret = process.env.DS_SUBGRAPH_SECRET;
      if (subgraphName === 'ds' && secret) {
        return { authorization: `Bearer ${secret}` };
      }
    },
  },
});
