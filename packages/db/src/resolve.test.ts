import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { DB_HELP, defaultLocation, resolveDb } from "./index.ts";

describe("resolveDb: one rule for every command", () => {
  const env = { UNLEARN_DB: "/u/db", DATABASE_URL: "postgres://h/d" };

  it("takes --db, then UNLEARN_DB, then DATABASE_URL, then .unlearn/db", () => {
    expect(resolveDb("mine", env)).toEqual({ location: resolve("mine"), source: "--db" });
    expect(resolveDb(undefined, env)).toEqual({ location: "/u/db", source: "UNLEARN_DB" });
    expect(resolveDb(undefined, { DATABASE_URL: "postgres://h/d" })).toEqual({
      location: "postgres://h/d",
      source: "DATABASE_URL",
    });
    expect(resolveDb(undefined, {})).toEqual({ location: resolve(".unlearn/db"), source: "default" });
  });

  it("counts an empty value as not set, and keeps memory:// and URLs as given", () => {
    expect(resolveDb("  ", { UNLEARN_DB: "", DATABASE_URL: "memory://" })).toEqual({
      location: "memory://",
      source: "DATABASE_URL",
    });
    expect(resolveDb("postgresql://x/y", env).location).toBe("postgresql://x/y");
  });

  it("is what openStore() uses without a location, and what --help says", () => {
    expect(defaultLocation(env)).toBe("/u/db");
    expect(DB_HELP.replace(/\s+/g, " ")).toContain(
      "Without --db: $UNLEARN_DB, else $DATABASE_URL, else .unlearn/db under the working directory.",
    );
  });
});
