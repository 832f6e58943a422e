/**
 * The web chat app's entry point (bundled to /assets/chat.js): signs in, then hands over to
 * `ChatApp`. In a gateway with dev tokens (`npm start`) a user id is enough; otherwise paste a
 * JWT. `/?user=bob` signs in as bob straight away (dev tokens only), which is handy with two
 * windows side by side.
 */
import { $, h } from '../dom.ts';
import { ChatApp } from './app.ts';
import { session } from './local-storage.ts';

interface WebConfig {
  region: string;
  gatewayId: string;
  devTokens: boolean;
  failoverUrls: string[];
}

const root = $('#app');
let app: ChatApp | null = null;

async function loadConfig(): Promise<WebConfig> {
  const res = await fetch('/web/config.json', { cache: 'no-store' });
  if (!res.ok) throw new Error(`GET /web/config.json: ${res.status}`);
  return (await res.json()) as WebConfig;
}

function gatewayUrls(config: WebConfig): string[] {
  const own = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
  return [...new Set([own, ...config.failoverUrls])];
}

/** Fetches a dev token for `userId` each time the client needs a fresh one. */
function devToken(userId: string): () => Promise<string> {
  return async () => {
    const res = await fetch(`/dev/token?user=${encodeURIComponent(userId)}`, { cache: 'no-store' });
    if (!res.ok) throw new Error(`dev token refused (${res.status})`);
    const body = (await res.json()) as { token?: unknown };
    if (typeof body.token !== 'string') throw new Error('dev token: no token in the answer');
    return body.token;
  };
}

function start(config: WebConfig, userId: string, jwt: string | null): void {
  session.set(userId, jwt);
  app = new ChatApp({
    userId,
    urls: gatewayUrls(config),
    token: jwt ?? devToken(userId),
    root,
    onSignOut: (reason) => {
      app = null;
      session.clear();
      signIn(config, reason ?? null);
    },
  });
  app.start();
}

function signIn(config: WebConfig, error: string | null): void {
  const userInput = h('input', {
    id: 'signin-user',
    name: 'user',
    placeholder: 'Your user id, e.g. alice',
    autocomplete: 'username',
    required: true,
    pattern: '[A-Za-z0-9_\\-]{1,64}',
    value: session.lastUser() ?? '',
  });
  const jwtInput = h('textarea', {
    id: 'signin-jwt',
    name: 'jwt',
    rows: 3,
    placeholder: 'JWT issued for this user (sub = user id)',
    required: !config.devTokens,
  });
  const errorEl = h('div', { class: 'form-error', role: 'alert' }, error ?? '');
  root.replaceChildren(
    h(
      'div',
      { class: 'signin' },
      h(
        'form',
        {
          class: 'signin-card',
          id: 'signin',
          onsubmit: (e: Event) => {
            e.preventDefault();
            const userId = userInput.value.trim();
            const jwt = jwtInput.value.trim();
            if (!/^[A-Za-z0-9_-]{1,64}$/.test(userId)) {
              errorEl.textContent = 'A user id is 1–64 letters, digits, _ or -.';
              return;
            }
            start(config, userId, jwt === '' ? null : jwt);
          },
        },
        h('img', { class: 'logo', src: '/assets/favicon.svg', alt: '' }),
        h('h1', null, 'globalchat'),
        h('p', { class: 'muted' }, `Region ${config.region}`),
        h('label', null, 'User id', userInput),
        config.devTokens
          ? h(
              'details',
              null,
              h('summary', null, 'Sign in with a JWT instead'),
              h('label', null, 'Token', jwtInput),
            )
          : h('label', null, 'Token', jwtInput),
        h('button', { type: 'submit', class: 'primary', id: 'signin-submit' }, 'Sign in'),
        errorEl,
        config.devTokens
          ? h('p', { class: 'hint' }, 'Development gateway: any user id signs in with a dev token.')
          : null,
      ),
    ),
  );
  userInput.focus();
}

async function boot(): Promise<void> {
  let config: WebConfig;
  try {
    config = await loadConfig();
  } catch (err) {
    root.replaceChildren(
      h(
        'div',
        { class: 'signin' },
        h(
          'div',
          { class: 'signin-card' },
          h('h1', null, 'globalchat'),
          h('p', { class: 'form-error' }, `The gateway does not answer: ${(err as Error).message}`),
          h('button', { class: 'primary', onclick: () => location.reload() }, 'Retry'),
        ),
      ),
    );
    return;
  }
  const saved = session.get();
  const fromUrl = new URLSearchParams(location.search).get('user');
  if (saved) start(config, saved.userId, saved.jwt);
  else if (config.devTokens && fromUrl && /^[A-Za-z0-9_-]{1,64}$/.test(fromUrl)) start(config, fromUrl, null);
  else signIn(config, null);
}

void boot();

// For debugging from the console: the running app.
Object.defineProperty(window, 'chatApp', { get: () => app });
