// The router's HTTP streaming transports driven by the client libraries people use, each
// printing what it receives as one JSON line:
//
//   node transports.mjs URL TOKEN apollo-defer         Apollo Client (HttpLink, multipart
//                                                      incremental delivery): a query with
//                                                      a deferred fragment; one line per result
//   node transports.mjs URL TOKEN apollo-subscription  Apollo Client (HttpLink, multipart
//                                                      subscriptions): notificationAdded events
//   node transports.mjs URL TOKEN sse-subscription     graphql-sse (distinct connections):
//                                                      notificationAdded events
//   node transports.mjs URL TOKEN apollo-persisted NONCE
//                                                      Apollo Client's persisted-queries link
//                                                      (APQ, hashed queries by GET): the same
//                                                      query (named after NONCE, so that no
//                                                      earlier run registered it) twice; one
//                                                      line with the requests it sent and the
//                                                      two results
//
// URL is the router's http://…/graphql. Subscriptions print {"subscribed":true} once the
// request is sent, then one line per event; {"error":…} and exit 1 on an error; they end
// when standard input closes.
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { Defer20220824Handler } from '@apollo/client/incremental';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { createHash } from 'node:crypto';
import { createClient } from 'graphql-sse';

const [url, token, mode, nonce] = process.argv.slice(2);
if (!url || !token || !mode) {
  console.error('usage: node transports.mjs URL TOKEN apollo-defer|apollo-subscription|sse-subscription');
  process.exit(2);
}

const print = (value) => process.stdout.write(JSON.stringify(value) + '\n');
const fail = (error) => {
  print({ error: String(error?.message ?? JSON.stringify(error)) });
  process.exit(1);
};
const headers = { Authorization: `Bearer ${token}` };
const subscription = 'subscription Live { notificationAdded { id kind title } }';

process.stdin.resume();
process.stdin.on('end', () => process.exit(0));

function apollo() {
  return new ApolloClient({
    link: new HttpLink({ uri: url, headers }),
    cache: new InMemoryCache(),
    incrementalHandler: new Defer20220824Handler(),
  });
}

if (mode === 'apollo-defer') {
  const client = apollo();
  const query = gql`
    query Deferred {
      me {
        email
        ... @defer(label: "payments") {
          payments(first: 5) { edges { node { id amount status } } }
        }
      }
    }
  `;
  client
    .watchQuery({ query, fetchPolicy: 'network-only' })
    .subscribe({
      next: (result) => {
        print({ data: result.data ?? null, dataState: result.dataState ?? null });
        if (result.dataState === 'complete') process.exit(0);
      },
      error: fail,
    });
} else if (mode === 'apollo-subscription') {
  const client = apollo();
  client.subscribe({ query: gql(subscription) }).subscribe({
    next: (result) => print(result),
    error: fail,
    complete: () => {
      print({ complete: true });
      process.exit(0);
    },
  });
  print({ subscribed: true });
} else if (mode === 'sse-subscription') {
  const client = createClient({ url, headers, retryAttempts: 0 });
  client.subscribe(
    { query: subscription },
    {
      next: (value) => print(value),
      error: fail,
      complete: () => {
        print({ complete: true });
        process.exit(0);
      },
    },
  );
  print({ subscribed: true });
} else if (mode === 'apollo-persisted') {
  // Every request the link makes, as the router sees it.
  const sent = [];
  const recordingFetch = (uri, options) => {
    const target = new URL(uri);
    const body = options.body ? JSON.parse(options.body) : null;
    sent.push({
      method: options.method ?? 'GET',
      query: Boolean(target.searchParams.get('query') ?? body?.query),
      hash: Boolean(target.searchParams.get('extensions') ?? body?.extensions?.persistedQuery),
    });
    return fetch(uri, options);
  };
  const persisted = new PersistedQueryLink({
    sha256: (text) => createHash('sha256').update(text).digest('hex'),
    useGETForHashedQueries: true,
  });
  const client = new ApolloClient({
    link: persisted.concat(new HttpLink({ uri: url, headers, fetch: recordingFetch })),
    cache: new InMemoryCache(),
  });
  const query = gql(`query MeByHash_${nonce} { me { id email } }`);
  try {
    const first = await client.query({ query, fetchPolicy: 'network-only' });
    const second = await client.query({ query, fetchPolicy: 'network-only' });
    print({ sent, first: first.data ?? null, second: second.data ?? null });
    process.exit(0);
  } catch (error) {
    fail(error);
  }
} else {
  fail(`unknown mode ${mode}`);
}
