import { useCallback, useState, type FormEvent, type ReactNode } from "react";
import type { Dependency } from "../api";
import { when } from "./common";

// The draft settings actions and modules share: npm dependencies and write-only secrets.

export interface SecretRow {
  name: string;
  /** A new value to write; undefined keeps the stored one. */
  value?: string;
  updated_at?: string;
}

/** What a saved draft holds (an action's or a module's): code, dependencies, secret names. */
export interface Saved {
  code?: string;
  dependencies?: Dependency[];
  secrets?: { name: string; updated_at?: string }[];
}

/** The parts of the draft that differ from the saved one, as a PATCH would send them. */
export interface DraftChanges {
  code?: string;
  dependencies?: Dependency[];
  secrets?: SecretRow[];
}

const sameDeps = (a: Dependency[], b: Dependency[]) => JSON.stringify(a) === JSON.stringify(b);

/** The draft being edited beside the saved object it came from: `adopt` takes a fresh
 * saved one (and its draft), `changes` says what differs from it. */
export function useDraft<T extends Saved>() {
  const [saved, setSaved] = useState<T | null>(null);
  const [code, setCode] = useState("");
  const [deps, setDeps] = useState<Dependency[]>([]);
  const [secrets, setSecretRows] = useState<SecretRow[]>([]);
  const [secretsTouched, setSecretsTouched] = useState(false);

  const adopt = useCallback((fresh: T) => {
    setSaved(fresh);
    setCode(fresh.code ?? "");
    setDeps(fresh.dependencies ?? []);
    setSecretRows((fresh.secrets ?? []).map((s) => ({ name: s.name, updated_at: s.updated_at })));
    setSecretsTouched(false);
  }, []);

  function changes(): DraftChanges {
    const changed: DraftChanges = {};
    if (saved === null) return changed;
    if (code !== (saved.code ?? "")) changed.code = code;
    if (!sameDeps(deps, saved.dependencies ?? [])) changed.dependencies = deps;
    if (secretsTouched) changed.secrets = secrets;
    return changed;
  }

  function setSecrets(rows: SecretRow[]) {
    setSecretRows(rows);
    setSecretsTouched(true);
  }

  return { saved, setSaved, code, setCode, deps, setDeps, secrets, setSecrets, adopt, changes };
}

/** The settings tab of a draft: its dependencies beside its secrets. */
export function DraftSettings({
  draft,
  readOnly,
  hint,
}: {
  draft: Pick<ReturnType<typeof useDraft>, "deps" | "setDeps" | "secrets" | "setSecrets">;
  readOnly: boolean;
  hint?: ReactNode;
}) {
  return (
    <div className="grid-2">
      <Dependencies deps={draft.deps} onChange={draft.setDeps} readOnly={readOnly} />
      <Secrets readOnly={readOnly} secrets={draft.secrets} onChange={draft.setSecrets} hint={hint} />
    </div>
  );
}

export function Dependencies({
  deps,
  onChange,
  readOnly,
}: {
  deps: Dependency[];
  onChange: (d: Dependency[]) => void;
  readOnly: boolean;
}) {
  const [name, setName] = useState("");
  const [version, setVersion] = useState("latest");

  function add(event: FormEvent) {
    event.preventDefault();
    const n = name.trim();
    if (!n) return;
    onChange([...deps.filter((d) => d.name !== n), { name: n, version: version.trim() || "latest" }]);
    setName("");
    setVersion("latest");
  }

  return (
    <div className="card">
      <h2>Dependencies</h2>
      <p className="hint">npm packages, installed when the draft builds.</p>
      {deps.length === 0 ? (
        <p className="muted">No dependencies.</p>
      ) : (
        <ul className="list" aria-label="Dependencies">
          {deps.map((d) => (
            <li key={d.name}>
              <code>
                {d.name}@{d.version}
              </code>
              {!readOnly && (
                <button type="button" className="link" aria-label={`Remove ${d.name}`} onClick={() => onChange(deps.filter((x) => x.name !== d.name))}>
                  Remove
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {!readOnly && (
        <form className="row" onSubmit={add} aria-label="Add dependency">
          <input aria-label="Package name" placeholder="package name" value={name} onChange={(e) => setName(e.target.value)} />
          <input aria-label="Package version" placeholder="version" value={version} onChange={(e) => setVersion(e.target.value)} />
          <button type="submit">Add</button>
        </form>
      )}
    </div>
  );
}

export function Secrets({
  secrets,
  onChange,
  readOnly,
  hint,
  savedWith = "the draft",
  title = "Secrets",
}: {
  secrets: SecretRow[];
  onChange: (s: SecretRow[]) => void;
  readOnly: boolean;
  /** How the code reads them, and what saving them needs. */
  hint?: ReactNode;
  /** What a new value is saved with. */
  savedWith?: string;
  title?: string;
}) {
  const [name, setName] = useState("");
  const [value, setValue] = useState("");

  function add(event: FormEvent) {
    event.preventDefault();
    const n = name.trim();
    if (!n) return;
    onChange([...secrets.filter((s) => s.name !== n), { name: n, value }]);
    setName("");
    setValue("");
  }

  return (
    <div className="card">
      <h2>{title}</h2>
      <p className="hint">
        {hint ?? (
          <>
            Read by the code as <code>event.secrets.NAME</code>.
          </>
        )}{" "}
        Values are write-only: the server never shows them again.
      </p>
      {secrets.length === 0 ? (
        <p className="muted">No secrets.</p>
      ) : (
        <ul className="list" aria-label="Secrets">
          {secrets.map((s) => (
            <li key={s.name}>
              <code>{s.name}</code>
              {s.value === undefined ? (
                <span className="muted">value hidden{s.updated_at ? ` · set ${when(s.updated_at)}` : ""}</span>
              ) : (
                <span className="muted">new value, saved with {savedWith}</span>
              )}
              {!readOnly && (
                <>
                  <input
                    type="password"
                    aria-label={`New value for ${s.name}`}
                    placeholder="replace value"
                    value={s.value ?? ""}
                    onChange={(e) => onChange(secrets.map((x) => (x.name === s.name ? { ...x, value: e.target.value } : x)))}
                  />
                  <button type="button" className="link" aria-label={`Remove secret ${s.name}`} onClick={() => onChange(secrets.filter((x) => x.name !== s.name))}>
                    Remove
                  </button>
                </>
              )}
            </li>
          ))}
        </ul>
      )}
      {!readOnly && (
        <form className="row" onSubmit={add} aria-label="Add secret">
          <input aria-label="Secret name" placeholder="NAME" value={name} onChange={(e) => setName(e.target.value)} />
          <input aria-label="Secret value" type="password" placeholder="value" value={value} onChange={(e) => setValue(e.target.value)} />
          <button type="submit">Add</button>
        </form>
      )}
    </div>
  );
}
