import type { AppRouter } from "@spell/api";
import type {
  ZBanOutput,
  ZCheckoutUrlInput,
  ZConfirmIntentInput,
  ZEstimateOutput,
  ZExecuteInput,
  ZExecuteOutput,
  ZListSpellsOutput,
  ZMeOutput,
  ZPortalUrlInput,
  ZPublishInput,
  ZPublishOutput,
  ZTeamMembersInput,
  ZTeamMembersOutput,
  ZUrlOutput,
} from "@spell/contracts";
import { createTRPCClient, httpLink, type TRPCClient } from "@trpc/client";
import { SpellError, toSpellError } from "./errors.ts";

// zod 4's own definitions of z.input / z.output, so the SDK needs zod's types but not zod itself.
type In<T> = T extends { _zod: { input: infer I } } ? I : never;
type Out<T> = T extends { _zod: { output: infer O } } ? O : never;

export type ExecuteInput = In<typeof ZExecuteInput>;
export type ExecuteResult = Out<typeof ZExecuteOutput>;
export type EstimateResult = Out<typeof ZEstimateOutput>;
export type ListSpellsResult = Out<typeof ZListSpellsOutput>;
export type SpellSummary = ListSpellsResult["spells"][number];
export type MeResult = Out<typeof ZMeOutput>;
export type BanResult = Out<typeof ZBanOutput>;
export type PublishSpellInput = In<typeof ZPublishInput>;
export type PublishResult = Out<typeof ZPublishOutput>;
export type TeamMembersInput = In<typeof ZTeamMembersInput>;
export type TeamMembersResult = Out<typeof ZTeamMembersOutput>;
export type CheckoutUrlInput = In<typeof ZCheckoutUrlInput>;
export type PortalUrlInput = In<typeof ZPortalUrlInput>;
export type ConfirmIntentInput = In<typeof ZConfirmIntentInput>;
export type UrlResult = Out<typeof ZUrlOutput>;

/** The `fetch` the client calls; defaults to the global one. */
export type SpellFetch = (url: string, init?: RequestInit) => Promise<Response>;

export interface SpellClientOptions {
  /** The server's origin, e.g. `http://127.0.0.1:8787`; tRPC is reached at `${baseUrl}/trpc`. */
  baseUrl: string;
  /** A bearer JWT. Without one every call fails with `UNAUTHORIZED`. */
  token?: string;
  fetch?: SpellFetch;
}

export interface SpellClient {
  /** Runs a spell. A repeated `idempotencyKey` returns the first result and runs nothing. */
  execute(
    slug: string,
    input?: Record<string, unknown>,
    options?: { idempotencyKey?: string },
  ): Promise<ExecuteResult>;
  /** What running the spell would cost the caller, without running it. */
  estimate(slug: string): Promise<EstimateResult>;
  /** The spells the caller may run. */
  listSpells(): Promise<ListSpellsResult>;
  /** The caller: status, payment method, recent usage. */
  me(): Promise<MeResult>;
  admin: {
    ban(userId: string, reason: string): Promise<BanResult>;
    unban(userId: string): Promise<BanResult>;
    publish(input: PublishSpellInput): Promise<PublishResult>;
    teamMembers(input: TeamMembersInput): Promise<TeamMembersResult>;
  };
  billing: {
    checkoutUrl(input: CheckoutUrlInput): Promise<UrlResult>;
    portalUrl(input: PortalUrlInput): Promise<UrlResult>;
    confirmIntent(paymentIntentId: string): Promise<ExecuteResult>;
  };
  /** The raw typed tRPC proxy; its errors are `TRPCClientError`s, not `SpellError`s. */
  trpc: TRPCClient<AppRouter>;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

/**
 * tRPC reports an unparsable body without the response, so a proxy's HTML error page would lose its
 * status; failing here keeps it (toSpellError unwraps the SpellError from the TRPCClientError).
 */
function refuseNonJson(fetch: SpellFetch): SpellFetch {
  return async (url, init) => {
    const response = await fetch(url, init);
    const type = response.headers.get("content-type") ?? "";
    if (!type.includes("json")) {
      const reason = `HTTP ${response.status} with content-type ${JSON.stringify(type)}`;
      throw new SpellError(
        response.status >= 500 ? "SERVICE_UNAVAILABLE" : "INTERNAL_ERROR",
        `Unexpected answer from the Spell API (${reason})`,
        { status: response.status, details: { network: true, reason } },
      );
    }
    return response;
  };
}

/** A typed Spell client over tRPC. Every friendly method rejects with a `SpellError`. */
export function createSpellClient(options: SpellClientOptions): SpellClient {
  const baseUrl = trimSlash(options.baseUrl);
  const url = `${baseUrl}/trpc`;
  const headers = options.token ? { authorization: `Bearer ${options.token}` } : {};
  const fetch = refuseNonJson(options.fetch ?? globalThis.fetch);
  // httpLink rather than the batch link: one call, one HTTP status, which keeps errors 1:1.
  const links = [httpLink({ url, headers, fetch })];
  const trpc = createTRPCClient<AppRouter>({ links });

  // The router's types check every path and input; the declared results come from the contracts.
  async function call<T>(promise: Promise<T>): Promise<T> {
    try {
      return await promise;
    } catch (error) {
      throw toSpellError(error, baseUrl);
    }
  }

  // tRPC types an `unknown` field as optional; the contract says `output` is always present.
  const withOutput = <R extends { output?: unknown }>(result: R) => ({ ...result, output: result.output });

  return {
    execute: (spell, input = {}, { idempotencyKey } = {}) =>
      call(
        trpc.spell.execute.mutate(
          idempotencyKey === undefined ? { spell, input } : { spell, input, idempotencyKey },
        ),
      ).then(withOutput),
    estimate: (spell) => call(trpc.spell.estimate.mutate({ spell })),
    listSpells: () => call(trpc.spell.list.query({})),
    me: () => call(trpc.me.query({})),
    admin: {
      ban: (userId, reason) => call(trpc.admin.ban.mutate({ userId, reason })),
      unban: (userId) => call(trpc.admin.unban.mutate({ userId })),
      publish: (input) => call(trpc.admin.publish.mutate(input)),
      teamMembers: (input) => call(trpc.admin.teamMembers.mutate(input)),
    },
    billing: {
      checkoutUrl: (input) => call(trpc.billing.checkoutUrl.mutate(input)),
      portalUrl: (input) => call(trpc.billing.portalUrl.mutate(input)),
      confirmIntent: (paymentIntentId) =>
        call(trpc.billing.confirmIntent.mutate({ paymentIntentId })).then(withOutput),
    },
    trpc,
  };
}
