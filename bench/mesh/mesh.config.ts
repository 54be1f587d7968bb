// System C: GraphQL Mesh composes DS's own GraphQL API (here the DS mock, found by introspection)
// into a supergraph that Hive Gateway serves. DS_MOCK_URL and DS_MOCK_TOKEN come from bench/run.sh.
import { defineConfig, loadGraphQLHTTPSubgraph } from '@graphql-mesh/compose-cli';

const auth = { Authorization: `Bearer ${process.env.DS_MOCK_TOKEN}` };

export const composeConfig = defineConfig({
  output: process.env.SUPERGRAPH_OUT ?? 'supergraph.graphql',
  subgraphs: [
    {
      sourceHandler: loadGraphQLHTTPSubgraph('DS', {
        endpoint: process.env.DS_MOCK_URL!,
        operationHeaders: auth,
        schemaHeaders: auth,
      }),
    },
  ],
});
