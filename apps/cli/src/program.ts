import { readFile } from "node:fs/promises";
import {
  type AsyncExecuteOptions,
  createSpellClient,
  type ExecuteOptions,
  isExecuteAccepted,
  isSpellError,
  type SpellClient,
} from "@spell/sdk";
import { Command, CommanderError, Option } from "commander";
import { addAuthorCommands } from "./authors.ts";
import { addBillingCommands, describeAccount } from "./billing.ts";
import { paintFor } from "./color.ts";
import { completionScript, SHELLS, type Shell } from "./completion.ts";
import { readConfig, resolveConnection, updateConfig, writeConfig } from "./config.ts";
import { type CliContext, CliError, EXIT, ReportedExit } from "./context.ts";
import { mintDevToken, peekClaims } from "./dev.ts";
import { addRunsCommands, MAX_WAIT_SECONDS, parseSeconds, printAccepted } from "./executions.ts";
import { attachFiles, extractOutputs, type FieldPath, parseFieldPath, parseInput } from "./files.ts";
import { parseAmount, parseJsonObject } from "./flags.ts";
import { describeError, errorJson, formatPrice, pretty, table } from "./format.ts";
import { resolveUserPath } from "./paths.ts";
import { startSpinner } from "./spinner.ts";
import { CLI_VERSION } from "./version.ts";

const collect = (flag: string) => (value: string, previous: FieldPath[]) => [
  ...previous,
  parseFieldPath(flag, value),
];

function expiry(token: string): string {
  const { sub, exp } = peekClaims(token);
  const who = sub ? ` as ${sub}` : "";
  const until = exp ? ` (expires ${new Date(exp * 1000).toISOString()})` : "";
  return `${who}${until}`;
}

