// Apollo Client against the real gateway, as a front end uses it: an HTTP link with automatic
// persisted queries over GET, a WebSocket link (graphql-ws) for subscriptions, the normalized cache.
// usage: node apollo.mjs <http url> <ws url> <email> <password> <announcer token>
// Prints one JSON line per step; exits non-zero on an unexpected failure.
import { createHash } from 'node:crypto';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [httpUrl, wsUrl, email, password, announcerToken] = process.argv.slice(2);
const requests = [];
const countingFetch = (url, init) => {
  const u = new URL(url);
  requests.push({ method: init.method, hashOnly: !(init.body ?? u.searchParams.get('query') ?? '').includes('query'),
    hasQueryText: Boolean(u.searchParams.get('query')) || String(init.body ?? '').includes('"query"') });
  return fetch(url, init);
};
const sha256 = (text) => createHash('sha256').update(text).digest('hex');
const say = (step, data) => console.log(JSON.stringify({ step, ...data }));

function client(token) {
  const http = new PersistedQueryLink({ sha256, useGETForHashedQueries: true }).concat(
    new HttpLink({ uri: httpUrl, fetch: countingFetch, headers: token ? { authorization: `Bearer ${token}` } : {} }),
  );
  const ws = new GraphQLWsLink(createClient({ url: wsUrl, webSocketImpl: WebSocket,
    connectionParams: token ? { Authorization: `Bearer ${token}` } : {} }));
  const link = ApolloLink.split(({ query }) => query.definitions.some((d) => d.operation === 'subscription'), ws, http);
  return new ApolloClient({ link, cache: new InMemoryCache() });
}

const LOGIN = gql`mutation Login($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken user { id email account { name } } } }`;
const ME = gql`query Me { me { id email role account { id name } } }`;
const ANNOUNCED = gql`subscription Announced { announcementPublished { id title } }`;
const PUBLISH = gql`mutation Publish($t: String!) { publishAnnouncement(input: { kind: INCIDENT, title: $t, body: "Apollo test.", startsAt: "2026-12-01T00:00:00Z" }) { id } }`;

const anonymous = client('');
const login = await anonymous.mutate({ mutation: LOGIN, variables: { e: email, p: password } });
say('login', { email: login.data.login.user.email, account: login.data.login.user.account?.name ?? null });
const token = login.data.login.accessToken;

requests.length = 0;
const first = client(token);
const me = await first.query({ query: ME });
say('me', { email: me.data.me.email, requests: requests.slice() });
requests.length = 0;
const cached = await first.query({ query: ME });
say('me again', { email: cached.data.me.email, requests: requests.length });

requests.length = 0;
const second = client(token);  // a new page load: empty cache, the server already knows the hash
const again = await second.query({ query: ME });
say('me on a new client', { email: again.data.me.email, requests: requests.slice() });

const title = `Apollo ${Date.now()}`;
const events = second.subscribe({ query: ANNOUNCED });
const received = new Promise((resolve, reject) => {
  const sub = events.subscribe({
    next: (result) => { if (result.data?.announcementPublished?.title === title) { sub.unsubscribe(); resolve(result.data.announcementPublished); } },
    error: reject,
  });
  setTimeout(() => reject(new Error('no announcement within 10 s')), 10000);
});
await new Promise((r) => setTimeout(r, 500));  // let the subscription reach the server
await client(announcerToken).mutate({ mutation: PUBLISH, variables: { t: title } });
say('subscription', { title: (await received).title });
process.exit(0);
