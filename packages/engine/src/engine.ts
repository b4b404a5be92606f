import { admit } from "./access.ts";
import { ban, setTeamMembership, unban } from "./admin/admin.ts";
import { createExecutionOperations } from "./async/operations.ts";
import { createAuthorOperations } from "./authors/operations.ts";
import { createEngineContext } from "./context.ts";
import type { Engine, EngineDeps } from "./engine-types.ts";
import { confirmIntent } from "./execute/confirm-intent.ts";
import { executeSpell } from "./execute/execute-spell.ts";
import { checkoutUrl, portalUrl } from "./payment-methods/payment-methods.ts";
import { publish } from "./publish/publish.ts";
import { estimate } from "./queries/estimate.ts";
import { listSpells } from "./queries/list-spells.ts";
import { me } from "./queries/me.ts";
import { createPrepaidOperations } from "./spend-limits/operations.ts";

/**
 * The engine: every use case bound to one context (ports, runtimes, settings), built once at
 * start-up. Each use case lives in its own module and checks its own access.
 */
export function createEngine(deps: EngineDeps): Engine {
  const context = createEngineContext(deps);
  return {
    async authenticate(authorization, access = "any") {
      const caller = await context.authenticate(authorization);
      const user = await context.users.ensureUser(caller.userId);
      const session = { caller, user };
      admit(session, access);
      return session;
    },
    executeSpell: (authorization, request) => executeSpell(context, authorization, request),
    estimate: (session, request) => estimate(context, session, request),
    listSpells: (session) => listSpells(context, session),
    me: (session) => me(context, session),
    publish: (session, input) => publish(context, deps.authors ?? null, session, input),
    ban: (session, input) => ban(context, session, input),
    unban: (session, input) => unban(context, session, input),
    setTeamMembership: (session, input) => setTeamMembership(context, session, input),
    checkoutUrl: (session, input) => checkoutUrl(context, session, input),
    portalUrl: (session, input) => portalUrl(context, session, input),
    confirmIntent: (session, input) => confirmIntent(context, session, input),
    prepaid: createPrepaidOperations(context),
    authors: createAuthorOperations(context, deps.authors ?? null),
    executions: createExecutionOperations(context, deps.asyncExecutions ?? null, deps.runQueue ?? null),
    async close() {
      await Promise.all([...context.runtimes.values()].map((runtime) => runtime.close()));
    },
  };
}
