import { useCallback, useEffect, useState, type FormEvent } from "react";
import type { ActionResult, Execution, FlowResult } from "../api";
import { CodeEditor } from "../components/CodeEditor";
import { Empty, errorText, Loading, Notice, parseJson, TriggerSelect, when } from "../components/common";
import { useDashboard } from "../context";
import { go, href } from "../router";
import { hasFlow, sampleEvent, triggerLabel } from "../templates";

export function duration(result: ActionResult): string {
  const ms = result.response?.stats?.action_duration_ms;
  if (typeof ms === "number") return `${ms.toFixed(ms < 10 ? 2 : 0)} ms`;
  const spent = Date.parse(result.ended_at) - Date.parse(result.started_at);
  return Number.isFinite(spent) ? `${spent} ms` : "";
}

const actions = (n: number) => `${n} action${n === 1 ? "" : "s"}`;

/** What a run did, in words: every action ran, or the flow paused for a redirect. */
function ranText(ran: FlowResult): string {
  const n = ran.results.length;
  if (ran.status === "suspended") {
    return `The flow ran ${actions(n)}, then paused to redirect the user; it resumes when they come back.`;
  }
  return n === 0 ? "The flow has no actions, so nothing ran." : `The flow ran its ${actions(n)}, in order.`;
}

function toggled(open: ReadonlySet<string>, id: string): ReadonlySet<string> {
  const next = new Set(open);
  if (!next.delete(id)) next.add(id);
  return next;
}

function failed(execution: Execution): boolean {
  return execution.results.some((r) => r.error);
}

export function errorMessage(result: ActionResult): string {
  const e = result.error;
  return e ? e.message ?? e.msg ?? e.id ?? "failed" : "";
}

export function ExecutionBadge({ execution }: { execution: Execution }) {
  const bad = failed(execution);
  return (
    <span className={`badge ${bad ? "badge-failed" : "badge-deployed"}`}>
      {bad ? "Error" : execution.status === "suspended" ? "Suspended" : "Success"}
    </span>
  );
}

/** Open an execution by its id, such as one a log line or a colleague gave. */
function FindExecution() {
  const [id, setId] = useState("");
  function open(event: FormEvent) {
    event.preventDefault();
    if (id.trim()) go("execution", id.trim());
  }
  return (
    <form className="row find" onSubmit={open} aria-label="Find an execution">
      <input aria-label="Execution id" placeholder="execution id" value={id} onChange={(e) => setId(e.target.value)} />
      <button type="submit" disabled={!id.trim()}>
        Open
      </button>
    </form>
  );
}

