// The `demandes` subgraph of an imaginary SI: requests citizens filed with the SI, each followed on
// DS by a dossier that the SI knows by its number. ds-subgraph resolves the rest of the dossier.
import { fileURLToPath } from 'node:url';

import { readOptions, serveSubgraph } from './serve.mjs';

const typeDefs = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])

  type Query {
    "Demandes in filing order."
    demandes(first: Int = 100, offset: Int = 0): [Demande!]!
    demande(id: ID!): Demande
  }

  "A request a citizen filed with the SI; it is instructed on DS as a dossier."
  type Demande @key(fields: "id") {
    id: ID!
    objet: String!
    "The DS dossier (ds-subgraph resolves it by number); null when DS cannot return it."
    dossier: Dossier
  }

  "Owned by ds-subgraph; this subgraph only knows the number."
  type Dossier @key(fields: "number", resolvable: false) {
    number: Int!
  }
`;

const { host, port, rows } = readOptions(4001, fileURLToPath(new URL('demandes.json', import.meta.url)));
const byId = new Map(rows.map((d) => [d.id, d]));

const resolvers = {
  Query: {
    demandes: (_, { first, offset }) => rows.slice(Math.max(0, offset)).slice(0, Math.max(0, first)),
    demande: (_, { id }) => byId.get(id) ?? null,
  },
  Demande: {
    __resolveReference: ({ id }) => byId.get(id) ?? null,
    dossier: (d) => (d.dossierNumber == null ? null : { number: d.dossierNumber }),
  },
};

await serveSubgraph({ name: 'demandes', typeDefs, resolvers, host, port });
