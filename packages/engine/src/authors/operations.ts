import type {
  AuthorRunsOutput,
  DisableSpellOutput,
  PublishOutput,
  RollbackOutput,
  RunLogOutput,
  ShareIdentityOutput,
  SpellStatsOutput,
  SpellVersionsOutput,
  UpdateSpellOutput,
  ZAuthorPublishInput,
  ZAuthorRunsInput,
  ZDisableSpellInput,
  ZRollbackInput,
  ZRunLogInput,
  ZShareIdentityInput,
  ZSpellStatsInput,
  ZSpellVersionsInput,
  ZUpdateSpellInput,
} from "@spell/contracts";
import type { z } from "zod";
import type { EngineContext } from "../context.ts";
import type { Session } from "../engine-types.ts";
import type { AuthorStore } from "../ports.ts";
import { publish } from "../publish/publish.ts";
import { disableSpell, rollbackSpell, spellVersions, updateSpell } from "./manage.ts";
import { authorRuns, runLog, shareIdentity, spellStats } from "./views.ts";

/** The authors' operations (issue 12); each checks scope and ownership itself (`access.ts`). */
export interface AuthorOperations {
  publish(session: Session, input: z.output<typeof ZAuthorPublishInput>): Promise<PublishOutput>;
  update(session: Session, input: z.output<typeof ZUpdateSpellInput>): Promise<UpdateSpellOutput>;
  versions(session: Session, input: z.output<typeof ZSpellVersionsInput>): Promise<SpellVersionsOutput>;
  rollback(session: Session, input: z.output<typeof ZRollbackInput>): Promise<RollbackOutput>;
  disable(session: Session, input: z.output<typeof ZDisableSpellInput>): Promise<DisableSpellOutput>;
  runs(session: Session, input: z.output<typeof ZAuthorRunsInput> | undefined): Promise<AuthorRunsOutput>;
  runLog(session: Session, input: z.output<typeof ZRunLogInput>): Promise<RunLogOutput>;
  stats(session: Session, input: z.output<typeof ZSpellStatsInput> | undefined): Promise<SpellStatsOutput>;
  shareIdentity(session: Session, input: z.output<typeof ZShareIdentityInput>): Promise<ShareIdentityOutput>;
}

export function createAuthorOperations(
  context: EngineContext,
  authors: AuthorStore | null,
): AuthorOperations {
  return {
    publish: (session, input) => publish(context, authors, session, input),
    update: (session, input) => updateSpell(context, authors, session, input),
    versions: (session, input) => spellVersions(context, authors, session, input),
    rollback: (session, input) => rollbackSpell(context, authors, session, input),
    disable: (session, input) => disableSpell(context, authors, session, input),
    runs: (session, input) => authorRuns(context, authors, session, input),
    runLog: (session, input) => runLog(context, authors, session, input),
    stats: (session, input) => spellStats(context, authors, session, input),
    shareIdentity: (session, input) => shareIdentity(authors, session, input),
  };
}
