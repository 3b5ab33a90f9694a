import { diffLines } from "diff";
import type { ReactNode } from "react";
import type { Action, Module } from "../api";
import { triggerLabel } from "../templates";

export type ActionState = "building" | "failed" | "built" | "deployed" | "changed";

/** One word for where an action stands, from its draft build and its deployed version. */
export function actionState(action: Action): ActionState {
  // A failed install is tried again (retrying) before the build fails for good.
  if (["pending", "building", "retrying"].includes(action.status ?? "")) return "building";
  if (action.status === "failed") return "failed";
  if (!action.deployed_version) return "built";
  return action.all_changes_deployed ? "deployed" : "changed";
}

const STATE_LABEL: Record<ActionState, string> = {
  building: "Building",
  failed: "Build failed",
  built: "Built, not deployed",
  deployed: "Deployed",
  changed: "Changes not deployed",
};

export function StatusBadge({ action }: { action: Action }) {
  const state = actionState(action);
  return (
    <span className={`badge badge-${state}`} data-state={state}>
      {STATE_LABEL[state]}
    </span>
  );
}

/** Whether a module's draft is what its newest version holds. */
export function ModuleBadge({ module }: { module: Module }) {
  const published = module.all_changes_published;
  return (
    <span className={`badge ${published ? "badge-deployed" : "badge-changed"}`} data-state={published ? "published" : "draft"}>
      {published ? "Published" : "Draft not published"}
    </span>
  );
}

export function Notice({
  kind = "error",
  children,
  onClose,
}: {
  kind?: "error" | "info" | "success" | "warning";
  children: ReactNode;
  onClose?: () => void;
}) {
  return (
    <div className={`notice notice-${kind}`} role={kind === "error" ? "alert" : "status"}>
      <div className="notice-body">{children}</div>
      {onClose && (
        <button type="button" className="link" onClick={onClose} aria-label="Dismiss">
          ×
        </button>
      )}
    </div>
  );
}

/** Links that switch a page's sections, one per route. */
export function Tabs<T extends string>({
  label,
  tabs,
  current,
  link,
}: {
  label: string;
  tabs: [T, string][];
  current: T;
  link: (tab: T) => string;
}) {
  return (
    <div className="tabs" role="tablist" aria-label={label}>
      {tabs.map(([key, text]) => (
        <a key={key} role="tab" aria-selected={current === key} href={link(key)}>
          {text}
        </a>
      ))}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <h3>{title}</h3>
      {children}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="loading" aria-busy="true">
      Loading {what}…
    </p>
  );
}

/** A line diff of two code texts, old on the left of the story, new on the right. */
export function Diff({ before, after }: { before: string; after: string }) {
  const parts = diffLines(before, after);
  if (parts.every((p) => !p.added && !p.removed)) {
    return <p className="muted">No differences.</p>;
  }
  return (
    <pre className="diff" data-testid="diff">
      {parts.flatMap((part, i) =>
        part.value
          .replace(/\n$/, "")
          .split("\n")
          .map((line, j) => {
            const kind = part.added ? "add" : part.removed ? "del" : "same";
            const mark = part.added ? "+" : part.removed ? "-" : " ";
            return (
              <div key={`${i}-${j}`} className={`diff-${kind}`}>
                {mark} {line}
              </div>
            );
          }),
      )}
    </pre>
  );
}

export function when(stamp: string | undefined): string {
  if (!stamp) return "";
  const date = new Date(stamp);
  return Number.isNaN(date.getTime()) ? stamp : date.toLocaleString();
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A trigger picker: the label people know, then the id the API uses. */
export function TriggerSelect({
  ids,
  value,
  onChange,
  name,
}: {
  ids: string[];
  value: string;
  onChange: (id: string) => void;
  name?: string;
}) {
  return (
    <select name={name} aria-label="Trigger" value={value} onChange={(e) => onChange(e.target.value)}>
      {ids.map((id) => (
        <option key={id} value={id}>
          {triggerLabel(id)} ({id})
        </option>
      ))}
    </select>
  );
}

/** Parse what someone typed as JSON, or throw an error that says so in words. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`The ${what} is not valid JSON: ${errorText(e)}`);
  }
}
