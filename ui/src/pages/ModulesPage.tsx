import { useCallback, useEffect, useState, type FormEvent } from "react";
import type { Module } from "../api";
import { Empty, errorText, Loading, ModuleBadge, Notice, when } from "../components/common";
import { useDashboard } from "../context";
import { go, href } from "../router";
import { MODULE_TEMPLATE } from "../templates";

export function ModulesPage() {
  const { api, can } = useDashboard();
  const [modules, setModules] = useState<Module[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);

  const load = useCallback(async () => {
    try {
      setModules(await api.modules());
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
  }, [api]);

  useEffect(() => {
    void load();
  }, [load]);

  return (
    <section aria-labelledby="modules-title">
      <header className="page-header">
        <div>
          <h1 id="modules-title">Modules</h1>
          <p className="muted">
            Code shared by several actions. Each action pins a published version and reads it with{" "}
            <code>require(&apos;actions:NAME&apos;)</code>.
          </p>
        </div>
        {can("create:actions") && (
          <button className="primary" type="button" onClick={() => setCreating(true)}>
            Create module
          </button>
        )}
      </header>
      {creating && <CreateModule onClose={() => setCreating(false)} />}
      {error && <Notice>{error}</Notice>}
      {modules === null && !error && <Loading what="modules" />}
      {modules !== null && modules.length === 0 && (
        <Empty title="No modules yet">
          <p>Put code that several actions need, such as a logger or an API client, in a module.</p>
          {can("create:actions") && (
            <button className="primary" type="button" onClick={() => setCreating(true)}>
              Create your first module
            </button>
          )}
        </Empty>
      )}
      {modules !== null && modules.length > 0 && (
        <table className="table" aria-label="Modules">
          <thead>
            <tr>
              <th>Name</th>
              <th>Status</th>
              <th>Used by</th>
              <th className="hide-narrow">Updated</th>
            </tr>
          </thead>
          <tbody>
            {modules.map((module) => (
              <tr key={module.id} data-module={module.name}>
                <td>
                  <a href={href("modules", module.id)}>{module.name}</a>
                </td>
                <td>
                  <ModuleBadge module={module} />
                </td>
                <td>{usedBy(module.actions_using_module_total)}</td>
                <td className="hide-narrow">{when(module.updated_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function usedBy(n: number): string {
  return n === 0 ? "no deployed action" : `${n} deployed action${n === 1 ? "" : "s"}`;
}

function CreateModule({ onClose }: { onClose: () => void }) {
  const { api } = useDashboard();
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const created = await api.createModule({ name: name.trim(), code: MODULE_TEMPLATE });
      go("modules", created.id);
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  }

  return (
    <form className="card create" onSubmit={submit} aria-label="Create module">
      <h2>New module</h2>
      <label>
        Name
        <input name="name" required maxLength={255} autoFocus value={name} onChange={(e) => setName(e.target.value)} placeholder="logger" />
      </label>
      <p className="hint">
        Actions load it as <code>require(&apos;actions:{name.trim() || "NAME"}&apos;)</code>; the name cannot change later.
      </p>
      {error && <Notice>{error}</Notice>}
      <div className="buttons">
        <button className="primary" type="submit" disabled={busy || !name.trim()}>
          {busy ? "Creating…" : "Create"}
        </button>
        <button type="button" onClick={onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}
