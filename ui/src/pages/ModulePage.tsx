import { useEffect, useState } from "react";
import type { Module, ModuleUser, ModuleVersion } from "../api";
import { CodeEditor } from "../components/CodeEditor";
import { Diff, Empty, errorText, Loading, ModuleBadge, Notice, Tabs, when } from "../components/common";
import { DraftSettings, useDraft, type SecretRow } from "../components/settings";
import { useDashboard } from "../context";
import { go, href } from "../router";
import { usedBy } from "./ModulesPage";

export type ModuleTab = "code" | "settings" | "versions" | "actions";

/** The secrets as the API takes them, or an error in words: it replaces a module's
 * secrets as a whole and needs every value, and values are never read back. */
function secretsToSend(rows: SecretRow[]): { name: string; value: string }[] {
  const missing = rows.filter((s) => s.value === undefined).map((s) => s.name);
  if (missing.length > 0) {
    throw new Error(
      `Enter the value of ${missing.join(", ")} again: saving a module's secrets replaces all of them, ` +
        "and the server never shows a stored value.",
    );
  }
  return rows.map((s) => ({ name: s.name, value: s.value ?? "" }));
}

export function ModulePage({ id, tab }: { id: string; tab: ModuleTab }) {
  const { api, can } = useDashboard();
  const editable = can("update:actions");
  const draft = useDraft<Module>();
  const { saved: module, code, setCode, adopt } = draft;
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [versionsKey, setVersionsKey] = useState(0);

  useEffect(() => {
    api.module(id).then(adopt, (e) => setError(errorText(e)));
  }, [api, id, adopt]);

  const changes = draft.changes();
  const dirty = Object.keys(changes).length > 0;
  const publishable = dirty || (module !== null && !module.all_changes_published);

  async function save(): Promise<Module | null> {
    if (!module || !dirty) return module;
    setBusy("Saving");
    setError(null);
    try {
      const secrets = changes.secrets && secretsToSend(changes.secrets);
      const body = { code: changes.code, dependencies: changes.dependencies, secrets };
      const saved = await api.updateModule(module.id, body);
      adopt(saved);
      setMessage("Saved. Publish the draft to make it a version actions can pin.");
      return saved;
    } catch (e) {
      setError(errorText(e));
      return null;
    } finally {
      setBusy(null);
    }
  }

  async function publish() {
    const saved = await save();
    if (!saved) return;
    setBusy("Publishing");
    try {
      const version = await api.publishModule(id);
      adopt(await api.module(id));
      setVersionsKey((k) => k + 1);
      setMessage(`Published as version ${version.version_number}. Actions keep the version they pin until they are changed.`);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(null);
    }
  }

  async function remove() {
    if (!module || !confirm(`Delete the module “${module.name}” and all its versions?`)) return;
    setError(null);
    try {
      await api.deleteModule(module.id);
      go("modules");
    } catch (e) {
      setError(errorText(e));
    }
  }

  if (!module) {
    return error ? <Notice>{error}</Notice> : <Loading what="the module" />;
  }
  const latest = module.latest_version?.version_number;
  const tabs: [ModuleTab, string][] = [
    ["code", "Code"],
    ["settings", "Dependencies & secrets"],
    ["versions", "Versions"],
    ["actions", "Used by"],
  ];

  return (
    <section aria-labelledby="module-title">
      <nav className="crumbs">
        <a href={href("modules")}>Modules</a> / <span>{module.name}</span>
      </nav>
      <header className="page-header">
        <div>
          <h1 id="module-title">{module.name}</h1>
          <p className="muted">
            <code>require(&apos;actions:{module.name}&apos;)</code> · <ModuleBadge module={module} />
            {latest !== undefined ? <> · newest: v{latest}</> : <> · never published</>} · used by{" "}
            {usedBy(module.actions_using_module_total)}
          </p>
        </div>
        <div className="buttons">
          {dirty && <span className="unsaved">Unsaved changes</span>}
          {!editable && <span className="muted">Read-only</span>}
          {editable && (
            <>
              <button type="button" onClick={() => void save()} disabled={!dirty || busy !== null}>
                Save draft
              </button>
              <button className="primary" type="button" onClick={() => void publish()} disabled={busy !== null || !publishable}>
                {busy ? `${busy}…` : dirty ? "Save & publish" : "Publish"}
              </button>
            </>
          )}
        </div>
      </header>
      {error && <Notice onClose={() => setError(null)}>{error}</Notice>}
      {message && !error && (
        <Notice kind="success" onClose={() => setMessage(null)}>
          {message}
        </Notice>
      )}
      <Tabs label="Module sections" tabs={tabs} current={tab} link={(key) => href("modules", id, key)} />
      {tab === "code" && (
        <CodeEditor
          value={code}
          onChange={setCode}
          onSave={editable ? () => void save() : undefined}
          label="Module code"
          readOnly={!editable}
        />
      )}
      {tab === "settings" && (
        <DraftSettings
          draft={draft}
          readOnly={!editable}
          hint={
            <>
              Read by the module&apos;s code as <code>actions.secrets.NAME</code>. Saving a change replaces them all, so
              give each secret you keep its value again.
            </>
          }
        />
      )}
      {tab === "versions" && (
        <ModuleVersions
          key={versionsKey}
          module={module}
          draft={code}
          canRollBack={editable}
          onRolledBack={(fresh, source) => {
            adopt(fresh);
            setMessage(
              `The draft now holds version ${source.version_number}'s code, dependencies and secrets. ` +
                "Publish it to make it the newest version.",
            );
          }}
        />
      )}
      {tab === "actions" && <ModuleActions module={module} />}
      {can("delete:actions") && (
        <footer className="danger-zone">
          <button type="button" className="danger" onClick={() => void remove()}>
            Delete module
          </button>
          <p className="hint">A module cannot be deleted while an action pins one of its versions.</p>
        </footer>
      )}
    </section>
  );
}

