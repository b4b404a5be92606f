import { readFile } from "node:fs/promises";
import type { AuthorRunsResult, SpellClient } from "@spell/sdk";
import { type Command, Option } from "commander";
import { type CliContext, CliError } from "./context.ts";
import { parseAmount, parseJsonObject } from "./flags.ts";
import { formatPrice, table } from "./format.ts";
import { resolveUserPath } from "./paths.ts";

// Spell authors (issue 12): `spell publish | update | versions | rollback | unpublish | logs | stats`,
// for tokens with spell:publish, over the SDK's `authors.*` methods.

const amount = (value: string | undefined): number | undefined =>
  value === undefined ? undefined : parseAmount(value);

/** Only the flags given go into the request: a republish keeps every field not given. */
function optionalFields(opts: Record<string, string | undefined>) {
  const priceAmount = amount(opts.price);
  const metadata = parseJsonObject("--metadata", opts.metadata);
  return {
    ...(priceAmount !== undefined ? { priceAmount } : {}),
    ...(opts.currency ? { currency: opts.currency } : {}),
    ...(opts.visibility ? { visibility: opts.visibility as "public" | "team" | "private" } : {}),
    ...(opts.team ? { teamId: opts.team } : {}),
    ...(metadata ? { metadata } : {}),
  };
}

function runsLines(result: AuthorRunsResult): string[][] {
  return result.runs.map((run) => [
    run.createdAt,
    run.slug,
    run.status,
    run.errorCode ?? "",
    run.durationMs === null ? "" : `${run.durationMs} ms`,
    run.charged ? formatPrice(run.price) : "-",
    run.callerId ?? "(hidden)",
    run.executionId,
  ]);
}

