import type { ExecuteOutput } from "@spell/contracts";
import type { Engine, ExecutionNotes } from "@spell/engine";
import type { Metrics } from "./metrics.ts";

/** What one request's access line says about it, filled in as the engine answers. */
export interface RequestFacts extends ExecutionNotes {
  userId?: string;
  spell?: string;
  executionId?: string;
}

type Observed = Engine & { facts: RequestFacts };

/**
 * The engine as one request sees it: the same operations, noting who the caller was and which
 * execution ran (for the access line) and counting executions and charges (for the metrics).
 *
 * Built once per app as a prototype over the engine, so a request costs one small object, and an
 * operation added to the engine later is inherited as it is instead of breaking this wrapper.
 */
export function observeEngine(engine: Engine, metrics: Metrics | undefined): (facts: RequestFacts) => Engine {
  const counted = (facts: RequestFacts, pending: Promise<ExecuteOutput>): Promise<ExecuteOutput> =>
    pending.then(
      (result) => {
        facts.executionId = result.executionId;
        facts.spell = result.spell.slug;
        metrics?.executionSucceeded(result);
        return result;
      },
      (error: unknown) => {
        metrics?.executionFailed(error);
        throw error;
      },
    );

  const prototype = Object.create(engine) as Observed;
  prototype.authenticate = async function (this: Observed, authorization, access) {
    const session = await engine.authenticate(authorization, access);
    this.facts.userId = session.caller.userId;
    return session;
  };
  prototype.executeSpell = function (this: Observed, authorization, request) {
    this.facts.spell = request.spell;
    return counted(this.facts, engine.executeSpell(authorization, request));
  };
  prototype.confirmIntent = function (this: Observed, session, input) {
    return counted(this.facts, engine.confirmIntent(session, input));
  };
  prototype.estimate = function (this: Observed, session, request) {
    this.facts.spell = request.spell;
    return engine.estimate(session, request);
  };
  prototype.publish = function (this: Observed, session, input) {
    this.facts.spell = input.slug;
    return engine.publish(session, input);
  };

  return (facts) => {
    const observed = Object.create(prototype) as Observed;
    observed.facts = facts;
    return observed;
  };
}
