import { Component, StrictMode, useCallback, useEffect, useMemo, useState, type ReactNode } from "react";
import { createRoot } from "react-dom/client";
import { Api, type Trigger } from "./api";
import { errorText, Loading, Notice } from "./components/common";
import { DashboardContext, useDashboard, type Scope } from "./context";
import { ActionPage } from "./pages/ActionPage";
import { ActionsPage } from "./pages/ActionsPage";
import { ExecutionPage } from "./pages/ExecutionPage";
import { ExecutionsPage } from "./pages/ExecutionsPage";
import { FlowsPage } from "./pages/FlowsPage";
import { ModulePage, type ModuleTab } from "./pages/ModulePage";
import { ModulesPage } from "./pages/ModulesPage";
import { SignIn } from "./pages/SignIn";
import { href, useRoute } from "./router";
import { forgetToken, saveToken, savedToken, tokenScopes } from "./session";
import "./styles.css";

function App() {
  const [token, setToken] = useState<string | null>(savedToken);
  const [reason, setReason] = useState<string | null>(null);
  const [triggers, setTriggers] = useState<Trigger[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  const signOut = useCallback((why: string | null) => {
    forgetToken();
    setToken(null);
    setTriggers(null);
    setReason(why);
  }, []);

  const api = useMemo(
    () => (token ? new Api(token, (message) => signOut(`Signed out: ${message}`)) : null),
    [token, signOut],
  );

  const can = useMemo(() => {
    const scopes = token ? tokenScopes(token) : null;
    return (scope: Scope) => scopes === null || scopes.has(scope);
  }, [token]);

  useEffect(() => {
    if (!api) return;
    api.triggers().then(
      (body) => setTriggers(body.triggers.filter((t) => t.status === "CURRENT")),
      (e) => setError(errorText(e)),
    );
  }, [api]);

  async function signIn(fresh: string) {
    // Check the token against the API before keeping it.
    const probe = new Api(fresh, () => undefined);
    await probe.triggers();
    saveToken(fresh);
    setReason(null);
    setError(null);
    setToken(fresh);
  }

  if (!api) return <SignIn onToken={signIn} reason={reason} />;
  if (!triggers) return <main className="content">{error ? <Notice>{error}</Notice> : <Loading what="the dashboard" />}</main>;
  return (
    <DashboardContext.Provider value={{ api, triggers, can }}>
      <Shell onSignOut={() => signOut(null)} />
    </DashboardContext.Provider>
  );
}

function Shell({ onSignOut }: { onSignOut: () => void }) {
  const route = useRoute();
  const { can } = useDashboard();
  const readOnly = !can("create:actions") && !can("update:actions") && !can("delete:actions");
  const [section = "actions", first, second] = route;
  const nav: [string, string, string][] = [
    ["actions", "Actions", href("actions")],
    ["modules", "Modules", href("modules")],
    ["flows", "Flows", href("flows", "post-login")],
    ["executions", "Executions", href("executions", "post-login")],
  ];
  let page;
  if (section === "flows") page = <FlowsPage triggerId={first ?? "post-login"} />;
  else if (section === "executions") page = <ExecutionsPage triggerId={first ?? "post-login"} />;
  else if (section === "execution" && first) page = <ExecutionPage id={first} />;
  else if (section === "modules" && first) {
    const tabs: ModuleTab[] = ["settings", "versions", "actions"];
    const tab = tabs.find((t) => t === second) ?? "code";
    page = <ModulePage key={first} id={first} tab={tab} />;
  } else if (section === "modules") page = <ModulesPage />;
  else if (section === "actions" && first) {
    const tab = second === "settings" || second === "versions" || second === "test" ? second : "code";
    page = <ActionPage key={first} id={first} tab={tab} />;
  } else page = <ActionsPage />;

  return (
    <>
      <header className="topbar">
        <a className="brand" href={href("actions")}>
          <span className="logo" aria-hidden="true">
            ◆
          </span>{" "}
          actionsd
        </a>
        <nav aria-label="Main">
          {nav.map(([key, label, link]) => (
            <a key={key} href={link} aria-current={(section === "execution" ? "executions" : section) === key ? "page" : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <button type="button" className="link signout" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main className="content">
        {readOnly && (
          <Notice kind="info">
            <span data-testid="read-only">
              Read-only: this token can look at actions and flows, not change them. Sign in with the admin
              client&apos;s credentials to edit.
            </span>
          </Notice>
        )}
        <PageBoundary key={`${section}/${first ?? ""}`}>{page}</PageBoundary>
      </main>
    </>
  );
}

/** A page that throws while rendering says so in words instead of leaving a blank
 * screen; the next route starts afresh. */
class PageBoundary extends Component<{ children: ReactNode }, { failure: string | null }> {
  state = { failure: null };

  static getDerivedStateFromError(error: unknown) {
    return { failure: errorText(error) };
  }

  render() {
    if (this.state.failure === null) return this.props.children;
    return (
      <Notice>
        This page failed to show: {this.state.failure}. Reload the page, or go back to the{" "}
        <a href={href("actions")}>actions</a>.
      </Notice>
    );
  }
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
