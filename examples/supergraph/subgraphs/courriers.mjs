// The `courriers` subgraph of the same SI: letters sent to citizens. Its legacy store kept DS's
// global dossier id (base64 of `Dossier-<number>`), not the number: ds-subgraph's `id` key serves it.
import { fileURLToPath } from 'node:url';

import { readOptions, serveSubgraph } from './serve.mjs';

const typeDefs = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])

  type Query {
    "Courriers in sending order."
    courriers(first: Int = 100, offset: Int = 0): [Courrier!]!
  }

  "A letter the SI sent about a DS dossier."
  type Courrier @key(fields: "id") {
    id: ID!
    objet: String!
    "The DS dossier (ds-subgraph resolves it by DS id); null when DS cannot return it."
    dossier: Dossier
  }

  "Owned by ds-subgraph; this subgraph only knows DS's global id."
  type Dossier @key(fields: "id", resolvable: false) {
    id: ID!
  }
`;

const { host, port, rows } = readOptions(4002, fileURLToPath(new URL('courriers.json', import.meta.url)));
const byId = new Map(rows.map((c) => [c.id, c]));

const resolvers = {
  Query: {
    courriers: (_, { first, offset }) => rows.slice(Math.max(0, offset)).slice(0, Math.max(0, first)),
  },
  Courrier: {
    __resolveReference: ({ id }) => byId.get(id) ?? null,
    dossier: (c) => (c.dossierId == null ? null : { id: c.dossierId }),
  },
};

await serveSubgraph({ name: 'courriers', typeDefs, resolvers, host, port });