function ModuleVersions({
  module,
  draft,
  canRollBack,
  onRolledBack,
}: {
  module: Module;
  draft: string;
  canRollBack: boolean;
  onRolledBack: (fresh: Module, source: ModuleVersion) => void;
}) {
  const { api } = useDashboard();
  const [versions, setVersions] = useState<ModuleVersion[] | null>(null);
  const [selected, setSelected] = useState<ModuleVersion | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api.moduleVersions(module.id).then(
      (list) => {
        setVersions(list);
        setSelected(list[0] ?? null);
      },
      (e) => setError(errorText(e)),
    );
  }, [api, module.id]);

  async function rollback(version: ModuleVersion) {
    if (!confirm(`Copy version ${version.version_number} into the draft? Unpublished changes in the draft are lost.`)) return;
    setError(null);
    try {
      onRolledBack(await api.rollbackModule(module.id, version.id), version);
    } catch (e) {
      setError(errorText(e));
    }
  }

  if (!versions) return error ? <Notice>{error}</Notice> : <Loading what="versions" />;
  if (versions.length === 0) {
    return (
      <Empty title="No versions yet">
        <p>Publish the draft to create version 1; actions can pin it then.</p>
      </Empty>
    );
  }
  return (
    <>
      {error && <Notice onClose={() => setError(null)}>{error}</Notice>}
      <div className="versions">
        <ul className="list selectable" aria-label="Versions">
          {versions.map((v) => (
            <li key={v.id} aria-current={selected?.id === v.id}>
              <button type="button" className="link" onClick={() => setSelected(v)}>
                Version {v.version_number}
              </button>
              {v.version_number === module.latest_version?.version_number && <span className="badge badge-deployed">Newest</span>}
              <span className="muted">{when(v.created_at)}</span>
              {canRollBack && (
                <button type="button" onClick={() => void rollback(v)}>
                  Roll back to v{v.version_number}
                </button>
              )}
            </li>
          ))}
        </ul>
        {selected && (
          <div className="card">
            <h2>Version {selected.version_number} → current draft</h2>
            <Diff before={selected.code} after={draft} />
            <p className="hint">
              Dependencies: {selected.dependencies.map((d) => `${d.name}@${d.version}`).join(", ") || "none"} · secrets:{" "}
              {selected.secrets.map((s) => s.name).join(", ") || "none"}
            </p>
          </div>
        )}
      </div>
    </>
  );
}

function ModuleActions({ module }: { module: Module }) {
  const { api } = useDashboard();
  const [users, setUsers] = useState<ModuleUser[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api.moduleActions(module.id).then(setUsers, (e) => setError(errorText(e)));
  }, [api, module.id]);

  if (!users) return error ? <Notice>{error}</Notice> : <Loading what="the actions using this module" />;
  if (users.length === 0) {
    return (
      <Empty title="No action uses this module">
        <p>
          An action uses it once its <code>modules</code> pin a published version; its code then calls{" "}
          <code>require(&apos;actions:{module.name}&apos;)</code>.
        </p>
      </Empty>
    );
  }
  const latest = module.latest_version?.version_number;
  return (
    <>
      <p className="hint">Actions whose draft pins a version of this module, and which version.</p>
      <table className="table" aria-label="Actions using this module">
      <thead>
        <tr>
          <th>Action</th>
          <th>Pinned version</th>
        </tr>
      </thead>
      <tbody>
        {users.map((user) => (
          <tr key={user.action_id} data-user={user.action_name}>
            <td>
              <a href={href("actions", user.action_id)}>{user.action_name}</a>
            </td>
            <td>
              v{user.module_version_number}
              {latest !== undefined && latest > user.module_version_number && (
                <span className="muted"> (v{latest} is newer)</span>
              )}
            </td>
          </tr>
        ))}
      </tbody>
      </table>
    </>
  );
}
