// node-appwrite against the local server: the same calls the Python tests make, through the npm SDK.
// Run by tests/e2e/test_node_sdk.py with APPWRITE_ENDPOINT, APPWRITE_PROJECT and APPWRITE_KEY set.
import assert from 'node:assert/strict';
import { Client, TablesDB, Users, Account, Storage, Teams, Query, ID, Permission, Role, AppwriteException } from 'node-appwrite';
import { InputFile } from 'node-appwrite/file';

const { APPWRITE_ENDPOINT: endpoint, APPWRITE_PROJECT: project, APPWRITE_KEY: key } = process.env;
const admin = new Client().setEndpoint(endpoint).setProject(project).setKey(key);
const tables = new TablesDB(admin);
const results = [];

async function check(name, fn) {
  try {
    await fn();
    results.push([name, 'ok']);
  } catch (error) {
    results.push([name, `FAILED: ${error.stack || error}`]);
  }
}

async function expectError(promise, type, code) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AppwriteException, `not an AppwriteException: ${error}`);
    assert.equal(error.type, type);
    assert.equal(error.code, code);
    return;
  }
  assert.fail(`expected ${type}`);
}

const databaseId = ID.unique();

await check('health and ping', async () => {
  const pong = await admin.ping(); // node-appwrite wraps a text body as { message }
  assert.equal(pong.message, 'Pong!');
});

await check('tablesdb schema and rows', async () => {
  await tables.create({ databaseId, name: 'Node' });
  await tables.createTable({ databaseId, tableId: 'meds', name: 'Medicines', rowSecurity: true,
    permissions: [Permission.create(Role.users())] });
  await tables.createVarcharColumn({ databaseId, tableId: 'meds', key: 'name', size: 100, required: true });
  await tables.createIntegerColumn({ databaseId, tableId: 'meds', key: 'price', required: false, min: 0 });
  await tables.createIndex({ databaseId, tableId: 'meds', key: 'name_ft', type: 'fulltext', columns: ['name'] });
  const row = await tables.createRow({ databaseId, tableId: 'meds', rowId: 'r1', data: { name: 'Paracetamol 500mg', price: 120 } });
  assert.equal(row.$sequence, '1');
  assert.equal(row.$tableId, 'meds');
  await tables.upsertRows({ databaseId, tableId: 'meds', rows: [{ $id: 'r2', name: 'Ibuprofen 200mg', price: 90 }] });
  const found = await tables.listRows({ databaseId, tableId: 'meds', queries: [Query.search('name', 'ibupro'), Query.limit(5)] });
  assert.deepEqual(found.rows.map((r) => r.$id), ['r2']);
  const cheap = await tables.listRows({ databaseId, tableId: 'meds', queries: [Query.lessThan('price', 100)] });
  assert.equal(cheap.total, 1);
  const updated = await tables.incrementRowColumn({ databaseId, tableId: 'meds', rowId: 'r1', column: 'price', value: 5 });
  assert.equal(updated.price, 125);
  await expectError(tables.getRow({ databaseId, tableId: 'meds', rowId: 'nope' }), 'row_not_found', 404);
  await expectError(tables.listRows({ databaseId, tableId: 'meds', queries: [Query.equal('nope', 1)] }), 'general_query_invalid', 400);
  await tables.deleteRow({ databaseId, tableId: 'meds', rowId: 'r2' });
});

await check('users, sessions and row security', async () => {
  const users = new Users(admin);
  const userId = ID.unique();
  await users.create({ userId, email: `${userId}@example.test`, password: 'node-password-1', name: 'Node User' });
  const session = await new Account(admin).createEmailPasswordSession({ email: `${userId}@example.test`, password: 'node-password-1' });
  assert.ok(session.secret.length > 20);
  const asUser = new Client().setEndpoint(endpoint).setProject(project).setSession(session.secret);
  const me = await new Account(asUser).get();
  assert.equal(me.$id, userId);
  const userTables = new TablesDB(asUser);
  const own = await userTables.createRow({ databaseId, tableId: 'meds', rowId: ID.unique(), data: { name: 'Mine' } });
  assert.deepEqual(own.$permissions.sort(), [`delete("user:${userId}")`, `read("user:${userId}")`, `update("user:${userId}")`]);
  const visible = await userTables.listRows({ databaseId, tableId: 'meds' });
  assert.deepEqual(visible.rows.map((r) => r.$id), [own.$id]);
  const { jwt } = await new Account(asUser).createJWT();
  const viaJwt = new Client().setEndpoint(endpoint).setProject(project).setJWT(jwt);
  assert.equal((await new Account(viaJwt).get()).$id, userId);
  await expectError(new Account(viaJwt).createJWT(), 'user_jwt_creation_denied', 403);
});

await check('teams', async () => {
  const teams = new Teams(admin);
  const teamId = ID.unique();
  const team = await teams.create({ teamId, name: 'Node clinic' });
  assert.equal(team.total, 0);
  await expectError(teams.create({ teamId, name: 'Again' }), 'team_already_exists', 409);
  await teams.delete({ teamId });
});

await check('storage upload and download', async () => {
  const storage = new Storage(admin);
  const bucketId = ID.unique();
  await storage.createBucket({ bucketId, name: 'Node bucket' });
  const bytes = Buffer.alloc(6 * 1024 * 1024 + 7, 7);
  const file = await storage.createFile({ bucketId, fileId: ID.unique(), file: InputFile.fromBuffer(bytes, 'big.bin') });
  assert.equal(file.chunksTotal, 2);
  assert.equal(file.chunksUploaded, 2);
  const downloaded = Buffer.from(await storage.getFileDownload({ bucketId, fileId: file.$id }));
  assert.ok(downloaded.equals(bytes));
  await storage.deleteBucket({ bucketId });
});

await check('cleanup', async () => {
  await tables.delete({ databaseId });
});

for (const [name, status] of results) console.log(`${status === 'ok' ? 'ok' : 'not ok'} - ${name}${status === 'ok' ? '' : `\n${status}`}`);
process.exit(results.every(([, s]) => s === 'ok') ? 0 : 1);
