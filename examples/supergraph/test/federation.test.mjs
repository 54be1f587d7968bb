// End to end, through a real gateway: the DS mock, ds-subgraph and the example SI's subgraphs
// (`demandes` by dossier number, `courriers` by DS id), composed from their live SDL with
// @theguild/federation-composition (checked against @apollo/composition) and served by Hive
// Gateway. Expected values come from the mock, asked directly as DS.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { compose } from '../compose.mjs';
import { binary, exampleDir, freePort, post, start, stopAll, waitHealthy } from './harness.mjs';

const TOKEN = 'e2e-token-7c1d';
const WEB_BASE = 'https://ds.example.test';
const LIST = 50;
const FIRST_NUMBER = 3_000_001;
const MISSING = 3_999_999;

const dsId = (text) => Buffer.from(text).toString('base64');
const states = ['en_construction', 'en_instruction', 'accepte', 'refuse', 'sans_suite'];
const demarches = [
  { number: 9101, title: 'Autorisation de voirie' },
  { number: 9102, title: 'Aide à la rénovation énergétique' },
];

let workDir;
let mockUrl;
let dsUrl;
// ds-subgraph refuses callers without its shared secret: the gateway and composition send it.
const DS_SECRET = 'e2e-shared-secret-0123456789';
const dsAuth = { authorization: `Bearer ${DS_SECRET}` };
let gatewayUrl;
let supergraphSdl;
const numbers = Array.from({ length: LIST }, (_, i) => FIRST_NUMBER + i);
const expected = new Map(); // number → what DS (the mock) says about it

/** Asks the mock directly, as DS. */
async function dsDossier(number) {
  const { body } = await post(
    `${mockUrl}/api/v2/graphql`,
    'query($n: Int!) { dossier(number: $n) { number state demarche { title } } }',
    { n: number },
    { authorization: `Bearer ${TOKEN}` },
  );
  return body;
}

async function mock(path, method = 'GET') {
  const res = await fetch(`${mockUrl}${path}`, { method });
  assert.ok(res.ok, `${method} ${path}: HTTP ${res.status}`);
  return method === 'GET' ? res.json() : null;
}

function expectDossier(dossier, number, where) {
  const ds = expected.get(number);
  assert.deepEqual(
    dossier,
    { state: ds.state, webUrl: `${WEB_BASE}/dossiers/${number}`, demarche: { title: ds.demarche.title } },
    where,
  );
}

before(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'ds-subgraph-e2e-'));
  // More visible dossiers than the built-in samples: fixtures in DS's own response shape.
  const fixtures = join(workDir, 'fixtures');
  const records = numbers.map((number, i) => ({
    data: {
      dossier: {
        number,
        state: states[i % states.length],
        dateDepot: '2025-06-02T10:00:00+02:00',
        demarche: demarches[i % demarches.length],
      },
    },
  }));
  mkdirSync(fixtures);
  writeFileSync(join(fixtures, 'e2e.json'), JSON.stringify(records));

  const ready = (prefix) => new RegExp(`^${prefix} listening on (\\S+)$`, 'm');
  ({ url: mockUrl } = await start('DS mock', binary, ['mock', '--listen', '127.0.0.1:0', '--token', TOKEN, '--fixtures', fixtures], { ready: ready('ds-mock') }));
  ({ url: dsUrl } = await start(
    'ds-subgraph',
    binary,
    // Cache off: each test counts the upstream requests its own query makes.
    ['serve', '--listen', '127.0.0.1:0', '--ds-api-url', `${mockUrl}/api/v2/graphql`, '--ds-web-base-url', WEB_BASE, '--ds-max-batch-size', String(LIST), '--ds-cache-ttl', '0'],
    { ready: ready('ds-subgraph'), env: { DS_API_TOKEN: TOKEN, SUBGRAPH_SHARED_SECRETS: DS_SECRET } },
  ));

  for (const n of numbers) {
    const body = await dsDossier(n);
    assert.equal(body.data?.dossier?.number, n, `the mock serves fixture ${n}: ${JSON.stringify(body)}`);
    expected.set(n, body.data.dossier);
  }
  const missing = await dsDossier(MISSING);
  assert.equal(missing.errors?.[0]?.extensions?.code, 'not_found', `DS has no dossier ${MISSING}`);

  // The SI's data: LIST good references, then one to a dossier DS does not have (and, for
  // courriers, one id that is not a dossier id at all).
  const demandes = [...numbers, MISSING].map((n, i) => ({ id: `DEM-${i}`, objet: `Demande ${i}`, dossierNumber: n }));
  const courriers = [...numbers.map((n) => dsId(`Dossier-${n}`)), dsId(`Dossier-${MISSING}`), dsId('Procedure-9101')].map(
    (dossierId, i) => ({ id: `COU-${i}`, objet: `Courrier ${i}`, dossierId }),
  );
  writeFileSync(join(workDir, 'demandes.json'), JSON.stringify(demandes));
  writeFileSync(join(workDir, 'courriers.json'), JSON.stringify(courriers));
  const subgraph = (name) =>
    start(name, process.execPath, [join(exampleDir, 'subgraphs', `${name}.mjs`), '--port', '0', '--data', join(workDir, `${name}.json`)], {
      ready: ready(name),
    });
  const [{ url: demandesUrl }, { url: courriersUrl }] = await Promise.all([subgraph('demandes'), subgraph('courriers')]);

  supergraphSdl = await compose([
    { name: 'ds', url: dsUrl, headers: dsAuth },
    { name: 'demandes', url: demandesUrl },
    { name: 'courriers', url: courriersUrl },
  ]);
  const supergraphFile = join(workDir, 'supergraph.graphql');
  writeFileSync(supergraphFile, supergraphSdl);

  // Hive Gateway's CLI logs the port it was given, not the one bound: give it a free one.
  const port = await freePort();
  await start(
    'Hive Gateway',
    join(exampleDir, 'node_modules', '.bin', 'hive-gateway'),
    ['supergraph', supergraphFile, '--host', '127.0.0.1', '--port', String(port)],
    { ready: /(Listening on \S+)/, env: { NO_COLOR: '1', DS_SUBGRAPH_SECRET: DS_SECRET } },
  );
  await waitHealthy(`http://127.0.0.1:${port}/readiness`);
  gatewayUrl = `http://127.0.0.1:${port}/graphql`;
});

