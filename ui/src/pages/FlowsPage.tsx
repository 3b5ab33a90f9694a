import { useCallback, useEffect, useRef, useState, type DragEvent, type KeyboardEvent } from "react";
import { ApiError, type Action, type Binding, type SecretIn } from "../api";
import { Empty, errorText, Loading, Notice, TriggerSelect } from "../components/common";
import { Secrets } from "../components/settings";
import { useDashboard } from "../context";
import { go, href } from "../router";
import { triggerLabel } from "../templates";

interface Step {
  /** The bound action's id; a flow holds an action at most once. */
  id: string;
  /** The stored binding; absent for an action added since the flow was loaded. */
  binding?: string;
  name: string;
  display_name: string;
  /** New secrets replacing all the binding holds; undefined keeps them (they are never read back). */
  secrets?: SecretIn[];
}

interface Conflict {
  theirs: Binding[];
  etag: string | null;
}

const DRAG_TYPE = "application/x-actionsd-step";

type Dragged = { from: "library"; id: string } | { from: "flow"; index: number };

const toSteps = (bindings: Binding[]): Step[] =>
  bindings.map((b) => ({ id: b.action.id, binding: b.id, name: b.action.name, display_name: b.display_name }));

const sameFlow = (a: Step[], b: Step[]) =>
  a.length === b.length &&
  a.every((s, i) => s.id === b[i].id && s.display_name === b[i].display_name && s.secrets === b[i].secrets);