export function ExecutionsPage({ triggerId }: { triggerId: string }) {
  const { api, triggers, can } = useDashboard();
  const [list, setList] = useState<Execution[] | null>(null);
  // Rows open and close on a click only: a run marks its row as new, it does not open it
  // (opened by the run, the first click on it closed it).
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  const [error, setError] = useState<string | null>(null);
  const [event, setEvent] = useState(() => sampleEvent(triggerId));
  const [ran, setRan] = useState<FlowResult | null>(null);
  const [running, setRunning] = useState(false);
  const [live, setLive] = useState(true);
  const [following, setFollowing] = useState(false);

  const load = useCallback(async () => {
    try {
      setList(await api.executions(triggerId));
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
  }, [api, triggerId]);

  useEffect(() => {
    setList(null);
    setRan(null);
    setEvent(sampleEvent(triggerId));
    void load();
  }, [load, triggerId]);

  // The live view: each execution any server process stores, as it is stored.
  useEffect(() => {
    setFollowing(false);
    if (!live) return;
    const stop = new AbortController();
    const arrived = (execution: Execution) =>
      setList((current) => [execution, ...(current ?? []).filter((e) => e.id !== execution.id)]);
    api
      .follow(triggerId, arrived, stop.signal, () => setFollowing(true))
      .catch((e: unknown) => {
        if (!stop.signal.aborted) setError(errorText(e));
      })
      .finally(() => {
        // An aborted stream's successor reports for itself.
        if (!stop.signal.aborted) setFollowing(false);
      });
    return () => stop.abort();
  }, [api, triggerId, live]);

  async function run() {
    setError(null);
    setRunning(true);
    try {
      const result = await api.fire(triggerId, parseJson(event, "event"));
      setRan(result);
      await load();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setRunning(false);
    }
  }

  return (
    <section aria-labelledby="executions-title">
      <header className="page-header">
        <div>
          <h1 id="executions-title">Executions: {triggerLabel(triggerId)}</h1>
          <p className="muted">Each time the flow runs, every action's result, logs and timing; kept ten days.</p>
        </div>
        <div className="buttons">
          <label className="inline">
            Trigger
            <TriggerSelect ids={triggers.map((t) => t.id)} value={triggerId} onChange={(id) => go("executions", id)} />
          </label>
          <label className="inline">
            <input type="checkbox" checked={live} onChange={(e) => setLive(e.target.checked)} />
            Live
          </label>
          {live && (
            <span className="muted" data-testid="live-state" aria-live="polite">
              {following ? "following new runs" : "connecting…"}
            </span>
          )}
          <button type="button" onClick={() => void load()}>
            Refresh
          </button>
        </div>
      </header>
      {error && <Notice onClose={() => setError(null)}>{error}</Notice>}
      <FindExecution />
      {hasFlow(triggerId) && can("execute:actions") && (
        <details className="card run">
          <summary>Run this flow with a sample event</summary>
          <CodeEditor value={event} onChange={setEvent} label="Event" minHeight="10rem" />
          <div className="buttons">
            <button className="primary" type="button" disabled={running} onClick={() => void run()}>
              {running ? "Running…" : "Run flow"}
            </button>
            <a href={href("flows", triggerId)}>Edit the flow</a>
          </div>
          {ran && (
            <div data-testid="run-result">
              {ran.error ? (
                <Notice>Failed: {ran.error.message}</Notice>
              ) : (
                <Notice kind="success">
                  {ranText(ran)} <a href={href("execution", ran.execution_id)}>Open this execution</a>
                </Notice>
              )}
              <h3>Outcome</h3>
              <pre className="output">{JSON.stringify(ran.outcome, null, 2)}</pre>
            </div>
          )}
        </details>
      )}
      {list === null && !error && <Loading what="executions" />}
      {list !== null && list.length === 0 && (
        <Empty title="No executions yet">
          <p>When this trigger fires, its runs show up here.</p>
        </Empty>
      )}
      {list !== null && list.length > 0 && (
        <ul className="executions" aria-label="Executions">
          {list.map((execution) => (
            <li key={execution.id} className="card" data-execution={execution.id}>
              <div className="execution-row">
                <button
                  type="button"
                  className="execution-head"
                  aria-expanded={open.has(execution.id)}
                  onClick={() => setOpen(toggled(open, execution.id))}
                >
                  <ExecutionBadge execution={execution} />
                  <span>{when(execution.created_at)}</span>
                  {ran?.execution_id === execution.id && <span className="badge badge-built">Just ran</span>}
                  <span className="muted">{actions(execution.results.length)}</span>
                  <code className="muted hide-narrow">{execution.id}</code>
                </button>
                <a className="execution-link" href={href("execution", execution.id)} aria-label={`Details of execution ${execution.id}`}>
                  Details
                </a>
              </div>
              {open.has(execution.id) && (
                <table className="table results" aria-label="Action results">
                  <thead>
                    <tr>
                      <th>#</th>
                      <th>Action</th>
                      <th>Time</th>
                      <th>Result</th>
                    </tr>
                  </thead>
                  <tbody>
                    {execution.results.map((result, i) => (
                      <tr key={i}>
                        <td>{i + 1}</td>
                        <td>{result.action_name}</td>
                        <td>{duration(result)}</td>
                        <td>
                          {result.error ? <span className="error-text">{errorMessage(result)}</span> : "ok"}
                          {result.response?.logs && <pre className="output">{result.response.logs}</pre>}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
