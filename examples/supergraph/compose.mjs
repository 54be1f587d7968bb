// Composes the supergraph from the live subgraphs' `_service { sdl }`, with The Guild's
// composition (what Hive uses) and checks that Apollo's composition agrees.
//
//   node compose.mjs ds=http://127.0.0.1:4000/graphql demandes=http://127.0.0.1:4001/graphql \
//     courriers=http://127.0.0.1:4002/graphql > supergraph.graphql
import { composeServices as apolloCompose } from '@apollo/composition';
import { composeServices as guildCompose } from '@theguild/federation-composition';
import { buildSchema, lexicographicSortSchema, parse, printSchema } from 'graphql';

/** The subgraph's own SDL, as a router fetches it (`headers`: e.g. ds-subgraph's secret). */
export async function fetchSdl(url, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: JSON.stringify({ query: '{ _service { sdl } }' }),
  });
  const body = await res.json();
  const sdl = body?.data?._service?.sdl;
  if (!res.ok || typeof sdl !== 'string') {
    throw new Error(`${url} did not give its SDL (HTTP ${res.status}): ${JSON.stringify(body)}`);
  }
  return sdl;
}

const sorted = (sdl) => printSchema(lexicographicSortSchema(buildSchema(sdl)));

/**
 * `services`: [{ name, url, headers? }]. Returns the supergraph SDL; throws with every composition error,
 * or when the two compositions expose different API schemas.
 */
export async function compose(services) {
  const defs = await Promise.all(
    services.map(async ({ name, url, headers }) => ({ name, url, typeDefs: parse(await fetchSdl(url, headers)) })),
  );
  const guild = guildCompose(defs);
  if (guild.errors?.length) {
    throw new Error(`@theguild/federation-composition:\n${guild.errors.map((e) => e.message).join('\n')}`);
  }
  const apollo = apolloCompose(defs);
  if (apollo.errors?.length) {
    throw new Error(`@apollo/composition:\n${apollo.errors.map((e) => e.message).join('\n')}`);
  }
  const apolloApi = sorted(printSchema(apollo.schema.toAPISchema().toGraphQLJSSchema()));
  if (sorted(guild.publicSdl) !== apolloApi) {
    throw new Error('the two compositions expose different API schemas');
  }
  return guild.supergraphSdl;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const services = process.argv.slice(2).map((arg) => {
    const [name, url] = arg.split('=', 2);
    if (!name || !url) throw new Error(`expected name=url, got ${arg}`);
    return { name, url };
  });
  if (services.length === 0) {
    console.error('usage: node compose.mjs name=url [name=url...] > supergraph.graphql');
    process.exit(2);
  }
  process.stdout.write(await compose(services));
}