/** The `spell` command tree, writing through `ctx` so tests can run it in-process. */
export function buildProgram(ctx: CliContext): Command {
  const out = (text: string) => ctx.stdout(text);
  const err = (text: string) => ctx.stderr(text);

  const program = new Command("spell")
    .description("Run Spell spells from the command line")
    .version(CLI_VERSION, "-V, --version", "print the CLI's version")
    .option(
      "--api-url <url>",
      "the Spell API (default: $SPELL_API_URL, the saved one, or http://127.0.0.1:8787)",
    )
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: err })
    .showHelpAfterError("(run spell --help for usage)");

  async function client(cmd: Command): Promise<SpellClient> {
    const { apiUrl } = cmd.optsWithGlobals<{ apiUrl?: string }>();
    const connection = await resolveConnection(ctx, apiUrl);
    return createSpellClient({
      baseUrl: connection.apiUrl,
      ...(connection.token ? { token: connection.token } : {}),
      ...(ctx.fetch ? { fetch: ctx.fetch } : {}),
    });
  }

  program
    .command("exec")
    .description("Run a spell and print its output")
    .argument("<slug>", "the spell, e.g. echo@v1")
    .option("-i, --input <json>", "the input: a JSON object, @file.json, or @- for standard input")
    .option(
      "-f, --file <field=path>",
      "put a file's base64 into input.<field> (repeatable)",
      collect("--file"),
      [],
    )
    .option(
      "-o, --out <field=path>",
      "write base64 output.<field> decoded to a file (repeatable)",
      collect("--out"),
      [],
    )
    .option("-k, --idempotency-key <key>", "a repeat with the same key returns the first result")
    .option("--async", "queue the run and print its execution id at once (follow it: spell runs wait <id>)")
    .option(
      "--wait <seconds>",
      `wait up to ${MAX_WAIT_SECONDS}s for the result, else print the execution id (exit ${EXIT.pending})`,
    )
    .option("--cancel-after <seconds>", "with --async or --wait: abort the run if it has not started by then")
    .option("--json", "print the raw JSON result")
    .action(async (slug: string, opts, cmd: Command) => {
      const {
        input,
        file,
        out: outs,
        idempotencyKey,
        json,
        async: respondAsync,
        wait,
        cancelAfter,
      } = opts as {
        input?: string;
        file: FieldPath[];
        out: FieldPath[];
        idempotencyKey?: string;
        json?: boolean;
        async?: boolean;
        wait?: string;
        cancelAfter?: string;
      };
      const options = executeOptions({ idempotencyKey, respondAsync, wait, cancelAfter });
      const body = await attachFiles(ctx, await parseInput(ctx, input), file);
      const spell = await client(cmd);
      const spinner = startSpinner(ctx, `running ${slug}…`, {
        quiet: json === true || respondAsync === true,
      });
      const answer = await ("wait" in options || "respondAsync" in options
        ? spell.execute(slug, body, options as AsyncExecuteOptions)
        : spell.execute(slug, body, options)
      ).finally(() => spinner.stop());
      if (isExecuteAccepted(answer)) {
        printAccepted(ctx, answer, json === true);
        // --async asked for exactly this; a --wait that ran out did not get its result.
        if (respondAsync !== true) throw new ReportedExit(EXIT.pending);
        return;
      }
      const result = answer;
      const { rest, written } = await extractOutputs(ctx, result.output, outs);
      if (json) {
        out(`${JSON.stringify({ ...result, output: rest })}\n`);
        return;
      }
      out(pretty(rest));
      for (const file of written) err(`wrote output.${file.field} to ${file.path} (${file.bytes} bytes)\n`);
      const charge = result.billing.charged
        ? `charged ${formatPrice(result.billing)} (${result.billing.billingRecordId ?? "no record"})`
        : "not charged";
      err(
        `${result.spell.slug} · ${result.spell.runtime} · ${result.durationMs} ms · ${charge} · ${result.executionId}\n`,
      );
    });

  program
    .command("estimate")
    .description("What running a spell would cost you, without running it")
    .argument("<slug>")
    .option("--json", "print the raw JSON result")
    .action(async (slug: string, opts: { json?: boolean }, cmd: Command) => {
      const result = await (await client(cmd)).estimate(slug);
      if (opts.json) return out(`${JSON.stringify(result)}\n`);
      out(
        table([
          ["spell", `${result.spell.slug} (${result.spell.runtime}, ${result.spell.visibility})`],
          ["price", formatPrice(result.price)],
          [
            "payment method",
            result.paymentMethodRequired
              ? result.paymentMethodOnFile
                ? "on file"
                : "required, none on file"
              : "not needed",
          ],
        ]),
      );
    });

  program
    .command("ls")
    .description("The spells you may run")
    .option("--json", "print the raw JSON result")
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const result = await (await client(cmd)).listSpells();
      if (opts.json) return out(`${JSON.stringify(result)}\n`);
      if (result.spells.length === 0) return out("no spells\n");
      out(
        table([
          ["SLUG", "RUNTIME", "VISIBILITY", "PRICE", "DESCRIPTION"],
          ...result.spells.map((s) => [
            s.slug,
            s.runtime,
            s.visibility,
            formatPrice(s.price),
            s.description ?? "",
          ]),
        ]),
      );
    });

  program
    .command("me")
    .description("Who you are, your status and recent usage")
    .option("--json", "print the raw JSON result")
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const result = await (await client(cmd)).me();
      if (opts.json) return out(`${JSON.stringify(result)}\n`);
      const { user, usage } = result;
      const charged = usage.totalCharged.map(formatPrice).join(", ") || "nothing";
      out(
        table([
          ["user", `${user.id} (${user.status})`],
          ["payment method", user.hasPaymentMethod ? "on file" : "none"],
          ["since", user.createdAt],
          ["executions", String(usage.totalExecutions)],
          ["charged", charged],
        ]),
      );
      if (result.prepaid)
        out(
          `\nprepaid:\n${describeAccount(result.prepaid.account)
            .map((line) => `  ${line}`)
            .join("\n")}\n`,
        );
      if (usage.recent.length > 0) {
        out("\nrecent:\n");
        out(
          table(
            usage.recent.map((e) => [
              `  ${e.createdAt}`,
              e.slug,
              e.errorCode ? `${e.status} (${e.errorCode})` : e.status,
              e.durationMs === null ? "-" : `${e.durationMs} ms`,
              formatPrice(e),
            ]),
          ),
        );
      }
    });

  addRunsCommands(program, ctx, { client });

  const admin = program
    .command("admin")
    .description("Administration (needs a token with the spell:admin scope)");

  admin
    .command("ban")
    .argument("<userId>")
    .requiredOption("-r, --reason <reason>", "why, recorded with the ban")
    .action(async (userId: string, opts: { reason: string }, cmd: Command) => {
      const result = await (await client(cmd)).admin.ban(userId, opts.reason);
      out(`${result.userId} is ${result.status}\n`);
    });

  admin
    .command("unban")
    .argument("<userId>")
    .action(async (userId: string, _opts: unknown, cmd: Command) => {
      const result = await (await client(cmd)).admin.unban(userId);
      out(`${result.userId} is ${result.status}\n`);
    });

  admin
    .command("publish")
    .description("Create a spell or replace its artifact")
    .requiredOption("--slug <slug>", "name@vN")
    .addOption(
      new Option("--runtime <kind>", "the artifact's runtime")
        .choices(["builtin", "api", "wasm"])
        .makeOptionMandatory(),
    )
    .option("--builtin <name>", "the builtin to run (runtime builtin)")
    .option("--api-endpoint <url>", "the upstream URL (runtime api)")
    .option("--wasm <file>", "a WASI preview1 module (runtime wasm)")
    // No defaults: a republish changes only what is given (a new spell gets the server's: free,
    // usd, public), so leaving a flag out never resets a spell's price or visibility.
    .option("--price <amount>", "price per run in minor units (a new spell: 0)")
    .option("--currency <code>", "ISO 4217, lowercase (a new spell: usd)")
    .addOption(
      new Option("--visibility <v>", "who may run it (a new spell: public)").choices([
        "public",
        "team",
        "private",
      ]),
    )
    .option("--team <teamId>", "the team, for team visibility")
    .option("--owner <userId>", "the spell's creator (default: you)")
    .option("--config <json>", "runtime config, a JSON object")
    .option("--metadata <json>", "metadata, a JSON object (description, inputSchema)")
    .option("--json", "print the raw JSON result")
    .action(async (opts: Record<string, string | boolean | undefined>, cmd: Command) => {
      const runtime = opts.runtime as "builtin" | "api" | "wasm";
      const given = (["builtin", "apiEndpoint", "wasm"] as const).filter((k) => opts[k] !== undefined);
      const expected = runtime === "api" ? "apiEndpoint" : runtime;
      if (given.length !== 1 || given[0] !== expected) {
        const flag = { builtin: "--builtin <name>", api: "--api-endpoint <url>", wasm: "--wasm <file>" }[
          runtime
        ];
        throw new CliError("USAGE", `--runtime ${runtime} takes exactly one artifact flag: ${flag}`);
      }
      const artifact =
        runtime === "builtin"
          ? { builtin: String(opts.builtin) }
          : runtime === "api"
            ? { apiEndpoint: String(opts.apiEndpoint) }
            : { wasmBase64: await readWasm(String(opts.wasm)) };
      const config = parseJsonObject("--config", opts.config as string | undefined);
      const metadata = parseJsonObject("--metadata", opts.metadata as string | undefined);
      const result = await (await client(cmd)).admin.publish({
        slug: String(opts.slug),
        runtime,
        artifact,
        ...(opts.price !== undefined ? { priceAmount: parseAmount(String(opts.price)) } : {}),
        ...(opts.currency !== undefined ? { currency: String(opts.currency) } : {}),
        ...(opts.visibility !== undefined
          ? { visibility: opts.visibility as "public" | "team" | "private" }
          : {}),
        ...(opts.team ? { teamId: String(opts.team) } : {}),
        ...(opts.owner ? { ownerId: String(opts.owner) } : {}),
        ...(config ? { config } : {}),
        ...(metadata ? { metadata } : {}),
      });
      if (opts.json) return out(`${JSON.stringify(result)}\n`);
      const { spell } = result;
      out(
        `published ${spell.slug} (${spell.runtime}, ${spell.visibility}${spell.teamId ? ` ${spell.teamId}` : ""}, ${formatPrice(spell.price)}) artifact ${spell.artifactId}\n`,
      );
      if (result.signingSecret)
        out(`signing secret (shown once, give it to the upstream): ${result.signingSecret}\n`);
    });

  async function readWasm(path: string): Promise<string> {
    const resolved = resolveUserPath(ctx, path);
    try {
      return (await readFile(resolved)).toString("base64");
    } catch (error) {
      throw new CliError(
        "FILE_UNREADABLE",
        `cannot read ${resolved}: ${(error as NodeJS.ErrnoException).code}`,
      );
    }
  }

  admin
    .command("team")
    .description("Add or remove a team member")
    .addArgument(new Command().createArgument("<action>", "add or remove").choices(["add", "remove"]))
    .argument("<teamId>")
    .argument("<userId>")
    .action(
      async (action: "add" | "remove", teamId: string, userId: string, _opts: unknown, cmd: Command) => {
        const result = await (await client(cmd)).admin.teamMembers({ teamId, userId, action });
        out(`${result.userId} is ${result.member ? "a member" : "not a member"} of team ${result.teamId}\n`);
      },
    );

  addAuthorCommands(program, ctx, { client });

  addBillingCommands(program, ctx, {
    client,
    connection: (cmd) => resolveConnection(ctx, cmd.optsWithGlobals<{ apiUrl?: string }>().apiUrl),
  });

  program
    .command("login")
    .description("Save a token (and optionally the API URL) for the next commands")
    .option("--token <jwt>", "a bearer JWT from your identity provider")
    .option("--dev", "mint a token with the local server's dev issuer (quick start only)")
    .option("--sub <userId>", "with --dev: the user id", "local-user")
    .option("--admin", "with --dev: add the spell:admin scope")
    .option("--data-dir <dir>", "with --dev: the server's data dir (default: $SPELL_DATA_DIR or .spell/)")
    .action(async (opts: LoginOptions, cmd: Command) => {
      if (Boolean(opts.token) === Boolean(opts.dev)) {
        throw new CliError("USAGE", "give either --token <jwt> or --dev");
      }
      const token = opts.token ?? (await mintDevToken(ctx, devOptions(opts)));
      const { apiUrl } = cmd.optsWithGlobals<{ apiUrl?: string }>();
      if (opts.dev) await probeDevToken(cmd, token);
      const path = await updateConfig(ctx, { token, ...(apiUrl ? { apiUrl } : {}) });
      out(`logged in${expiry(token)}; token saved to ${path}\n`);
      if (ctx.env.SPELL_TOKEN) err("note: SPELL_TOKEN is set and takes precedence over the saved token\n");
    });

  /**
   * A dev token is only worth saving where the server trusts the dev issuer: a production server
   * (or one with another data dir) would refuse it, and saving it would replace a working token.
   */
  async function probeDevToken(cmd: Command, token: string): Promise<void> {
    const { apiUrl } = await resolveConnection(ctx, cmd.optsWithGlobals<{ apiUrl?: string }>().apiUrl);
    const probe = createSpellClient({ baseUrl: apiUrl, token, ...(ctx.fetch ? { fetch: ctx.fetch } : {}) });
    try {
      await probe.me();
    } catch (error) {
      if (isSpellError(error) && error.code === "UNAUTHORIZED")
        throw new CliError(
          "DEV_ISSUER_NOT_TRUSTED",
          `${apiUrl} does not trust this dev token (${String(error.details.reason ?? "unauthorized")}); the saved token is unchanged. Use spell login --token <JWT> for this server`,
          EXIT.auth,
        );
      throw error;
    }
  }

  program
    .command("logout")
    .description("Forget the saved token (the saved API URL is kept)")
    .action(async () => {
      const { token, ...rest } = await readConfig(ctx);
      if (token === undefined) out("not logged in\n");
      else out(`logged out; token removed from ${await writeConfig(ctx, rest)}\n`);
      if (ctx.env.SPELL_TOKEN)
        err("note: SPELL_TOKEN is still set in your environment and is used instead\n");
    });

  program
    .command("completion")
    .description("Print a shell completion script (bash, zsh or fish)")
    .addArgument(new Command().createArgument("<shell>", "bash, zsh or fish").choices(SHELLS))
    .addHelpText(
      "after",
      "\nInstall:\n  bash  source <(spell completion bash)        # in ~/.bashrc\n  zsh   source <(spell completion zsh)         # in ~/.zshrc, after compinit\n  fish  spell completion fish > ~/.config/fish/completions/spell.fish",
    )
    .action((shell: Shell) => {
      out(completionScript(program, shell));
    });

  program
    .command("token")
    .description("Print a token: the one in use, or with --dev a fresh one (for curl)")
    .option("--dev", "mint a token with the local server's dev issuer")
    .option("--sub <userId>", "with --dev: the user id", "local-user")
    .option("--admin", "with --dev: add the spell:admin scope")
    .option("--data-dir <dir>", "with --dev: the server's data dir")
    .action(async (opts: LoginOptions) => {
      if (opts.dev) return out(`${await mintDevToken(ctx, devOptions(opts))}\n`);
      const { token } = await resolveConnection(ctx);
      if (!token) throw new CliError("NO_TOKEN", "no token: run spell login first, or pass --dev", EXIT.auth);
      out(`${token}\n`);
    });

  return program;
}

