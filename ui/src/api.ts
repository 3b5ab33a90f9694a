// The dashboard's only way to the server: the public Management API (and actionsd's
// documented /actionsd/v1 routes), with the signed-in user's bearer token.

export interface Trigger {
  id: string;
  version: string;
  status: string;
  runtimes: string[];
  default_runtime: string;
  /** "trigger-bound" triggers have a flow; "entity-bound" ones bind to other objects. */
  binding_policy?: string;
}

export interface TriggerRef {
  id: string;
  version: string;
}

export interface Dependency {
  name: string;
  version: string;
}

export interface Secret {
  name: string;
  updated_at?: string;
}

export interface SecretIn {
  name: string;
  value?: string;
}

export interface ActionVersion {
  id: string;
  action_id?: string;
  number: number;
  code: string;
  deployed: boolean;
  status: string;
  runtime: string;
  dependencies: Dependency[];
  created_at: string;
}

export interface Action {
  id: string;
  name: string;
  code?: string;
  runtime?: string;
  status?: string;
  dependencies?: Dependency[];
  secrets?: Secret[];
  supported_triggers: TriggerRef[];
  all_changes_deployed: boolean;
  deployed_version?: ActionVersion;
  created_at: string;
  updated_at: string;
}

export interface Binding {
  id: string;
  trigger_id: string;
  display_name: string;
  action: Action;
}

/** One entry of a flow as the page saves it: a stored binding (by its id, which keeps
 * its secrets unless new ones are sent) or an action added since the last save. */
export interface FlowItem {
  action_id: string;
  binding_id?: string;
  display_name: string;
  /** A full replacement of the binding's secrets; undefined keeps what it holds. */
  secrets?: SecretIn[];
}

export interface ModuleSecret {
  name: string;
  updated_at?: string;
}

export interface ModuleVersion {
  id: string;
  module_id?: string;
  version_number: number;
  code: string;
  secrets: ModuleSecret[];
  dependencies: Dependency[];
  created_at?: string;
}

export interface Module {
  id: string;
  name: string;
  code: string;
  dependencies: Dependency[];
  secrets: ModuleSecret[];
  actions_using_module_total: number;
  all_changes_published: boolean;
  latest_version_number?: number;
  latest_version?: ModuleVersion;
  created_at: string;
  updated_at: string;
}

/** An action that pins a version of a module. */
export interface ModuleUser {
  action_id: string;
  action_name: string;
  module_version_id: string;
  module_version_number: number;
}

export interface ActionResult {
  action_name: string;
  binding_id?: string | null;
  version_id?: string | null;
  started_at: string;
  ended_at: string;
  error?: { id?: string; msg?: string; message?: string; name?: string; url?: string };
  response?: {
    logs?: string;
    commands?: unknown[];
    stats?: { action_duration_ms?: number };
  };
}

export interface Execution {
  id: string;
  trigger_id: string;
  status: string;
  results: ActionResult[];
  created_at: string;
  updated_at: string;
}

export interface TestPayload {
  logs?: string;
  commands?: unknown[];
  outcome?: Record<string, unknown>;
  error?: { name?: string; message?: string };
  stats?: Record<string, number>;
}

export interface FlowResult {
  execution_id: string;
  trigger_id: string;
  status: string;
  outcome: Record<string, unknown>;
  results: ActionResult[];
  error?: { name?: string; message?: string };
}

/** An error answered by the server, in Auth0's shape, or a network failure. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

async function failure(response: Response): Promise<ApiError> {
  let message = `${response.status} ${response.statusText}`;
  let code: string | undefined;
  try {
    const body = await response.json();
    if (body && typeof body === "object") {
      message = body.message || body.error_description || body.error || message;
      code = body.errorCode || body.error;
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, message, code);
}

async function send(input: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(input, init);
  } catch {
    throw new ApiError(0, "The server could not be reached. Is actionsd running?");
  }
}

/** Exchange client credentials for a Management API token at the server's /oauth/token. */
export async function exchangeCredentials(clientId: string, clientSecret: string): Promise<string> {
  const response = await send("/oauth/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      grant_type: "client_credentials",
      client_id: clientId,
      client_secret: clientSecret,
      audience: `https://${location.host}/api/v2/`,
    }),
  });
  if (response.status === 401) throw new ApiError(401, "Wrong client id or client secret.");
  if (!response.ok) {
    const error = await failure(response);
    if (error.message.startsWith("Service not found")) {
      throw new ApiError(
        error.status,
        `This server does not answer for ${location.host}. Start it with ` +
          `ACTIONSD_EXTRA_DOMAINS='["${location.host}"]' or open the dashboard at its public URL.`,
      );
    }
    throw error;
  }
  const body = (await response.json()) as { access_token: string };
  return body.access_token;
}