export function addAuthorCommands(
  program: Command,
  ctx: CliContext,
  deps: { client(cmd: Command): Promise<SpellClient> },
): void {
  const out = (text: string) => ctx.stdout(text);
  const visibility = () =>
    new Option("--visibility <v>", "who may run it").choices(["public", "team", "private"]);

  program
    .command("publish")
    .description("Publish a spell you own (needs spell:publish); a republish changes the artifact only")
    .requiredOption("--slug <slug>", "name@vN")
    .addOption(
      new Option("--runtime <kind>", "the artifact's runtime")
        .choices(["builtin", "api", "wasm"])
        .makeOptionMandatory(),
    )
    .option("--builtin <name>", "the builtin to run (runtime builtin)")
    .option("--api-endpoint <url>", "the upstream URL (runtime api)")
    .option("--wasm <file>", "a WASI preview1 module (runtime wasm)")
    .option("--price <amount>", "price per run in minor units (kept unless given)")
    .option("--currency <code>", "ISO 4217, lowercase (kept unless given)")
    .addOption(visibility())
    .option("--team <teamId>", "the owning team (you must be a member)")
    .option("--config <json>", "runtime config, a JSON object")
    .option("--metadata <json>", "metadata, a JSON object (kept unless given)")
    .option("--json", "print the raw JSON result")
    .action(async (opts: Record<string, string | undefined> & { json?: boolean }, cmd: Command) => {
      const runtime = opts.runtime as "builtin" | "api" | "wasm";
      const flag = runtime === "api" ? "apiEndpoint" : runtime;
      const given = (["builtin", "apiEndpoint", "wasm"] as const).filter((k) => opts[k] !== undefined);
      if (given.length !== 1 || given[0] !== flag) {
        throw new CliError(
          "USAGE",
          `--runtime ${runtime} takes exactly one artifact flag (--${runtime === "api" ? "api-endpoint" : runtime})`,
        );
      }
      let artifact: { builtin: string } | { apiEndpoint: string } | { wasmBase64: string };
      if (runtime === "builtin") artifact = { builtin: String(opts.builtin) };
      else if (runtime === "api") artifact = { apiEndpoint: String(opts.apiEndpoint) };
      else {
        const path = resolveUserPath(ctx, String(opts.wasm));
        const bytes = await readFile(path).catch(() => {
          throw new CliError("FILE_UNREADABLE", `Cannot read ${path}`);
        });
        artifact = { wasmBase64: bytes.toString("base64") };
      }
      const config = parseJsonObject("--config", opts.config);
      const result = await (await deps.client(cmd)).authors.publish({
        slug: String(opts.slug),
        runtime,
        artifact,
        ...(config ? { config } : {}),
        ...optionalFields(opts),
      });
      if (opts.json) return out(`${JSON.stringify(result)}\n`);
      const { spell } = result;
      out(
        `${result.created ? "created" : "published"} ${spell.slug} (${spell.runtime}, ${spell.visibility}, ${formatPrice(spell.price)}) artifact ${spell.artifactId}; changed: ${result.changed.join(", ") || "nothing"}\n`,
      );
      if (result.signingSecret)
        out(`signing secret (shown once, give it to the upstream): ${result.signingSecret}\n`);
    });

  program
    .command("update")
    .description("Change only the given fields of a spell you own")
    .argument("<slug>")
    .option("--price <amount>", "price per run in minor units")
    .option("--currency <code>", "ISO 4217, lowercase")
    .addOption(visibility())
    .option("--team <teamId>", "the owning team")
    .option("--metadata <json>", "metadata, a JSON object")
    .option("--json", "print the raw JSON result")
    .action(
      async (slug: string, opts: Record<string, string | undefined> & { json?: boolean }, cmd: Command) => {
        const result = await (await deps.client(cmd)).authors.update({ slug, ...optionalFields(opts) });
        if (opts.json) return out(`${JSON.stringify(result)}\n`);
        out(`${slug}: changed ${result.changed.join(", ") || "nothing"}\n`);
      },
    );

  program
    .command("versions")
    .description("Every artifact version of a spell you own")
    .argument("<slug>")
    .option("--json", "print the raw JSON result")
    .action(async (slug: string, opts: { json?: boolean }, cmd: Command) => {
      const result = await (await deps.client(cmd)).authors.versions(slug);
      if (opts.json) return out(`${JSON.stringify(result)}\n`);
      const rows = result.versions.map((v) => [
        `${v.current ? "*" : " "}${v.version}`,
        v.createdAt,
        v.createdBy ?? "",
        v.sha256.slice(0, 12),
        v.artifactId,
      ]);
      out(`${table([["version", "created", "by", "sha256", "artifact"], ...rows])}\n`);
      if (result.disabled) out(`${slug} is unpublished\n`);
    });

  program
    .command("rollback")
    .description("Point a spell you own back at an earlier version (effective at once)")
    .argument("<slug>")
    .argument("<version>", "a version number (see `spell versions`) or an artifact id")
    .option("--json", "print the raw JSON result")
    .action(async (slug: string, version: string, opts: { json?: boolean }, cmd: Command) => {
      const target = /^\d+$/.test(version) ? { version: Number(version) } : { artifactId: version };
      const result = await (await deps.client(cmd)).authors.rollback({ slug, ...target });
      if (opts.json) return out(`${JSON.stringify(result)}\n`);
      out(`${slug} now runs version ${result.version} (artifact ${result.spell.artifactId})\n`);
    });

  program
    .command("unpublish")
    .description("Make a spell you own unrunnable (history and records kept); --enable undoes it")
    .argument("<slug>")
    .option("--enable", "enable the spell again")
    .action(async (slug: string, opts: { enable?: boolean }, cmd: Command) => {
      const result = await (await deps.client(cmd)).authors.disable(slug, !opts.enable);
      out(`${slug} is ${result.spell.disabled ? "unpublished" : "published"}\n`);
    });

  program
    .command("logs")
    .description("The runs of a spell you own, newest first; --follow polls for new ones")
    .argument("<slug>")
    .option("--status <status>", "running, pending_payment, succeeded or failed")
    .option("--since <iso>", "runs created at or after")
    .option("--limit <n>", "how many (default 20)", "20")
    .option("--run <executionId>", "one run's log (the guest's stderr) and outcome")
    .option("--follow", "keep polling every --interval seconds")
    .option("--interval <seconds>", "poll interval for --follow", "2")
    .option("--json", "JSON lines")
    .action(
      async (
        slug: string,
        opts: {
          status?: string;
          since?: string;
          limit: string;
          run?: string;
          follow?: boolean;
          interval: string;
          json?: boolean;
        },
        cmd: Command,
      ) => {
        const client = await deps.client(cmd);
        if (opts.run) {
          const { run } = await client.authors.runLog(opts.run);
          if (opts.json) return out(`${JSON.stringify(run)}\n`);
          out(
            `${run.executionId} ${run.status}${run.errorCode ? ` ${run.errorCode}` : ""}${run.upstreamStatus ? ` upstream ${run.upstreamStatus}` : ""}\n`,
          );
          if (run.error) out(`error: ${run.error.message}\n`);
          out(run.log ? `${run.log}${run.log.endsWith("\n") ? "" : "\n"}` : "(no log)\n");
          return;
        }
        const status = opts.status as "running" | "pending_payment" | "succeeded" | "failed" | undefined;
        const query = { slug, limit: Number(opts.limit), ...(status ? { status } : {}) };
        let since = opts.since;
        const seen = new Set<string>();
        for (;;) {
          const result = await client.authors.runs({ ...query, ...(since ? { from: since } : {}) });
          const fresh = {
            ...result,
            runs: result.runs.filter((run) => !seen.has(run.executionId)).reverse(),
          };
          for (const run of fresh.runs) seen.add(run.executionId);
          if (opts.json) for (const run of fresh.runs) out(`${JSON.stringify(run)}\n`);
          else if (fresh.runs.length > 0 || !opts.follow) {
            out(
              `${table([["created", "spell", "status", "error", "duration", "cost", "caller", "execution"], ...runsLines(fresh)])}\n`,
            );
          }
          if (!opts.follow) return;
          since = fresh.runs[fresh.runs.length - 1]?.createdAt ?? since;
          await new Promise((resolve) => setTimeout(resolve, Number(opts.interval) * 1000));
        }
      },
    );

  program
    .command("stats")
    .description("Runs and revenue of a spell you own, per day or month")
    .argument("<slug>")
    .addOption(new Option("--period <p>", "bucket size").choices(["day", "month"]).default("day"))
    .option("--since <iso>", "from")
    .option("--json", "print the raw JSON result")
    .action(
      async (
        slug: string,
        opts: { period: "day" | "month"; since?: string; json?: boolean },
        cmd: Command,
      ) => {
        const result = await (await deps.client(cmd)).authors.stats({
          slug,
          period: opts.period,
          ...(opts.since ? { from: opts.since } : {}),
        });
        if (opts.json) return out(`${JSON.stringify(result)}\n`);
        const rows = result.buckets.map((b) => [
          b.periodStart.slice(0, opts.period === "day" ? 10 : 7),
          String(b.runs),
          String(b.succeeded),
          String(b.failed),
          b.revenue.map((price) => formatPrice(price)).join(", ") || "-",
        ]);
        out(`${table([["period", "runs", "ok", "failed", "revenue"], ...rows])}\n`);
      },
    );
}
