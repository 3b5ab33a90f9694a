import { useCallback, useEffect, useState } from "react";
import type { Action, ActionVersion, SecretIn, TestPayload } from "../api";
import { CodeEditor } from "../components/CodeEditor";
import { actionState, Diff, errorText, Loading, Notice, parseJson, StatusBadge, Tabs, when } from "../components/common";
import { DraftSettings, useDraft } from "../components/settings";
import { useDashboard } from "../context";
import { go, href } from "../router";
import { runnable, sampleEvent, triggerLabel } from "../templates";

type Tab = "code" | "settings" | "versions" | "test";

export function ActionPage({ id, tab }: { id: string; tab: Tab }) {
  const { api, can } = useDashboard();
  // Saving the draft needs update:actions; deploying (and rolling back) create:actions.
  const editable = can("update:actions");
  const deployable = can("create:actions");
  const draft = useDraft<Action>();
  const { saved: action, setSaved: setAction, code, setCode, adopt } = draft;
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [versionsKey, setVersionsKey] = useState(0);

  useEffect(() => {
    api.action(id).then(adopt, (e) => setError(errorText(e)));
  }, [api, id, adopt]);

  const changes = draft.changes();
  const dirty = Object.keys(changes).length > 0;

  // Follow the draft's build: refresh the status (not the editor) until it settles.
  const state = action ? actionState(action) : null;
  useEffect(() => {
    if (state !== "building") return;
    const timer = setInterval(async () => {
      try {
        const fresh = await api.action(id);
        setAction((current) => (current ? { ...current, ...pick(fresh) } : fresh));
      } catch (e) {
        setError(errorText(e));
      }
    }, 1000);
    return () => clearInterval(timer);
  }, [api, id, state]);

  async function save(): Promise<Action | null> {
    if (!action || !dirty) return action;
    setBusy("Saving");
    setError(null);
    try {
      // A secret sent without a value keeps the stored one.
      const secrets: SecretIn[] | undefined = changes.secrets?.map((s) =>
        s.value === undefined ? { name: s.name } : { name: s.name, value: s.value },
      );
      const body = { code: changes.code, dependencies: changes.dependencies, secrets };
      const saved = await api.updateAction(action.id, body);
      adopt(saved);
      setMessage("Saved. The draft is building.");
      return saved;
    } catch (e) {
      setError(errorText(e));
      return null;
    } finally {
      setBusy(null);
    }
  }

  async function waitBuilt(): Promise<Action> {
    for (;;) {
      const fresh = await api.action(id);
      if (fresh.status === "built" || fresh.status === "failed") return fresh;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  async function deploy() {
    const saved = await save();
    if (!saved) return;
    setBusy("Deploying");
    setError(null);
    try {
      const built = saved.status === "built" ? saved : await waitBuilt();
      if (built.status === "failed") {
        setAction(built);
        throw new Error("The draft failed to build, so it cannot be deployed. Check its dependencies.");
      }
      const version = await api.deploy(id);
      adopt(await api.action(id));
      setVersionsKey((k) => k + 1);
      setMessage(`Deployed as version ${version.number}.`);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(null);
    }
  }

  async function remove() {
    if (!action || !confirm(`Delete “${action.name}”? It is also removed from every flow.`)) return;
    try {
      await api.deleteAction(action.id);
      go("actions");
    } catch (e) {
      setError(errorText(e));
    }
  }

  if (!action) {
    return error ? <Notice>{error}</Notice> : <Loading what="the action" />;
  }
  const trigger = action.supported_triggers[0]?.id ?? "";
  const tabs: [Tab, string][] = [
    ["code", "Code"],
    ["settings", "Dependencies & secrets"],
    ["versions", "Versions"],
    ["test", "Test"],
  ];

  return (
    <section aria-labelledby="action-title">
      <nav className="crumbs">
        <a href={href("actions")}>Actions</a> / <span>{action.name}</span>
      </nav>
      <header className="page-header">
        <div>
          <h1 id="action-title">{action.name}</h1>
          <p className="muted">
            {triggerLabel(trigger)} · {action.runtime} · <StatusBadge action={action} />
            {action.deployed_version && <> · live: v{action.deployed_version.number}</>}
          </p>
        </div>
        <div className="buttons">
          {dirty && <span className="unsaved">Unsaved changes</span>}
          {!editable && <span className="muted">Read-only</span>}
          {editable && (
            <button type="button" onClick={() => void save()} disabled={!dirty || busy !== null}>
              Save draft
            </button>
          )}
          {deployable && (
            <button
              className="primary"
              type="button"
              onClick={() => void deploy()}
              disabled={busy !== null || (!dirty && (state === "deployed" || state === "failed"))}
            >
              {busy ? `${busy}…` : dirty ? "Save & deploy" : "Deploy"}
            </button>
          )}
        </div>
      </header>
      {error && <Notice onClose={() => setError(null)}>{error}</Notice>}
      {message && !error && (
        <Notice kind="success" onClose={() => setMessage(null)}>
          {message}
        </Notice>
      )}
      {state === "failed" && (
        <Notice kind="error">The latest draft failed to build. Check the dependency names and versions.</Notice>
      )}
      <Tabs label="Action sections" tabs={tabs} current={tab} link={(key) => href("actions", id, key)} />
      {tab === "code" && (
        <CodeEditor
          value={code}
          onChange={setCode}
          onSave={editable ? () => void save() : undefined}
          label="Action code"
          readOnly={!editable}
        />
      )}
      {tab === "settings" && (
        <DraftSettings draft={draft} readOnly={!editable} />
      )}
      {tab === "versions" && (
        <Versions
          key={versionsKey}
          action={action}
          draft={code}
          canRollBack={deployable}
          onRolledBack={async (deployed, source, draftToo) => {
            adopt(await api.action(id));
            setMessage(
              `Rolled back: version ${deployed.number}, a copy of version ${source.number}, is live.` +
                (draftToo ? " The draft holds its code too." : " The draft is unchanged."),
            );
          }}
        />
      )}
      {tab === "test" && <TestPanel action={action} dirty={dirty} trigger={trigger} canRun={deployable} />}
      {can("delete:actions") && (
        <footer className="danger-zone">
          <button type="button" className="danger" onClick={() => void remove()}>
            Delete action
          </button>
        </footer>
      )}
    </section>
  );
}

/** The fields a build changes; the editor's copy of the draft stays as typed. */
function pick(action: Action): Partial<Action> {
  return {
    status: action.status,
    all_changes_deployed: action.all_changes_deployed,
    deployed_version: action.deployed_version,
    updated_at: action.updated_at,
  };
}

function Versions({
  action,
  draft,
  canRollBack,
  onRolledBack,
}: {
  action: Action;
  draft: string;
  canRollBack: boolean;
  onRolledBack: (deployed: ActionVersion, source: ActionVersion, draftToo: boolean) => Promise<void>;
}) {
  const { api } = useDashboard();
  const [versions, setVersions] = useState<ActionVersion[] | null>(null);
  const [selected, setSelected] = useState<ActionVersion | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [draftToo, setDraftToo] = useState(false);

  const load = useCallback(async () => {
    try {
      const list = await api.versions(action.id);
      setVersions(list);
      setSelected((current) => list.find((v) => v.id === current?.id) ?? list[0] ?? null);
    } catch (e) {
      setError(errorText(e));
    }
  }, [api, action.id]);

  useEffect(() => {
    void load();
  }, [load]);

  async function rollback(version: ActionVersion) {
    if (!confirm(`Make version ${version.number} live again?`)) return;
    try {
      const deployed = await api.rollback(action.id, version.id, draftToo);
      await load();
      await onRolledBack(deployed, version, draftToo);
    } catch (e) {
      setError(errorText(e));
    }
  }

  if (error) return <Notice>{error}</Notice>;
  if (!versions) return <Loading what="versions" />;
  if (versions.length === 0) {
    return <p className="empty">Nothing deployed yet. Deploy the draft to create version 1.</p>;
  }
  return (
    <div className="versions">
      <div>
      {canRollBack && (
        <label className="check">
          <input type="checkbox" checked={draftToo} onChange={(e) => setDraftToo(e.target.checked)} />
          Rolling back also resets the draft to that version
        </label>
      )}
      <ul className="list selectable" aria-label="Versions">
        {versions.map((v) => (
          <li key={v.id} aria-current={selected?.id === v.id}>
            <button type="button" className="link" onClick={() => setSelected(v)}>
              Version {v.number}
            </button>
            {v.deployed && <span className="badge badge-deployed">Live</span>}
            <span className="muted">{when(v.created_at)}</span>
            {!v.deployed && canRollBack && (
              <button type="button" onClick={() => void rollback(v)}>
                Roll back to v{v.number}
              </button>
            )}
          </li>
        ))}
      </ul>
      </div>
      {selected && (
        <div className="card">
          <h2>
            Version {selected.number} → current draft
          </h2>
          <Diff before={selected.code} after={draft} />
        </div>
      )}
    </div>
  );
}

function TestPanel({
  action,
  dirty,
  trigger,
  canRun,
}: {
  action: Action;
  dirty: boolean;
  trigger: string;
  canRun: boolean;
}) {
  const { api } = useDashboard();
  const [event, setEvent] = useState(() => sampleEvent(trigger));
  const [result, setResult] = useState<TestPayload | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  if (!runnable(trigger)) {
    return <p className="empty">Actions of the {trigger} trigger cannot be tested here.</p>;
  }

  async function run() {
    setError(null);
    setBusy(true);
    try {
      setResult(await api.test(action.id, parseJson(event, "event")));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="grid-2">
      <div className="card">
        <h2>Event</h2>
        {dirty && <Notice kind="warning">The test runs the saved draft: save your changes first.</Notice>}
        <CodeEditor value={event} onChange={setEvent} label="Test event" minHeight="14rem" />
        <div className="buttons">
          <button className="primary" type="button" onClick={() => void run()} disabled={!canRun || busy || action.status !== "built"}>
            {busy ? "Running…" : "Run test"}
          </button>
          <button type="button" onClick={() => setEvent(sampleEvent(trigger))}>
            Reset sample
          </button>
        </div>
        {!canRun && <p className="hint">Running a test needs a token with the create:actions scope.</p>}
        {canRun && action.status !== "built" && <p className="hint">The draft must finish building first.</p>}
      </div>
      <div className="card" aria-live="polite">
        <h2>Result</h2>
        {error && <Notice>{error}</Notice>}
        {!result && !error && <p className="muted">Run the test to see what the action does.</p>}
        {result && (
          <div data-testid="test-result">
            {result.error ? (
              <Notice>
                {result.error.name ?? "Error"}: {result.error.message}
              </Notice>
            ) : (
              <Notice kind="success">Ran without error.</Notice>
            )}
            <h3>Commands</h3>
            <pre className="output">{JSON.stringify(result.commands ?? [], null, 2)}</pre>
            <h3>Logs</h3>
            <pre className="output">{result.logs || "(nothing logged)"}</pre>
            {result.stats && <p className="muted">Action took {result.stats.action_duration_ms} ms.</p>}
          </div>
        )}
      </div>
    </div>
  );
}