interface LoginOptions {
  token?: string;
  dev?: boolean;
  sub: string;
  admin?: boolean;
  dataDir?: string;
}

function devOptions(opts: LoginOptions) {
  return { sub: opts.sub, admin: Boolean(opts.admin), ...(opts.dataDir ? { dataDir: opts.dataDir } : {}) };
}

/** `spell exec`'s flags as the SDK's options: `--async` / `--wait` / `--cancel-after` set the headers. */
function executeOptions(flags: {
  idempotencyKey: string | undefined;
  respondAsync: boolean | undefined;
  wait: string | undefined;
  cancelAfter: string | undefined;
}): ExecuteOptions | AsyncExecuteOptions {
  const base = flags.idempotencyKey ? { idempotencyKey: flags.idempotencyKey } : {};
  if (flags.respondAsync && flags.wait !== undefined)
    throw new CliError("USAGE", "give either --async or --wait <seconds>, not both");
  const cancelAfter =
    flags.cancelAfter === undefined ? {} : { cancelAfter: parseSeconds("--cancel-after", flags.cancelAfter) };
  if (flags.respondAsync) return { ...base, ...cancelAfter, respondAsync: true };
  if (flags.wait !== undefined)
    return { ...base, ...cancelAfter, wait: parseSeconds("--wait", flags.wait, MAX_WAIT_SECONDS) };
  if (flags.cancelAfter !== undefined)
    throw new CliError(
      "USAGE",
      "--cancel-after applies to an asynchronous run: add --async or --wait <seconds>",
    );
  return base;
}

/** `--json` among the options (not after `--`), for failures before any command's action runs. */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf("--");
  return (end === -1 ? argv : argv.slice(0, end)).includes("--json");
}

/**
 * Runs `spell <argv>` and returns the exit code; never throws. With `--json` a failure is the
 * unified error body on standard output (scripts read one stream), with the same exit code.
 */
export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const program = buildProgram(ctx);
  let json = wantsJson(argv);
  program.hook("preAction", (_program, action) => {
    json = action.opts<{ json?: boolean }>().json === true;
  });
  try {
    await program.parseAsync(argv, { from: "user" });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has already printed its message (or the help) through configureOutput.
      if (error.exitCode === 0) return EXIT.ok;
      if (json) {
        const message = error.message.replace(/^error: /, "");
        ctx.stdout(
          `${JSON.stringify({ ok: false, error: { code: "USAGE", message, details: { reason: error.code } } })}\n`,
        );
      }
      return EXIT.usage;
    }
    if (error instanceof ReportedExit) return error.exitCode;
    const { text, exitCode } = describeError(error, paintFor(ctx, "stderr"));
    if (json) ctx.stdout(`${JSON.stringify(errorJson(error))}\n`);
    else ctx.stderr(text);
    return exitCode;
  }
}
