import { defineConfig } from "drizzle-kit";

// `drizzle-kit generate` writes SQL migrations from src/schema.ts into ./drizzle; both drivers run them.
export default defineConfig({
  dialect: "postgresql",
  schema: "./src/schema.ts",
  out: "./drizzle",
});
