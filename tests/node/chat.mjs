// The consultation chat as a browser uses it: the web SDK `appwrite` (with `ws` under Node 20) subscribes to the
// chat_messages channel as the doctor, the patient and a stranger; messages are sent through the
// appointment-booking function. Each member must receive the other's message and the read receipt; the stranger
// nothing. Run by tests/e2e/test_consultations.py.
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import * as web from 'appwrite';
import * as server from 'node-appwrite';

globalThis.WebSocket = WebSocket;
globalThis.window = globalThis;
const store = new Map();
globalThis.localStorage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, String(v)), removeItem: (k) => store.delete(k) };

const env = process.env;
const admin = new server.Client().setEndpoint(env.APPWRITE_ENDPOINT).setProject(env.APPWRITE_PROJECT).setKey(env.APPWRITE_KEY);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const channel = 'databases.main.tables.chat_messages.rows';

async function person(email) {
  const session = await new server.Account(admin).createEmailPasswordSession({ email, password: env.PASSWORD });
  const client = new web.Client().setEndpoint(env.APPWRITE_ENDPOINT).setProject(env.APPWRITE_PROJECT).setSession(session.secret);
  const who = { client, events: [] };
  who.stop = client.subscribe(channel, (message) => who.events.push({ at: Date.now(), message }));
  return who;
}

async function call(who, body) {
  const execution = await new web.Functions(who.client).createExecution({
    functionId: 'appointment-booking', body: JSON.stringify({ ...body, appointmentId: env.APPOINTMENT_ID }), async: false,
  });
  assert.equal(execution.responseStatusCode, 200, execution.responseBody);
  return JSON.parse(execution.responseBody);
}

async function arrival(who, test, timeout = 5000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const found = who.events.find((e) => test(e.message));
    if (found) return found;
    assert.ok(Date.now() < deadline, 'a realtime event did not arrive in time');
    await sleep(10);
  }
}

const doctor = await person(env.DOCTOR_EMAIL);
const patient = await person(env.PATIENT_EMAIL);
const stranger = await person(env.STRANGER_EMAIL);
await sleep(700); // connected, authenticated, subscribed

const isCreate = (text) => (m) => m.events[0].endsWith('.create') && m.payload.text === text;
let started = Date.now();
const sent = await call(doctor, { action: 'send_message', text: 'How are you feeling today?' });
const toPatient = await arrival(patient, isCreate('How are you feeling today?'));
const first = toPatient.at - started;
assert.equal(toPatient.message.payload.$id, sent.message.$id);

started = Date.now();
await call(patient, { action: 'send_message', text: 'Better, thank you' });
const toDoctor = await arrival(doctor, isCreate('Better, thank you'));
const second = toDoctor.at - started;

const marked = await call(patient, { action: 'mark_read' });
assert.equal(marked.marked, 1);
const receipt = await arrival(doctor, (m) => m.events[0].endsWith('.update') && m.payload.$id === sent.message.$id);
assert.ok(receipt.message.payload.read_at, 'the receipt carries the time it was read');

await sleep(500); // anything that should not arrive has had time to
assert.deepEqual(stranger.events, [], 'a third user receives nothing from a room that is not theirs');
for (const who of [doctor, patient, stranger]) who.stop();
console.log(`ok - doctor→patient ${first} ms, patient→doctor ${second} ms (send through the function + realtime), stranger got 0 events`);
process.exit(0);