after(async () => {
  await stopAll();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** Runs `query` through the gateway only, with the mock's counters zeroed first. */
async function throughGateway(t, label, query, variables) {
  await mock('/mock/reset', 'POST');
  const { status, body } = await post(gatewayUrl, query, variables);
  assert.equal(status, 200, JSON.stringify(body));
  const stats = await mock('/mock/stats');
  t.diagnostic(`figures: ${label} → ${stats.graphql_requests} upstream DS request(s), ${stats.dossier_lookups} dossier lookup(s) for 1 gateway query`);
  return { body, stats };
}

const DEMANDES = `query($first: Int, $offset: Int) {
  demandes(first: $first, offset: $offset) { id dossier { state webUrl demarche { title } } }
}`;
const COURRIERS = `query($first: Int, $offset: Int) {
  courriers(first: $first, offset: $offset) { id dossier { state webUrl demarche { title } } }
}`;

describe('composition', () => {
  test('both keys of Dossier reach the supergraph, next to the SI subgraphs', () => {
    assert.match(supergraphSdl, /@join__type\(graph: DS, key: "number"\)/);
    assert.match(supergraphSdl, /@join__type\(graph: DS, key: "id"\)/);
    assert.match(supergraphSdl, /@join__type\(graph: DEMANDES, key: "number", resolvable: false\)/);
    assert.match(supergraphSdl, /@join__type\(graph: COURRIERS, key: "id", resolvable: false\)/);
  });
});

describe('through Hive Gateway, by number', () => {
  test(`${LIST} demandes with their dossiers make exactly one upstream DS request`, async (t) => {
    const { body, stats } = await throughGateway(t, `${LIST} demandes by number`, DEMANDES, { first: LIST });
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    assert.equal(body.data.demandes.length, LIST);
    body.data.demandes.forEach((d, i) => expectDossier(d.dossier, numbers[i], d.id));
    assert.equal(stats.graphql_requests, 1);
    assert.equal(stats.dossier_lookups, LIST);
  });

  test('a demande pointing at a missing dossier gets dossier: null, the other 49 are intact', async (t) => {
    const { body } = await throughGateway(t, `${LIST} demandes by number, 1 missing`, DEMANDES, { first: LIST, offset: 1 });
    const demandes = body.data.demandes;
    assert.equal(demandes.length, LIST);
    assert.equal(demandes.at(-1).dossier, null);
    demandes.slice(0, -1).forEach((d, i) => expectDossier(d.dossier, numbers[i + 1], d.id));
    assert.equal(body.errors?.length, 1, JSON.stringify(body.errors));
    assert.equal(body.errors[0].extensions?.code, 'NOT_FOUND', JSON.stringify(body.errors));
  });
});

describe('through Hive Gateway, by DS id', () => {
  test(`${LIST} courriers with their dossiers make exactly one upstream DS request`, async (t) => {
    const { body, stats } = await throughGateway(t, `${LIST} courriers by id`, COURRIERS, { first: LIST });
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    assert.equal(body.data.courriers.length, LIST);
    body.data.courriers.forEach((c, i) => expectDossier(c.dossier, numbers[i], c.id));
    assert.equal(stats.graphql_requests, 1);
    assert.equal(stats.dossier_lookups, LIST);
  });

  test('a missing dossier and an id that is no dossier id get null, the others are intact', async (t) => {
    const { body } = await throughGateway(t, `${LIST} courriers by id, 1 missing, 1 bad id`, COURRIERS, { first: LIST, offset: 2 });
    const courriers = body.data.courriers;
    assert.equal(courriers.length, LIST);
    assert.deepEqual(courriers.slice(-2).map((c) => c.dossier), [null, null]);
    courriers.slice(0, -2).forEach((c, i) => expectDossier(c.dossier, numbers[i + 2], c.id));
    const codes = (body.errors ?? []).map((e) => e.extensions?.code).sort();
    assert.deepEqual(codes, ['BAD_USER_INPUT', 'NOT_FOUND'], JSON.stringify(body.errors));
  });
});

describe('content type, as routers ask for it', () => {
  const entities = 'query($r: [_Any!]!) { _entities(representations: $r) { ... on Dossier { state } } }';
  for (const accept of ['application/json', 'application/graphql-response+json']) {
    test(`Accept: ${accept} gets ${accept}`, async () => {
      const { status, contentType, body } = await post(
        dsUrl,
        entities,
        { r: [{ __typename: 'Dossier', number: numbers[0] }] },
        { accept, ...dsAuth },
      );
      assert.equal(status, 200);
      assert.equal(contentType, accept);
      assert.equal(body.data._entities[0].state, expected.get(numbers[0]).state);
    });
  }
});
