import { createContext, useContext } from "react";
import type { Api, Trigger } from "./api";

export interface Dashboard {
  api: Api;
  /** The triggers that can be chosen for a new action (current versions). */
  triggers: Trigger[];
}

export const DashboardContext = createContext<Dashboard | null>(null);

export function useDashboard(): Dashboard {
  const value = useContext(DashboardContext);
  if (!value) throw new Error("useDashboard outside the signed-in shell");
  return value;
}