export function FlowsPage({ triggerId }: { triggerId: string }) {
  const { api, triggers, can } = useDashboard();
  const editable = can("update:actions");
  const [library, setLibrary] = useState<Action[] | null>(null);
  const [saved, setSaved] = useState<Step[] | null>(null);
  const [flow, setFlow] = useState<Step[]>([]);
  const [etag, setEtag] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [conflict, setConflict] = useState<Conflict | null>(null);
  const [saving, setSaving] = useState(false);
  const [dropAt, setDropAt] = useState<number | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const [editing, setEditing] = useState<string | null>(null);
  const dragged = useRef<Dragged | null>(null);
  const listRef = useRef<HTMLOListElement>(null);

  const load = useCallback(async () => {
    setError(null);
    try {
      const [actions, bindings] = await Promise.all([api.actions(triggerId, true), api.bindings(triggerId)]);
      setLibrary(actions);
      setSaved(toSteps(bindings.data));
      setFlow(toSteps(bindings.data));
      setEtag(bindings.etag);
      setConflict(null);
    } catch (e) {
      setError(errorText(e));
    }
  }, [api, triggerId]);

  useEffect(() => {
    setLibrary(null);
    setSaved(null);
    setNotice(null);
    void load();
  }, [load]);

  const dirty = saved !== null && !sameFlow(flow, saved);

  // Leaving with unsaved changes asks first.
  useEffect(() => {
    if (!dirty) return;
    const warn = (event: BeforeUnloadEvent) => event.preventDefault();
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [dirty]);

  function place(next: Step[], message: string, focusIndex?: number) {
    setFlow(next);
    setAnnouncement(message);
    setNotice(null);
    if (focusIndex !== undefined) {
      requestAnimationFrame(() => {
        const items = listRef.current?.querySelectorAll<HTMLElement>("[data-step]");
        items?.[focusIndex]?.focus();
      });
    }
  }

  function insert(action: Action, at: number) {
    if (flow.some((s) => s.id === action.id)) {
      setAnnouncement(`${action.name} is already in the flow.`);
      return;
    }
    const next = [...flow];
    next.splice(at, 0, { id: action.id, name: action.name, display_name: action.name });
    place(next, `${action.name} added at position ${at + 1} of ${next.length}.`);
  }

  function move(from: number, to: number) {
    if (to < 0 || to >= flow.length || from === to) return;
    const next = [...flow];
    const [step] = next.splice(from, 1);
    next.splice(to, 0, step);
    place(next, `${step.name} moved to position ${to + 1} of ${next.length}.`, to);
  }

  function remove(index: number) {
    const step = flow[index];
    const next = flow.filter((_, i) => i !== index);
    place(next, `${step.name} removed from the flow.`, Math.min(index, next.length - 1));
  }

  async function save(force = false) {
    setSaving(true);
    setError(null);
    try {
      // A binding is referred to by id only while the server still has it (after a
      // conflict, "theirs" may have replaced it); otherwise its action makes a new one.
      const stored = new Set((force && conflict ? toSteps(conflict.theirs) : saved ?? []).map((s) => s.binding));
      const items = flow.map((step) => ({
        action_id: step.id,
        binding_id: step.binding && stored.has(step.binding) ? step.binding : undefined,
        display_name: step.display_name.trim() || step.name,
        secrets: step.secrets,
      }));
      const answer = await api.saveBindings(triggerId, items, force ? conflict?.etag ?? null : etag);
      const steps = toSteps(answer.data);
      setSaved(steps);
      setFlow(steps);
      setEtag(answer.etag);
      setConflict(null);
      setNotice(`Saved. The ${triggerId} flow now runs ${steps.length} action${steps.length === 1 ? "" : "s"}.`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 412) {
        const latest = await api.bindings(triggerId);
        setConflict({ theirs: latest.data, etag: latest.etag });
      } else {
        setError(errorText(e));
      }
    } finally {
      setSaving(false);
    }
  }

  // Drag and drop: from the library into the flow, within the flow, or back out.
  function startDrag(event: DragEvent, what: Dragged) {
    dragged.current = what;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData(DRAG_TYPE, JSON.stringify(what));
    event.dataTransfer.setData("text/plain", what.from === "library" ? what.id : String(what.index));
  }

  function dropIndex(event: DragEvent): number {
    const items = listRef.current?.querySelectorAll<HTMLElement>("[data-step]") ?? [];
    for (let i = 0; i < items.length; i++) {
      const box = items[i].getBoundingClientRect();
      if (event.clientY < box.top + box.height / 2) return i;
    }
    return items.length;
  }

  function overFlow(event: DragEvent) {
    if (!dragged.current) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    setDropAt(dropIndex(event));
  }

  function dropOnFlow(event: DragEvent) {
    event.preventDefault();
    const what = dragged.current;
    const at = dropIndex(event);
    dragged.current = null;
    setDropAt(null);
    if (!what) return;
    if (what.from === "library") {
      const action = library?.find((a) => a.id === what.id);
      if (action) insert(action, at);
    } else {
      move(what.index, at > what.index ? at - 1 : at);
    }
  }

  function dropOnLibrary(event: DragEvent) {
    event.preventDefault();
    const what = dragged.current;
    dragged.current = null;
    setDropAt(null);
    if (what?.from === "flow") remove(what.index);
  }

  function keys(event: KeyboardEvent, index: number) {
    if (event.altKey && event.key === "ArrowUp") {
      event.preventDefault();
      move(index, index - 1);
    } else if (event.altKey && event.key === "ArrowDown") {
      event.preventDefault();
      move(index, index + 1);
    } else if (event.key === "Delete" || event.key === "Backspace") {
      event.preventDefault();
      remove(index);
    }
  }

  function edit(id: string, change: Partial<Step>) {
    setFlow(flow.map((s) => (s.id === id ? { ...s, ...change } : s)));
    setNotice(null);
  }

  const inFlow = new Set(flow.map((s) => s.id));
  const edited = flow.find((s) => s.id === editing);
  const choices = triggers.filter((t) => t.binding_policy !== "entity-bound").map((t) => t.id);
  const entityBound = triggers.some((t) => t.id === triggerId && t.binding_policy === "entity-bound");

  return (
    <section aria-labelledby="flow-title">
      <header className="page-header">
        <div>
          <h1 id="flow-title">Flow: {triggerLabel(triggerId)}</h1>
          <p className="muted">
            Actions run from Start to Complete, top to bottom.
            {editable && " Drag them, or focus one and press Alt+↑/↓ to move it and Delete to remove it."}
          </p>
        </div>
        <label className="inline">
          Trigger
          <TriggerSelect ids={choices} value={triggerId} onChange={(id) => go("flows", id)} />
        </label>
      </header>
      {error && <Notice onClose={() => setError(null)}>{error}</Notice>}
      {notice && (
        <Notice kind="success" onClose={() => setNotice(null)}>
          {notice}
        </Notice>
      )}
      {conflict && (
        <Notice kind="warning">
          <strong>Someone else changed this flow since you opened it.</strong> Your version was not saved.
          <div className="conflict">
            <div>
              <h3>Now on the server</h3>
              <ol data-testid="theirs">
                {conflict.theirs.length === 0 ? <li>(empty)</li> : conflict.theirs.map((b) => <li key={b.id}>{b.display_name}</li>)}
              </ol>
            </div>
            <div>
              <h3>Yours</h3>
              <ol data-testid="mine">
                {flow.length === 0 ? <li>(empty)</li> : flow.map((s) => <li key={s.id}>{s.display_name}</li>)}
              </ol>
            </div>
          </div>
          <div className="buttons">
            <button type="button" onClick={() => void load()}>
              Discard mine, load theirs
            </button>
            <button type="button" className="danger" onClick={() => void save(true)}>
              Replace theirs with mine
            </button>
          </div>
        </Notice>
      )}
      <p className="sr-only" aria-live="assertive" data-testid="announcement">
        {announcement}
      </p>
      {entityBound && (
        <Notice kind="info">
          Actions of the {triggerId} trigger are bound to other objects (such as a token exchange profile),
          not arranged in a flow here.
        </Notice>
      )}
      {entityBound ? null : saved === null || library === null ? (
        !error && <Loading what="the flow" />
      ) : (
        <div className="flow-layout">
          <div className="flow-column">
            <div className="flow-bar">
              <h2>Flow</h2>
              <div className="buttons">
                {dirty && <span className="unsaved">Unsaved changes</span>}
                {!editable && <span className="muted">Read-only</span>}
                {editable && (
                  <>
                    <button type="button" onClick={() => setFlow(saved)} disabled={!dirty || saving}>
                      Discard
                    </button>
                    <button className="primary" type="button" onClick={() => void save()} disabled={!dirty || saving}>
                      {saving ? "Saving…" : "Save flow"}
                    </button>
                  </>
                )}
              </div>
            </div>
            <div className="terminal">Start</div>
            <ol
              ref={listRef}
              className={`flow ${dropAt !== null ? "dragging" : ""}`}
              aria-label={`${triggerId} flow`}
              data-testid="flow"
              onDragOver={editable ? overFlow : undefined}
              onDragLeave={(e) => {
                if (!e.currentTarget.contains(e.relatedTarget as Node)) setDropAt(null);
              }}
              onDrop={editable ? dropOnFlow : undefined}
            >
              {flow.length === 0 && (
                <li className={`flow-empty ${dropAt !== null ? "drop-here" : ""}`}>
                  {editable ? "Drag an action here from the library, or use its Add button." : "No actions in this flow."}
                </li>
              )}
              {flow.map((step, index) => (
                <li
                  key={step.id}
                  data-step={step.name}
                  className={`step ${dropAt === index ? "drop-before" : ""} ${
                    dropAt === flow.length && index === flow.length - 1 ? "drop-after" : ""
                  }`}
                  draggable={editable}
                  tabIndex={0}
                  aria-label={`${step.display_name}, step ${index + 1} of ${flow.length}`}
                  onDragStart={(e) => startDrag(e, { from: "flow", index })}
                  onDragEnd={() => setDropAt(null)}
                  onKeyDown={editable ? (e) => keys(e, index) : undefined}
                >
                  {editable && (
                    <span className="grip" aria-hidden="true">
                      ⋮⋮
                    </span>
                  )}
                  <span className="step-name">
                    <a href={href("actions", step.id)} tabIndex={-1}>
                      {step.display_name}
                    </a>
                    {step.display_name !== step.name && <span className="step-action muted">{step.name}</span>}
                  </span>
                  {editable && (
                  <span className="step-tools">
                    <button
                      type="button"
                      className="icon"
                      aria-label={`Edit ${step.name}`}
                      aria-pressed={editing === step.id}
                      onClick={() => setEditing(editing === step.id ? null : step.id)}
                    >
                      ✎
                    </button>
                    <button type="button" className="icon" aria-label={`Move ${step.name} up`} disabled={index === 0} onClick={() => move(index, index - 1)}>
                      ↑
                    </button>
                    <button
                      type="button"
                      className="icon"
                      aria-label={`Move ${step.name} down`}
                      disabled={index === flow.length - 1}
                      onClick={() => move(index, index + 1)}
                    >
                      ↓
                    </button>
                    <button type="button" className="icon" aria-label={`Remove ${step.name}`} onClick={() => remove(index)}>
                      ×
                    </button>
                  </span>
                  )}
                </li>
              ))}
            </ol>
            <div className="terminal">Complete</div>
            {editable && edited && (
              <BindingEditor
                step={edited}
                action={library.find((a) => a.id === edited.id)}
                onChange={(change) => edit(edited.id, change)}
                onClose={() => setEditing(null)}
              />
            )}
          </div>
          <aside
            className="library"
            aria-label="Library"
            data-testid="library"
            onDragOver={(e) => {
              if (dragged.current?.from === "flow") e.preventDefault();
            }}
            onDrop={editable ? dropOnLibrary : undefined}
          >
            <h2>Library</h2>
            <p className="hint">Deployed actions for this trigger.</p>
            {library.length === 0 ? (
              <Empty title="Nothing to add yet">
                <p>
                  Deploy an action for {triggerId} in the <a href={href("actions")}>library</a> and it shows up here.
                </p>
              </Empty>
            ) : (
              <ul className="library-list">
                {library.map((action) => (
                  <li
                    key={action.id}
                    data-library={action.name}
                    className={inFlow.has(action.id) ? "used" : ""}
                    draggable={editable && !inFlow.has(action.id)}
                    onDragStart={(e) => startDrag(e, { from: "library", id: action.id })}
                    onDragEnd={() => setDropAt(null)}
                  >
                    <span>{action.name}</span>
                    {inFlow.has(action.id) ? (
                      <span className="muted">in flow</span>
                    ) : !editable ? null : (
                      <button type="button" aria-label={`Add ${action.name} to the flow`} onClick={() => insert(action, flow.length)}>
                        Add
                      </button>
                    )}
                  </li>
                ))}
              </ul>
            )}
          </aside>
        </div>
      )}
    </section>
  );
}

/** A binding's own settings: the name the flow shows, and secrets added to the action's
 * `event.secrets` in this flow only. Changes are saved with the flow. */
function BindingEditor({
  step,
  action,
  onChange,
  onClose,
}: {
  step: Step;
  action?: Action;
  onChange: (change: Partial<Step>) => void;
  onClose: () => void;
}) {
  const own = action?.secrets?.map((s) => s.name) ?? [];
  return (
    <div className="binding-editor" role="group" aria-label={`Binding of ${step.name}`}>
      <div className="card">
        <div className="flow-bar">
          <h2>Binding: {step.name}</h2>
          <button type="button" onClick={onClose}>
            Done
          </button>
        </div>
        <label>
          Display name
          <input value={step.display_name} maxLength={255} placeholder={step.name} onChange={(e) => onChange({ display_name: e.target.value })} />
        </label>
        <p className="hint">What this flow calls the action; the action keeps its name. Saved with the flow.</p>
        {step.secrets === undefined ? (
          <>
            <p>
              {step.binding
                ? "The secrets this binding holds are kept: the server never shows them, not even their names."
                : "This binding is new and has no secrets of its own."}
            </p>
            <button type="button" onClick={() => onChange({ secrets: [] })}>
              {step.binding ? "Replace this binding's secrets" : "Add binding secrets"}
            </button>
          </>
        ) : (
          <p className="unsaved">
            Saving the flow replaces this binding&apos;s secrets with {step.secrets.length === 0 ? "none" : "the ones below"}.{" "}
            <button type="button" className="link" onClick={() => onChange({ secrets: undefined })}>
              Keep the stored ones
            </button>
          </p>
        )}
      </div>
      {step.secrets !== undefined && (
        <Secrets
          readOnly={false}
          savedWith="the flow"
          title="Binding secrets"
          secrets={step.secrets}
          onChange={(rows) => onChange({ secrets: rows.map((r) => ({ name: r.name, value: r.value ?? "" })) })}
          hint={
            <>
              The action reads them as <code>event.secrets.NAME</code> in this flow only; they win over its own secrets of the same
              name{own.length > 0 ? ` (${own.join(", ")})` : ""}.
            </>
          }
        />
      )}
    </div>
  );
}
