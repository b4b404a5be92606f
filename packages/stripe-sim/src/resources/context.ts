import type { Ids } from "../ids.ts";
import type { SimResult, StripeSimState } from "../state.ts";

export interface ResourceContext {
  state: StripeSimState;
  ids: Ids;
  /** Where the simulated hosted pages live; unset, sessions carry Stripe's own URLs. */
  hostedPagesUrl: string | undefined;
}

/** One request to a resource: `/v1/<resource>/<id>/<action>` with the form-decoded body. */
export interface ResourceRequest {
  method: string;
  id: string | undefined;
  action: string | undefined;
  body: Record<string, string>;
}

/** Undefined when the resource has no such route (the router answers Stripe's 404). */
export type ResourceHandler = (request: ResourceRequest) => SimResult | undefined;
