// Serves one subgraph of the example SI over HTTP (GraphQL Yoga + @apollo/subgraph).
// `--port 0` picks a free port; the first stdout line tells it, so scripts and tests can wait for it.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { createYoga } from 'graphql-yoga';

export function readOptions(defaultPort, defaultData) {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: process.env.HOST ?? '127.0.0.1' },
      port: { type: 'string', default: process.env.PORT ?? String(defaultPort) },
      data: { type: 'string', default: process.env.DATA ?? defaultData },
    },
  });
  return {
    host: values.host,
    port: Number(values.port),
    rows: JSON.parse(readFileSync(values.data, 'utf8')),
  };
}

export async function serveSubgraph({ name, typeDefs, resolvers, host, port }) {
  const yoga = createYoga({
    schema: buildSubgraphSchema({ typeDefs: parse(typeDefs), resolvers }),
    graphqlEndpoint: '/graphql',
    landingPage: false,
    logging: false,
  });
  const server = createServer(yoga);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const url = `http://${host}:${server.address().port}/graphql`;
  console.log(`${name} listening on ${url}`);
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return server;
}
