// The user's browser, for the scripts here: follows an authorization URL
// through proofkey's sign-in and consent pages (HTML forms, a session
// cookie) and stops at the redirect back to the client.

const MAX_HOPS = 15;

/** Cookies by name, for one host (the authorization server). */
class CookieJar {
  #cookies = new Map();

  store(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a));
      if (expired || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header() {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

function unescapeHtml(s) {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#([0-9]+);/g, (_, d) => String.fromCodePoint(parseInt(d, 10)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function attribute(tag, name) {
  const m = tag.match(new RegExp(`\\s${name}\\s*=\\s*"([^"]*)"`, 'i'));
  return m ? unescapeHtml(m[1]) : undefined;
}

/** The page's first form: where it goes and its hidden inputs. */
function firstForm(html, base) {
  const form = html.match(/<form\b([^>]*)>([\s\S]*?)<\/form>/i);
  if (!form) return undefined;
  const fields = new URLSearchParams();
  for (const tag of form[2].match(/<input\b[^>]*>/gi) ?? []) {
    const name = attribute(tag, 'name');
    if (name && attribute(tag, 'type') === 'hidden') fields.append(name, attribute(tag, 'value') ?? '');
  }
  return {
    action: new URL(attribute(form[0], 'action') ?? base, base),
    method: (attribute(form[0], 'method') ?? 'get').toUpperCase(),
    fields,
  };
}

/**
 * Signs in and allows, starting at `authorizationUrl`; returns the URL of
 * the redirect that leaves the authorization server (to the client's
 * redirect URI), without following it, and what the pages said.
 */
export async function authorizeInBrowser(authorizationUrl, { username, password }) {
  const origin = new URL(authorizationUrl).origin;
  const jar = new CookieJar();
  const pages = [];
  let request = { url: new URL(authorizationUrl), method: 'GET', body: undefined };
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    const headers = { cookie: jar.header() };
    if (request.body) headers['content-type'] = 'application/x-www-form-urlencoded';
    const response = await fetch(request.url, {
      method: request.method,
      body: request.body,
      headers,
      redirect: 'manual',
      signal: AbortSignal.timeout(30_000),
    });
    jar.store(response);
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      const next = new URL(location, request.url);
      if (next.origin !== origin) return { redirect: next, pages };
      request = { url: next, method: 'GET', body: undefined };
      continue;
    }
    const html = await response.text();
    const form = firstForm(html, request.url);
    if (!form) {
      throw new Error(`${request.method} ${request.url}: HTTP ${response.status} with neither a form nor a redirect: ${html.slice(0, 500)}`);
    }
    const title = html.match(/<h1\b[^>]*>([\s\S]*?)<\/h1>/i)?.[1].replace(/<[^>]*>/g, '').trim();
    if (/\bname="password"/.test(html)) {
      pages.push({ page: 'login', title });
      form.fields.set('username', username);
      form.fields.set('password', password);
    } else {
      pages.push({ page: 'consent', title });
      form.fields.set('decision', 'allow');
    }
    request = { url: form.action, method: form.method, body: form.fields.toString() };
  }
  throw new Error(`no redirect to the client after ${MAX_HOPS} requests`);
}
