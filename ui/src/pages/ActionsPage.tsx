import { useCallback, useEffect, useState, type FormEvent } from "react";
import type { Action } from "../api";
import { actionState, Empty, errorText, Loading, Notice, StatusBadge, TriggerSelect, when } from "../components/common";
import { useDashboard } from "../context";
import { go, href } from "../router";
import { templateFor, triggerLabel } from "../templates";

export function ActionsPage() {
  const { api, can } = useDashboard();
  const [actions, setActions] = useState<Action[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const [filter, setFilter] = useState("");

  const load = useCallback(async () => {
    try {
      setActions(await api.actions());
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
  }, [api]);

  useEffect(() => {
    void load();
  }, [load]);

  // While a draft builds, look again every second and a half.
  const building = actions?.some((a) => actionState(a) === "building");
  useEffect(() => {
    if (!building) return;
    const timer = setInterval(() => void load(), 1500);
    return () => clearInterval(timer);
  }, [building, load]);

  const shown = (actions ?? []).filter(
    (a) =>
      !filter ||
      a.name.toLowerCase().includes(filter.toLowerCase()) ||
      a.supported_triggers.some((t) => t.id.includes(filter.toLowerCase())),
  );

  return (
    <section aria-labelledby="actions-title">
      <header className="page-header">
        <div>
          <h1 id="actions-title">Actions</h1>
          <p className="muted">Your library: write, build and deploy actions, then add them to a flow.</p>
        </div>
        {can("create:actions") && (
          <button className="primary" type="button" onClick={() => setCreating(true)}>
            Create action
          </button>
        )}
      </header>
      {creating && <CreateAction onClose={() => setCreating(false)} />}
      {error && <Notice>{error}</Notice>}
      {actions === null && !error && <Loading what="actions" />}
      {actions !== null && actions.length === 0 && (
        <Empty title="No actions yet">
          <p>An action is a small Node.js function that runs when a trigger fires, such as a login.</p>
          {can("create:actions") && (
            <button className="primary" type="button" onClick={() => setCreating(true)}>
              Create your first action
            </button>
          )}
        </Empty>
      )}
      {actions !== null && actions.length > 0 && (
        <>
          <input
            className="search"
            type="search"
            placeholder="Filter by name or trigger"
            aria-label="Filter actions"
            value={filter}
            onChange={(e) => setFilter(e.target.value)}
          />
          <table className="table" aria-label="Actions">
            <thead>
              <tr>
                <th>Name</th>
                <th>Trigger</th>
                <th>Status</th>
                <th className="hide-narrow">Deployed</th>
                <th className="hide-narrow">Updated</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((action) => (
                <tr key={action.id} data-action={action.name}>
                  <td>
                    <a href={href("actions", action.id)}>{action.name}</a>
                  </td>
                  <td>{action.supported_triggers.map((t) => triggerLabel(t.id)).join(", ")}</td>
                  <td>
                    <StatusBadge action={action} />
                  </td>
                  <td className="hide-narrow">
                    {action.deployed_version ? `v${action.deployed_version.number}` : "—"}
                  </td>
                  <td className="hide-narrow">{when(action.updated_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {shown.length === 0 && <p className="muted">No action matches “{filter}”.</p>}
        </>
      )}
    </section>
  );
}

function CreateAction({ onClose }: { onClose: () => void }) {
  const { api, triggers } = useDashboard();
  const [name, setName] = useState("");
  const [trigger, setTrigger] = useState("post-login");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const choice = triggers.find((t) => t.id === trigger);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!choice) return;
    setBusy(true);
    setError(null);
    try {
      const created = await api.createAction({
        name: name.trim(),
        supported_triggers: [{ id: choice.id, version: choice.version }],
        code: templateFor(choice.id),
      });
      go("actions", created.id);
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  }

  return (
    <form className="card create" onSubmit={submit} aria-label="Create action">
      <h2>New action</h2>
      <div className="row">
        <label>
          Name
          <input name="name" required maxLength={150} autoFocus value={name} onChange={(e) => setName(e.target.value)} placeholder="Add roles to tokens" />
        </label>
        <label>
          Trigger
          <TriggerSelect name="trigger" ids={triggers.map((t) => t.id)} value={trigger} onChange={setTrigger} />
        </label>
      </div>
      <p className="hint">It starts from a template for this trigger; edit it next.</p>
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
