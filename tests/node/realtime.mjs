// The web SDK `appwrite` (with `ws` as WebSocket under Node 20) subscribes as two users; each must receive
// create/update/delete events only for rows they may read. Run by tests/e2e/test_realtime.py.
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import * as web from 'appwrite';
import * as server from 'node-appwrite';

// What a browser provides and the web SDK uses.
globalThis.WebSocket = WebSocket;
globalThis.window = globalThis;
const store = new Map();
globalThis.localStorage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, String(v)), removeItem: (k) => store.delete(k) };

const { APPWRITE_ENDPOINT: endpoint, APPWRITE_PROJECT: project, APPWRITE_KEY: key } = process.env;
const admin = new server.Client().setEndpoint(endpoint).setProject(project).setKey(key);
const tables = new server.TablesDB(admin);
const users = new server.Users(admin);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const databaseId = server.ID.unique();
await tables.create({ databaseId, name: 'Realtime' });
await tables.createTable({ databaseId, tableId: 'messages', name: 'Messages', rowSecurity: true,
  permissions: [server.Permission.create(server.Role.users())] });
await tables.createVarcharColumn({ databaseId, tableId: 'messages', key: 'text', size: 100, required: true });

async function person(name) {
  const userId = server.ID.unique();
  const email = `${userId}@example.test`;
  await users.create({ userId, email, password: 'realtime-pass-1', name });
  const session = await new server.Account(admin).createEmailPasswordSession({ email, password: 'realtime-pass-1' });
  const client = new web.Client().setEndpoint(endpoint).setProject(project).setSession(session.secret);
  return { userId, client, events: [] };
}

const alice = await person('Alice');
const bob = await person('Bob');
const channel = `databases.${databaseId}.tables.messages.rows`;
const unsubscribe = [];
for (const who of [alice, bob]) {
  unsubscribe.push(who.client.subscribe([channel, 'account'], (message) => who.events.push(message)));
}
await sleep(700); // connected, authenticated, subscribed

const aliceRow = await new web.TablesDB(alice.client).createRow({ databaseId, tableId: 'messages', rowId: 'alice-1', data: { text: 'from alice' } });
await new web.TablesDB(bob.client).createRow({ databaseId, tableId: 'messages', rowId: 'bob-1', data: { text: 'from bob' } });
await tables.createRow({ databaseId, tableId: 'messages', rowId: 'shared', data: { text: 'for everyone' },
  permissions: [server.Permission.read(server.Role.users())] });
await tables.updateRow({ databaseId, tableId: 'messages', rowId: 'shared', data: { text: 'edited' } });
await tables.deleteRow({ databaseId, tableId: 'messages', rowId: 'shared' });
await new web.TablesDB(alice.client).updateRow({ databaseId, tableId: 'messages', rowId: 'alice-1', data: { text: 'alice again' } });

const deadline = Date.now() + 5000;
while (Date.now() < deadline && (alice.events.length < 5 || bob.events.length < 4)) await sleep(50);
await sleep(300); // anything that should not arrive has had time to

const summary = (who) => who.events
  .filter((m) => m.channels.includes(channel))
  .map((m) => `${m.payload.$id}:${m.events[0].split('.').pop()}`);
assert.deepEqual(summary(alice), ['alice-1:create', 'shared:create', 'shared:update', 'shared:delete', 'alice-1:update']);
assert.deepEqual(summary(bob), ['bob-1:create', 'shared:create', 'shared:update', 'shared:delete']);

const created = alice.events[0];
assert.deepEqual(JSON.parse(JSON.stringify(created.payload)), JSON.parse(JSON.stringify(aliceRow)));
assert.ok(created.channels.includes(`tablesdb.${databaseId}.tables.messages.rows.alice-1.create`));
assert.ok(created.events.includes(`databases.*.collections.*.documents.*.create`));
assert.ok(created.timestamp.endsWith('+00:00'));

for (const stop of unsubscribe) stop();
await tables.delete({ databaseId });
console.log(`ok - alice got ${alice.events.length} events, bob got ${bob.events.length}, each only their own`);
process.exit(0);
