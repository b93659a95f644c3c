// Subscribes to notificationAdded through the router with the graphql-ws client library,
// the way a browser or Node application would, and prints each event as one JSON line.
//
// Usage: node subscribe.mjs WS_URL ACCESS_TOKEN
// Prints {"connected":true} once the router acknowledged the connection, then one line per
// `next` payload; {"error":...} and exit 1 on an error; exits when standard input closes.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, token] = process.argv.slice(2);
if (!url || !token) {
  console.error('usage: node subscribe.mjs WS_URL ACCESS_TOKEN');
  process.exit(2);
}

const print = (value) => process.stdout.write(JSON.stringify(value) + '\n');

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
  on: { connected: () => print({ connected: true }) },
});

client.subscribe(
  { query: 'subscription { notificationAdded { id kind title read } }' },
  {
    next: (value) => print(value),
    error: (error) => {
      print({ error: String(error?.message ?? error?.reason ?? JSON.stringify(error)) });
      process.exit(1);
    },
    complete: () => {
      print({ complete: true });
      process.exit(0);
    },
  },
);

// The test holds our standard input; when it goes, so do we.
process.stdin.resume();
process.stdin.on('end', () => {
  client.dispose();
  process.exit(0);
});
