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

/** The token's expiry in ms since the epoch, or null when it cannot be read. */
export function tokenExpiry(token: string): number | null {
  try {
    const payload = token.split(".")[1];
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const exp = (JSON.parse(json) as { exp?: number }).exp;
    return typeof exp === "number" ? exp * 1000 : null;
  } catch {
    return null;
  }
}

export function looksLikeJwt(token: string): boolean {
  return /^[\w-]+\.[\w-]+\.[\w-]*$/.test(token.trim());
}
