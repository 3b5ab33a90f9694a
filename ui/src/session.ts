// The signed-in token lives in sessionStorage: it goes when the tab closes.
const KEY = "actionsd.token";

export function savedToken(): string | null {
  const token = sessionStorage.getItem(KEY);
  if (!token) return null;
  const expiry = tokenExpiry(token);
  if (expiry !== null && expiry <= Date.now()) {
    sessionStorage.removeItem(KEY);
    return null;
  }
  return token;
}

export function saveToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}

/** The token's claims, or null when it is not a JWT that can be read. */
function claims(token: string): Record<string, unknown> | null {
  try {
    const payload = token.split(".")[1];
    const parsed: unknown = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/")));
    return parsed !== null && typeof parsed === "object" ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The token's expiry in ms since the epoch, or null when it cannot be read. */
export function tokenExpiry(token: string): number | null {
  const exp = claims(token)?.exp;
  return typeof exp === "number" ? exp * 1000 : null;
}

/** The scopes the token grants (its space-separated `scope` claim), or null when it
 * cannot be read: then the page offers everything and the API decides. */
export function tokenScopes(token: string): ReadonlySet<string> | null {
  const scope = claims(token)?.scope;
  return typeof scope === "string" ? new Set(scope.split(" ").filter(Boolean)) : null;
}

export function looksLikeJwt(token: string): boolean {
  return /^[\w-]+\.[\w-]+\.[\w-]*$/.test(token.trim());
}
