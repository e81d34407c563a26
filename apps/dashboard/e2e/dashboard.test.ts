/**
 * The dashboard end to end, in Debian's chromium: a small synthetic Figure 5 sweep runs (`pnpm sweep`,
 * embedded) while the dashboard shows it progressing without a reload, then done; every figure page has
 * its SVG with the expected series and axis titles; the explorer's CSV is `pnpm results --csv`'s; the
 * accountant gives the CLI's K; an unknown sweep is a 404; a dead database is an error page naming it.
 * Screenshots go to test-results/ (DASHBOARD_E2E_DB=postgres runs it on a fresh PostgreSQL database).
 */

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { openStore } from "@unlearn/db";
import { FIGURES, type FigureId } from "@unlearn/figures";
import { fixtureRows } from "@unlearn/figures/fixtures";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fuzz } from "../server/fuzz.ts";
import { launchChromium } from "./browser.ts";
import { APP_DIR, cli, type Running, startDashboard, startSweep, waitFor } from "./processes.ts";

const SHOTS = resolve(APP_DIR, "test-results");
const DATASET = "synthetic?n=2000&d=32&test=500&classes=2&seed=1";
const MODE = process.env.DASHBOARD_E2E_DB === "postgres" ? "postgres" : "pglite";

let tmp: string;
let db: string;
let pgName: string | null = null;
let sweep: Running;
let sweepId: string;
let dashboardUrl: string;
let browser: Browser;

/** A full-page screenshot, or with `height` the page's top (the README's images). */
async function shot(page: Page, name: string, height?: number): Promise<void> {
  const clip = height ? { x: 0, y: 0, width: page.viewportSize()!.width, height } : undefined;
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true, clip });
}

/** No horizontal scrolling: the page fits its viewport's width. */
async function fitsWidth(page: Page): Promise<void> {
  const { scroll, width } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    width: window.innerWidth,
  }));
  expect(scroll, `${page.url()} is ${scroll}px wide in a ${width}px window`).toBeLessThanOrEqual(width);
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  tmp = mkdtempSync(join(tmpdir(), "dashboard-e2e-"));
  if (MODE === "postgres") {
    pgName = `dashboard_e2e_${process.pid}_${Date.now()}`;
    execFileSync("psql", ["-h", "127.0.0.1", "-U", "postgres", "-c", `create database ${pgName}`]);
    db = `postgres://postgres@127.0.0.1:5432/${pgName}`;
  } else {
    db = join(tmp, "db");
  }
  // The four figures the small sweep does not make come from @unlearn/figures' fixture rows.
  const store = await openStore(db);
  try {
    const { seedFixtures } = await import("./seed.ts");
    await seedFixtures(store);
  } finally {
    await store.close();
  }
  // `pnpm sweep --dashboard`: the dashboard beside the sweep, reading the database through its share.
  sweep = startSweep(
    [
      "--config",
      "sweeps/fig5.json",
      "--dataset",
      DATASET,
      "--chains",
      "2",
      "--burn-in",
      "200",
      "--db",
      db,
      "--json",
      "--dashboard",
      // Unfused: the page must see the sweep running at several counts, and fused it ends in two batches.
    ],
    { UNLEARN_BATCH_COLUMNS: "1" },
  );
  sweepId = await waitFor("the sweep's id", () => /sweep ([0-9a-f]{16}):/.exec(sweep.output())?.[1], 120_000);
  dashboardUrl = await waitFor(
    "the dashboard's address",
    () => /dashboard: (http:\/\/\S+\/)/.exec(sweep.output())?.[1],
    180_000,
  );
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await sweep?.stop();
  if (pgName) {
    execFileSync("psql", [
      "-h",
      "127.0.0.1",
      "-U",
      "postgres",
      "-c",
      `drop database if exists ${pgName} with (force)`,
    ]);
  }
  rmSync(tmp, { recursive: true, force: true });
});

