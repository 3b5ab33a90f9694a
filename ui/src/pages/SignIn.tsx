import { useState, type FormEvent } from "react";
import { exchangeCredentials } from "../api";
import { errorText, Notice } from "../components/common";
import { looksLikeJwt } from "../session";

interface Props {
  onToken: (token: string) => Promise<void>;
  reason: string | null;
}

export function SignIn({ onToken, reason }: Props) {
  const [mode, setMode] = useState<"client" | "token">("client");
  const [clientId, setClientId] = useState("");
  const [secret, setSecret] = useState("");
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setBusy(true);
    try {
      if (mode === "client") {
        await onToken(await exchangeCredentials(clientId.trim(), secret.trim()));
      } else {
        if (!looksLikeJwt(token)) throw new Error("That does not look like an access token (a JWT).");
        await onToken(token.trim());
      }
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="signin">
      <form className="card signin-card" onSubmit={submit} aria-label="Sign in">
        <h1>
          <span className="logo" aria-hidden="true">
            ◆
          </span>{" "}
          actionsd
        </h1>
        <p className="muted">Sign in with this server's client credentials or a Management API token.</p>
        {reason && <Notice kind="warning">{reason}</Notice>}
        <div className="segmented" role="tablist">
          <button type="button" role="tab" aria-selected={mode === "client"} onClick={() => setMode("client")}>
            Client credentials
          </button>
          <button type="button" role="tab" aria-selected={mode === "token"} onClick={() => setMode("token")}>
            Access token
          </button>
        </div>
        {mode === "client" ? (
          <>
            <label>
              Client ID
              <input name="client_id" autoComplete="username" required value={clientId} onChange={(e) => setClientId(e.target.value)} />
            </label>
            <label>
              Client secret
              <input name="client_secret" type="password" autoComplete="current-password" required value={secret} onChange={(e) => setSecret(e.target.value)} />
            </label>
            <p className="hint">
              On first start the server writes them to <code>admin-client.json</code> in its data directory.
            </p>
          </>
        ) : (
          <label>
            Access token
            <textarea name="token" rows={5} required value={token} onChange={(e) => setToken(e.target.value)} placeholder="eyJhbGciOi…" />
            <span className="hint">
              For example from <code>actionsd token</code>.
            </span>
          </label>
        )}
        {error && <Notice>{error}</Notice>}
        <button className="primary" type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
