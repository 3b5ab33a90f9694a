// Starting code and a sample event for each trigger the runtime runs.

interface TriggerInfo {
  label: string;
  handler: string;
  body: string;
  /** A sample event; only triggers this server can run have one. */
  event?: Record<string, unknown>;
  /** Runs the one action its entity names, never a flow of bindings. */
  entityBound?: true;
}

const user = {
  user_id: "auth0|5f7c8ec7c33c6c004bbafe82",
  email: "j+smith@example.com",
  email_verified: true,
  name: "Jane Smith",
  app_metadata: {},
  user_metadata: {},
};
const request = {
  ip: "13.33.86.47",
  hostname: "login.example.com",
  method: "POST",
  language: "en",
  geoip: { countryCode: "US", cityName: "Seattle" },
};
const client = { client_id: "RFbpkWBSJ5WVz9zJ7qz6Bc9xkuSfaW3J", name: "My Web App" };

export const TRIGGERS: Record<string, TriggerInfo> = {
  "post-login": {
    label: "Login / Post Login",
    handler: "onExecutePostLogin",
    body: [
      "  // Add a custom claim to the ID token.",
      "  if (event.authorization) {",
      "    api.idToken.setCustomClaim('https://example.com/roles', event.authorization.roles);",
      "  }",
    ].join("\n"),
    event: {
      user,
      request,
      client,
      connection: { id: "con_fpe5kj482KO1eOzQ", name: "Username-Password-Authentication", strategy: "auth0" },
      authorization: { roles: ["editor"] },
      transaction: { protocol: "oidc-basic-profile", requested_scopes: ["openid", "profile"] },
      stats: { logins_count: 7 },
    },
  },
  "credentials-exchange": {
    label: "Machine to Machine",
    handler: "onExecuteCredentialsExchange",
    body: "  api.accessToken.setCustomClaim('https://example.com/tier', 'gold');",
    event: {
      client,
      request,
      resource_server: { identifier: "https://api.example.com" },
      transaction: { requested_scopes: ["read:reports"] },
    },
  },
  "pre-user-registration": {
    label: "Pre User Registration",
    handler: "onExecutePreUserRegistration",
    body: [
      "  if (!event.user.email?.endsWith('@example.com')) {",
      "    api.access.deny('domain_not_allowed', 'Sign-ups are limited to example.com.');",
      "  }",
    ].join("\n"),
    event: { user, request, client, connection: { name: "Username-Password-Authentication" } },
  },
  "post-user-registration": {
    label: "Post User Registration",
    handler: "onExecutePostUserRegistration",
    body: "  console.log(`welcome ${event.user.email}`);",
    event: { user, request, client, connection: { name: "Username-Password-Authentication" } },
  },
  "post-change-password": {
    label: "Post Change Password",
    handler: "onExecutePostChangePassword",
    body: "  console.log(`password changed for ${event.user.email}`);",
    event: { user, request, connection: { name: "Username-Password-Authentication" } },
  },
  "send-phone-message": {
    label: "Send Phone Message",
    handler: "onExecuteSendPhoneMessage",
    body: "  console.log(`send \"${event.message_options.text}\" to ${event.message_options.recipient}`);",
    event: {
      user,
      request,
      client,
      message_options: { action: "enrollment", message_type: "sms", recipient: "+15555550123", text: "Your code is 123456" },
    },
  },
  "password-reset-post-challenge": {
    label: "Password Reset / Post Challenge",
    handler: "onExecutePostChallenge",
    body: "  console.log(`reset challenge passed for ${event.user.email}`);",
    event: { user, request, client },
  },
  "custom-email-provider": {
    label: "Custom Email Provider",
    handler: "onExecuteCustomEmailProvider",
    body: "  console.log(`email to ${event.notification.to}: ${event.notification.subject}`);",
    event: {
      user,
      client,
      notification: { to: "j+smith@example.com", from: "no-reply@example.com", subject: "Welcome", html: "<p>Hi</p>", text: "Hi" },
    },
  },
  "custom-phone-provider": {
    label: "Custom Phone Provider",
    handler: "onExecuteCustomPhoneProvider",
    body: "  console.log(`text to ${event.notification.recipient}`);",
    event: {
      user,
      client,
      notification: { recipient: "+15555550123", message_type: "sms", as_text: "Your code is 123456" },
    },
  },
  // Entity-bound triggers: no flow of bindings; an entity (a token exchange profile, an
  // event stream, …) names one action, and its actions can be tested like any other.
  "custom-token-exchange": {
    label: "Custom Token Exchange",
    handler: "onExecuteCustomTokenExchange",
    body: "  // Validate event.transaction.subject_token, then api.authentication.setUserById(…).",
    entityBound: true,
    event: {
      client,
      request,
      transaction: {
        subject_token_type: "urn:acme:legacy-token",
        subject_token: "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl",
        requested_scopes: ["openid", "profile"],
      },
    },
  },
  "password-hash-migration": {
    label: "Password Hash Migration",
    handler: "onExecutePasswordHashMigration",
    body: "  // Check the legacy hash of event.user, then mark the password as valid.",
    entityBound: true,
    event: { user, request },
  },
  "event-stream": {
    label: "Event Stream",
    handler: "onExecuteEventStream",
    body: "  console.log(event.message);",
    entityBound: true,
    event: { message: { type: "user.created", data: { user_id: user.user_id } } },
  },
  "mcp-tool": {
    label: "MCP Tool",
    handler: "onExecuteMcpTool",
    body: "  // Answer the tool call described by event.",
    entityBound: true,
    event: {},
  },
};

export function triggerLabel(id: string): string {
  return TRIGGERS[id]?.label ?? id;
}

export function templateFor(triggerId: string): string {
  const info = TRIGGERS[triggerId];
  const handler = info?.handler ?? "onExecute";
  const body = info?.body ?? "  // Your code here.";
  return [
    `// Runs each time the ${triggerId} trigger fires, in the order of its flow.`,
    "// `event` tells what is happening; calls on `api` change the outcome.",
    `exports.${handler} = async (event, api) => {`,
    body,
    "};",
    "",
  ].join("\n");
}

export function sampleEvent(triggerId: string): string {
  return JSON.stringify(TRIGGERS[triggerId]?.event ?? {}, null, 2);
}

export function runnable(triggerId: string): boolean {
  return TRIGGERS[triggerId]?.event !== undefined;
}

/** Whether the trigger has a flow of bound actions to fire (entity-bound ones have none). */
export function hasFlow(triggerId: string): boolean {
  return runnable(triggerId) && !TRIGGERS[triggerId]?.entityBound;
}

/** A new module's starting code: what it exports is what `require('actions:NAME')` returns. */
export const MODULE_TEMPLATE = [
  "// Shared code: an action that pins a version of this module loads it with",
  "// require('actions:NAME'). The module's own secrets are actions.secrets.NAME.",
  "module.exports = {",
  "  greet: (name) => `Hello, ${name}`,",
  "};",
  "",
].join("\n");
