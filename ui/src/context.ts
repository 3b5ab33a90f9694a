import { createContext, useContext } from "react";
import type { Api, Trigger } from "./api";

/** The Management API's scopes, and actionsd's own for running a flow. */
export type Scope = "read:actions" | "create:actions" | "update:actions" | "delete:actions" | "execute:actions";

export interface Dashboard {
  api: Api;
  /** The triggers that can be chosen for a new action (current versions). */
  triggers: Trigger[];
  /** Whether the signed-in token carries a scope: what it lacks is shown read-only. */
  can: (scope: Scope) => boolean;
}

export const DashboardContext = createContext<Dashboard | null>(null);

export function useDashboard(): Dashboard {
  const value = useContext(DashboardContext);
  if (!value) throw new Error("useDashboard outside the signed-in shell");
  return value;
}
