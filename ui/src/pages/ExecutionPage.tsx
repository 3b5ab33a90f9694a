import { useEffect, useState } from "react";
import { ApiError, type Execution } from "../api";
import { errorText, Loading, Notice, when } from "../components/common";
import { useDashboard } from "../context";
import { href } from "../router";
import { triggerLabel } from "../templates";
import { duration, errorMessage, ExecutionBadge } from "./ExecutionsPage";

/** One execution by id: each action's result, logs and commands. Reached from the
 * executions list, the live view and the id box, or from a link someone shared. */
export function ExecutionPage({ id }: { id: string }) {
  const { api } = useDashboard();
  const [execution, setExecution] = useState<Execution | null>(null);
  const [actionIds, setActionIds] = useState<Map<string, string>>(new Map());
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    setExecution(null);
    setError(null);
    api.execution(id).then(
      async (found) => {
        setExecution(found);
        // Results name their action; link each to its page when it still exists.
        const actions = await api.actions(found.trigger_id).catch(() => []);
        setActionIds(new Map(actions.map((a) => [a.name, a.id])));
      },
      (e: unknown) =>
        setError(
          e instanceof ApiError && e.status === 404
            ? `No execution has the id “${id}”. Executions are kept for ten days; check that the id is complete.`
            : errorText(e),
        ),
    );
  }, [api, id]);

  const crumbs = (
    <nav className="crumbs">
      <a href={href("executions", execution?.trigger_id ?? "post-login")}>Executions</a> / <span>{id}</span>
    </nav>
  );
  if (!execution) {
    return (
      <section aria-labelledby="execution-title">
        {crumbs}
        <h1 id="execution-title">Execution</h1>
        {error ? <Notice>{error}</Notice> : <Loading what="the execution" />}
      </section>
    );
  }
  return (
    <section aria-labelledby="execution-title">
      {crumbs}
      <header className="page-header">
        <div>
          <h1 id="execution-title">
            Execution <ExecutionBadge execution={execution} />
          </h1>
          <p className="muted">
            <a href={href("executions", execution.trigger_id)}>{triggerLabel(execution.trigger_id)}</a> ·{" "}
            {when(execution.created_at)} · <code className="wrap">{execution.id}</code>
          </p>
        </div>
      </header>
      {execution.results.length === 0 && <p className="empty">The flow had no actions, so nothing ran.</p>}
      <ol className="results-list" aria-label="Action results">
        {execution.results.map((result, i) => {
          const actionId = actionIds.get(result.action_name);
          return (
            <li key={i} className="card" data-result={result.action_name}>
              <h2>
                {i + 1}. {actionId ? <a href={href("actions", actionId)}>{result.action_name}</a> : result.action_name}
              </h2>
              <p className="muted">
                {result.error ? <span className="error-text">Failed: {errorMessage(result)}</span> : "Ran without error"} ·{" "}
                {duration(result)} · started {when(result.started_at)}
              </p>
              <h3>Logs</h3>
              <pre className="output">{result.response?.logs || "(nothing logged)"}</pre>
              <h3>Commands</h3>
              {result.response?.commands?.length ? (
                <pre className="output">{JSON.stringify(result.response.commands, null, 2)}</pre>
              ) : (
                <p className="muted">This action changed nothing.</p>
              )}
            </li>
          );
        })}
      </ol>
    </section>
  );
}
