/**
 * infra/compose.yaml as docker compose sees it: YAML with merge keys, `${VAR}`, `${VAR:-default}` and
 * `${VAR:?message}` interpolated from an env file (infra/.env.example here). Used by the tests and by
 * build.sh, which starts each image with the environment compose gives it.
 *   node --import tsx infra/test/compose.ts SERVICE [ENV_FILE]   → KEY=VALUE lines
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

export const INFRA_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const COMPOSE_FILE = resolve(INFRA_DIR, "compose.yaml");
export const ENV_EXAMPLE = resolve(INFRA_DIR, ".env.example");

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string; target?: string };
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  healthcheck?: { test: string[] };
  profiles?: string[];
  deploy?: { replicas?: string | number; resources?: { reservations?: { devices?: unknown[] } } };
  [key: string]: unknown;
}

/** KEY=VALUE lines (comments and blanks skipped), as compose reads an env file. */
export function readEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.trim();
  }
  return out;
}

/** The names compose.yaml interpolates, each with whether it has a default. */
export function interpolated(text: string): Map<string, { hasDefault: boolean }> {
  const names = new Map<string, { hasDefault: boolean }>();
  for (const m of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?][^}]*)?\}/g))
    names.set(m[1]!, { hasDefault: (names.get(m[1]!)?.hasDefault ?? false) || m[2]?.includes("-") === true });
  return names;
}

export function interpolate(text: string, vars: Record<string, string>): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g,
    (_, name, colon, kind, arg) => {
      const value = vars[name];
      const unset = value === undefined || (colon === ":" && value === "");
      if (!unset) return value;
      if (kind === "-") return arg;
      if (kind === "?") throw new Error(`compose: ${name}: ${arg || "required"}`);
      return "";
    },
  );
}

export function loadCompose(envFile = ENV_EXAMPLE): {
  services: Record<string, ComposeService>;
  [k: string]: unknown;
} {
  const text = interpolate(readFileSync(COMPOSE_FILE, "utf8"), readEnvFile(envFile));
  return parse(text, { merge: true });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [service, envFile] = process.argv.slice(2);
  const s = loadCompose(envFile ? resolve(envFile) : ENV_EXAMPLE).services[service ?? ""];
  if (!s) {
    console.error(`compose.ts: no service ${JSON.stringify(service)} in ${COMPOSE_FILE}`);
    process.exit(2);
  }
  for (const [k, v] of Object.entries(s.environment ?? {})) process.stdout.write(`${k}=${v}\n`);
}