describe("the dashboard over a running sweep", () => {
  test("the sweeps list and the sweep page follow the sweep to its end without a reload", async () => {
    const list = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const detail = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await list.goto(dashboardUrl);
    await detail.goto(`${dashboardUrl}sweeps/${sweepId}`);
    // A marker on window survives only as long as the page is not reloaded.
    for (const page of [list, detail]) await page.evaluate(() => Object.assign(window, { e2eMarker: 1 }));
    const row = list.locator(`tr[data-sweep="${sweepId}"]`);
    const seen = new Set<string>();
    let shotWhileRunning = false;
    const deadline = Date.now() + 150_000;
    for (;;) {
      const done =
        (await row
          .locator("progress")
          .getAttribute("data-done")
          .catch(() => null)) ?? "";
      const state =
        (await row
          .locator("td.state")
          .textContent()
          .catch(() => null)) ?? "";
      seen.add(`${state}:${done}`);
      if (state === "running" && Number(done) > 0 && !shotWhileRunning) {
        shotWhileRunning = true;
        await shot(list, "sweeps-running");
        await shot(detail, "sweep-running");
        await shot(detail, "readme-sweep-running", 1000);
      }
      if (state === "done") break;
      if (Date.now() > deadline)
        throw new Error(`the sweep did not show as done; seen ${[...seen].join(", ")}`);
      await list.waitForTimeout(500);
    }
    // The sweep has ended (its JSON line is out) and keeps the dashboard up until it is stopped.
    await waitFor("the sweep's end", () => sweep.output().includes("the dashboard stays at"), 30_000);
    expect(
      JSON.parse(
        sweep
          .output()
          .split("\n")
          .find((l) => l.startsWith('{"sweep"'))!,
      ).state,
    ).toBe("done");
    const running = [...seen].filter((s) => s.startsWith("running:")).map((s) => Number(s.split(":")[1]));
    // Progress moved on the page itself: several distinct counts while it ran, then done.
    expect(new Set(running).size, `states seen: ${[...seen].join(", ")}`).toBeGreaterThanOrEqual(2);
    expect(await row.locator("progress").getAttribute("data-done")).toBe("25");
    expect(await row.locator("progress").getAttribute("data-total")).toBe("25");
    await detail.getByTestId("sweep-state").filter({ hasText: "done" }).waitFor({ timeout: 10_000 });
    for (const page of [list, detail]) expect(await page.evaluate(() => "e2eMarker" in window)).toBe(true);
    // The sweep page: every job done, with its worker and engine, and the figure with its series.
    await detail.locator('tr[data-state="done"]').nth(24).waitFor();
    expect(await detail.locator("tr[data-job]").count()).toBe(25);
    expect(await detail.locator("tr[data-job] td:nth-child(7)").first().textContent()).toBe("onnx");
    const legend = await detail.locator("figure.chart svg").first().textContent();
    for (const series of ["unlearning ε=0.5", "unlearning ε=1", "unlearning ε=2", "retraining"]) {
      expect(legend).toContain(series);
    }
    await shot(detail, "sweep-done");
    await list.close();
    await detail.close();
  });

  test("the figures page draws Figures 3a, 3b, 3c, 4 and 5 with their series and axis titles", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const response = await page.goto(`${dashboardUrl}figures`);
    expect(response?.status()).toBe(200);
    // The first HTML already holds the figures (server-side SVG), before any script runs.
    const html = await response!.text();
    expect((html.match(/<svg/g) ?? []).length).toBeGreaterThanOrEqual(5);
    const expected: [FigureId, string, string[]][] = [
      ...(["fig3a", "fig3b", "fig3c", "fig4"] as const).map((f): [FigureId, string, string[]] => [
        f,
        "mnist-3v8",
        [...new Set(fixtureRows[f].filter((r) => r.figure === f).map((r) => r.series))],
      ]),
      ["fig5", DATASET, ["unlearning ε=0.5", "unlearning ε=1", "unlearning ε=2", "retraining"]],
    ];
    for (const [figure, dataset, series] of expected) {
      const section = page.locator(`section[data-figure="${figure}"][data-dataset="${dataset}"]`);
      // Wait for the interactive chart (vega-embed) to replace the server's drawing.
      await section.locator('.plot[data-live="yes"] svg').first().waitFor({ timeout: 30_000 });
      const text = (await section.locator(".plot svg").first().textContent()) ?? "";
      for (const s of series) expect(text, `${figure} series`).toContain(s);
      expect(text, `${figure} x axis`).toContain(FIGURES[figure].x.title);
      for (const panel of FIGURES[figure].panels) expect(text, `${figure} y axis`).toContain(panel.title);
      const roles = await section
        .locator(".plot svg [aria-label]")
        .evaluateAll((els) => els.map((e) => e.getAttribute("aria-label") ?? ""));
      expect(
        roles.some((r) => /axis/i.test(r)),
        `${figure} axes are labelled for screen readers`,
      ).toBe(true);
    }
    await shot(page, "figures");
    await shot(page, "readme-figures", 1560);
    // Tooltips carry mean ± std: hover a point of Figure 5.
    const point = page
      .locator('section[data-figure="fig5"] .plot svg path[aria-roledescription="point"]')
      .first();
    await point.hover({ force: true });
    const tip = page.locator("#vg-tooltip-element");
    await tip.waitFor({ state: "visible", timeout: 5000 });
    const tipText = (await tip.textContent()) ?? "";
    expect(tipText).toContain("test accuracy (mean ± std)");
    expect(tipText).toMatch(/std[0-9.]+/);
    expect(tipText).toMatch(/chains2/);
    await page.close();
  });

  test("the results explorer filters and exports the CSV that `pnpm results --csv` prints", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    await page.goto(`${dashboardUrl}results`);
    await page.getByLabel("sweep").selectOption(sweepId);
    await page.getByRole("button", { name: "Apply filters" }).click();
    await page.waitForURL(/sweep=/);
    expect(await page.locator("tbody tr").count()).toBe(25);
    const expectedCsv = await cli(["results", "--db", db, "--sweep", sweepId, "--csv"]);
    const csvOf = async () => {
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.getByText("Export CSV").click(),
      ]);
      return readFileSync((await download.path())!, "utf8");
    };
    expect(await csvOf()).toBe(expectedCsv);
    // One more filter: S = 100 keeps exactly the CLI's rows with removals 100, in the same order.
    await page.getByLabel("S (removed)").selectOption("100");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await page.waitForURL(/S=100/);
    const [header, ...lines] = expectedCsv.trimEnd().split("\n");
    const removals = header.split(",").indexOf("removals");
    const kept = lines.filter((l) => l.split(",")[removals] === "100");
    expect(kept.length).toBeGreaterThan(0);
    expect(await page.locator("tbody tr").count()).toBe(kept.length);
    expect(await csvOf()).toBe(`${[header, ...kept].join("\n")}\n`);
    // Sorting by accuracy (descending) is a link, reachable by keyboard.
    await page.getByRole("link", { name: "accuracy" }).click();
    await page.getByRole("link", { name: "accuracy ▲" }).click();
    const means = await page.locator("tbody tr td:nth-child(11)").allTextContents();
    expect(means.map(Number)).toEqual([...means.map(Number)].sort((a, b) => b - a));
    await shot(page, "results");
    await page.close();
  });

  test("the accountant page gives the CLI's K for ε = 1, σ = 0.03, S = 100 on mnist-3v8", async () => {
    const fromCli = JSON.parse(
      await cli([
        "accountant",
        "k",
        "--dataset",
        "mnist-3v8",
        "--smoothness",
        "data",
        "--granularity",
        "1",
        "--epsilon",
        "1",
        "--sigma",
        "0.03",
        "--removals",
        "100",
        "--json",
      ]),
    ) as { K: number };
    expect(fromCli.K).toBe(1485);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${dashboardUrl}accountant?dataset=mnist-3v8&epsilon=2&sigma=0.03&S=100&granularity=1`);
    const before = await page.getByTestId("K").textContent();
    // Typing a new ε recomputes without a reload.
    await page.getByLabel("target ε").fill("1");
    await page
      .getByTestId("K")
      .filter({ hasText: String(fromCli.K) })
      .waitFor({ timeout: 30_000 });
    expect(before).not.toBe(String(fromCli.K));
    expect(await page.locator("figure.chart svg").first().textContent()).toContain("unlearning steps K");
    await shot(page, "accountant");
    await page.close();
  });

  test("an unknown sweep is a 404 page", async () => {
    const page = await browser.newPage();
    const response = await page.goto(`${dashboardUrl}sweeps/doesnotexist`);
    expect(response?.status()).toBe(404);
    expect(await page.locator("h1").textContent()).toBe("Not found");
    await page.close();
  });

  test("keyboard: the skip link and the navigation are reachable with Tab", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(dashboardUrl);
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
    const names: string[] = [];
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press("Tab");
      names.push((await page.evaluate(() => document.activeElement?.textContent)) ?? "");
    }
    expect(names).toEqual(["Sweeps", "Figures", "Results", "Accountant", "Workers"]);
    await page.keyboard.press("Enter");
    await page.waitForURL(/\/workers$/);
    expect(await page.locator("main").textContent()).toMatch(/worker threads/);
    await page.close();
  });

  test("no page breaks its layout at 1280×800 or 390×844", async () => {
    for (const viewport of [
      { width: 1280, height: 800 },
      { width: 390, height: 844 },
    ]) {
      const page = await browser.newPage({ viewport });
      for (const path of ["", "figures", `sweeps/${sweepId}`, "results", "accountant", "workers"]) {
        await page.goto(`${dashboardUrl}${path}`);
        await page.waitForLoadState("networkidle");
        await fitsWidth(page);
        if (viewport.width === 390 && (path === "" || path === "figures")) {
          await shot(page, `narrow-${path || "sweeps"}`);
        }
      }
      await page.close();
    }
  });
});

describe("pnpm sweep --dashboard", () => {
  test("Ctrl-C after the sweep stops the dashboard with it, and the sweep exits 0", async () => {
    process.kill(sweep.child.pid!, "SIGINT");
    expect(await sweep.exited).toBe(0);
    await expect(fetch(dashboardUrl)).rejects.toThrow();
  });
});

describe("a database that cannot be reached", () => {
  test("is an error page that names it and says why (behind DASHBOARD_TOKEN)", async () => {
    const url = "postgres://postgres@127.0.0.1:1/nowhere";
    // With DASHBOARD_TOKEN set (as in the cluster) every page needs the token first.
    const token = "e2e-token-0123456789";
    const broken = await startDashboard(["--db", url], { DASHBOARD_TOKEN: token });
    try {
      // The real server (Next behind the guard) answers malformed requests at once with a 4xx.
      const port = Number(new URL(broken.url).port);
      const answers = await fuzz(port, { count: 400, seed: 7, parallel: 8, limitMs: 1000, budgetMs: 30_000 });
      const bad = answers.filter((a) => !/^4\d\d$/.test(a.answer.status) || a.answer.ms >= 1000);
      expect(bad.slice(0, 3)).toEqual([]);
      expect(answers).toHaveLength(400);
      const page = await browser.newPage();
      // (chromium turns a basic-auth challenge into a navigation error: plain fetch sees the 401)
      expect((await fetch(broken.url)).status).toBe(401);
      await page.goto(`${broken.url}?token=${token}`);
      expect(new URL(page.url()).search).toBe("");
      const text = (await page.locator("main").textContent()) ?? "";
      expect(text).toContain("The database cannot be reached");
      expect(text).toContain("127.0.0.1:1/nowhere");
      expect(text).toMatch(/ECONNREFUSED|refused/i);
      await shot(page, "database-error");
      await page.close();
    } finally {
      await broken.stop();
    }
  });
});