export interface Answer<T> {
  data: T;
  etag: string | null;
}

export class Api {
  constructor(
    private readonly token: string,
    private readonly onUnauthorized: (message: string) => void,
  ) {}

  async call<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer<T>> {
    const init: RequestInit = {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...headers },
    };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)["content-type"] = "application/json";
    }
    const response = await send(path, init);
    if (!response.ok) {
      const error = await failure(response);
      if (response.status === 401) this.onUnauthorized(error.message);
      throw error;
    }
    const data = response.status === 204 ? (undefined as T) : ((await response.json()) as T);
    return { data, etag: response.headers.get("etag") };
  }

  async get<T>(path: string): Promise<T> {
    return (await this.call<T>("GET", path)).data;
  }

  triggers(): Promise<{ triggers: Trigger[] }> {
    return this.get("/api/v2/actions/triggers");
  }

  /** Every action (all pages), optionally only those of one trigger. */
  async actions(triggerId?: string, deployedOnly = false): Promise<Action[]> {
    const all: Action[] = [];
    for (let page = 0; ; page++) {
      const query = new URLSearchParams({ page: String(page), per_page: "100" });
      if (triggerId) query.set("triggerId", triggerId);
      if (deployedOnly) query.set("deployed", "true");
      const body = await this.get<{ actions: Action[]; total?: number }>(
        `/api/v2/actions/actions?${query}`,
      );
      all.push(...body.actions);
      if (body.actions.length < 100) return all;
    }
  }

  action(id: string): Promise<Action> {
    return this.get(`/api/v2/actions/actions/${encodeURIComponent(id)}`);
  }

  async createAction(body: {
    name: string;
    supported_triggers: TriggerRef[];
    code: string;
    runtime?: string;
  }): Promise<Action> {
    return (await this.call<Action>("POST", "/api/v2/actions/actions", body)).data;
  }

  async updateAction(
    id: string,
    body: { code?: string; dependencies?: Dependency[]; secrets?: SecretIn[]; name?: string },
  ): Promise<Action> {
    const path = `/api/v2/actions/actions/${encodeURIComponent(id)}`;
    return (await this.call<Action>("PATCH", path, body)).data;
  }

  async deleteAction(id: string): Promise<void> {
    await this.call("DELETE", `/api/v2/actions/actions/${encodeURIComponent(id)}?force=true`);
  }

  async deploy(id: string): Promise<ActionVersion> {
    const path = `/api/v2/actions/actions/${encodeURIComponent(id)}/deploy`;
    return (await this.call<ActionVersion>("POST", path)).data;
  }

  async versions(id: string): Promise<ActionVersion[]> {
    const path = `/api/v2/actions/actions/${encodeURIComponent(id)}/versions?per_page=100`;
    return (await this.get<{ versions: ActionVersion[] }>(path)).versions;
  }

  /** Deploy a copy of an earlier version (Auth0 numbers it as a new version). */
  async rollback(id: string, versionId: string, updateDraft: boolean): Promise<ActionVersion> {
    const path =
      `/api/v2/actions/actions/${encodeURIComponent(id)}` +
      `/versions/${encodeURIComponent(versionId)}/deploy`;
    return (await this.call<ActionVersion>("POST", path, { update_draft: updateDraft })).data;
  }

  async test(id: string, event: unknown): Promise<TestPayload> {
    const path = `/api/v2/actions/actions/${encodeURIComponent(id)}/test`;
    const body = await this.call<{ payload: TestPayload }>("POST", path, { payload: { event } });
    return body.data.payload;
  }

  async bindings(triggerId: string): Promise<Answer<Binding[]>> {
    const path = `/api/v2/actions/triggers/${encodeURIComponent(triggerId)}/bindings?per_page=100`;
    const answer = await this.call<{ bindings: Binding[] }>("GET", path);
    return { data: answer.data.bindings, etag: answer.etag };
  }

  /** Replace the flow in one PATCH; with an ETag, a concurrent change answers 412.
   * Stored bindings go by binding id, so those not edited keep their secrets. */
  async saveBindings(triggerId: string, items: FlowItem[], etag: string | null): Promise<Answer<Binding[]>> {
    const path = `/api/v2/actions/triggers/${encodeURIComponent(triggerId)}/bindings`;
    const body = {
      bindings: items.map((item) => ({
        ref: item.binding_id
          ? { type: "binding_id", value: item.binding_id }
          : { type: "action_id", value: item.action_id },
        display_name: item.display_name,
        ...(item.secrets ? { secrets: item.secrets } : {}),
      })),
    };
    const answer = await this.call<{ bindings: Binding[] }>(
      "PATCH",
      path,
      body,
      etag ? { "if-match": etag } : {},
    );
    return { data: answer.data.bindings, etag: answer.etag };
  }

  async executions(triggerId: string): Promise<Execution[]> {
    const query = new URLSearchParams({ trigger_id: triggerId, per_page: "50" });
    return (await this.get<{ executions: Execution[] }>(`/actionsd/v1/executions?${query}`))
      .executions;
  }

  /** One stored execution, by id (Auth0's endpoint). */
  execution(id: string): Promise<Execution> {
    return this.get(`/api/v2/actions/executions/${encodeURIComponent(id)}`);
  }

  async modules(): Promise<Module[]> {
    // Without per_page the Modules service answers every module at once.
    return (await this.get<{ modules: Module[] }>("/api/v2/actions/modules")).modules;
  }

  module(id: string): Promise<Module> {
    return this.get(`/api/v2/actions/modules/${encodeURIComponent(id)}`);
  }

  async createModule(body: { name: string; code: string }): Promise<Module> {
    return (await this.call<Module>("POST", "/api/v2/actions/modules", body)).data;
  }

  async updateModule(
    id: string,
    body: { code?: string; dependencies?: Dependency[]; secrets?: { name: string; value: string }[] },
  ): Promise<Module> {
    return (await this.call<Module>("PATCH", `/api/v2/actions/modules/${encodeURIComponent(id)}`, body)).data;
  }

  async deleteModule(id: string): Promise<void> {
    await this.call("DELETE", `/api/v2/actions/modules/${encodeURIComponent(id)}`);
  }

  /** Publish the draft as the next immutable version. */
  async publishModule(id: string): Promise<ModuleVersion> {
    return (await this.call<ModuleVersion>("POST", `/api/v2/actions/modules/${encodeURIComponent(id)}/versions`)).data;
  }

  async moduleVersions(id: string): Promise<ModuleVersion[]> {
    const path = `/api/v2/actions/modules/${encodeURIComponent(id)}/versions?per_page=100`;
    return (await this.get<{ versions: ModuleVersion[] }>(path)).versions;
  }

  /** Copy a published version back into the draft (no new version is made). */
  async rollbackModule(id: string, versionId: string): Promise<Module> {
    const path = `/api/v2/actions/modules/${encodeURIComponent(id)}/rollback`;
    return (await this.call<Module>("POST", path, { module_version_id: versionId })).data;
  }

  async moduleActions(id: string): Promise<ModuleUser[]> {
    const path = `/api/v2/actions/modules/${encodeURIComponent(id)}/actions?per_page=100`;
    return (await this.get<{ actions: ModuleUser[] }>(path)).actions;
  }

  async fire(triggerId: string, event: unknown): Promise<FlowResult> {
    const path = `/actionsd/v1/triggers/${encodeURIComponent(triggerId)}/execute`;
    return (await this.call<FlowResult>("POST", path, { event })).data;
  }

  /** Follow the live stream of the trigger's executions (Server-Sent Events) until
   * `signal` aborts. Read with fetch, not EventSource, which cannot send the token.
   * `onLive` is told once the stream has caught up: from then on no run is missed. */
  async follow(
    triggerId: string,
    onExecution: (e: Execution) => void,
    signal: AbortSignal,
    onLive?: () => void,
  ): Promise<void> {
    const query = new URLSearchParams({ trigger_id: triggerId });
    const response = await send(`/actionsd/v1/executions/stream?${query}`, {
      headers: { authorization: `Bearer ${this.token}`, accept: "text/event-stream" },
      signal,
    });
    if (!response.ok || !response.body) {
      const error = await failure(response);
      if (response.status === 401) this.onUnauthorized(error.message);
      throw error;
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      // Events end with a blank line; ours carry one `event:` and one `data:` line.
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const lines = buffer.slice(0, end).split("\n");
        buffer = buffer.slice(end + 2);
        const kind = lines.find((l) => l.startsWith("event:"))?.slice(6).trim();
        const data = lines.find((l) => l.startsWith("data:"))?.slice(5);
        if (kind === "execution" && data) onExecution(JSON.parse(data) as Execution);
        else if (kind === "live") onLive?.();
      }
    }
  }
}
