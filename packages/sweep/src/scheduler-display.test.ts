import { type Job, JobKind, JobResult, JobSpec, jobId } from "@unlearn/protocol";
import { describe, expect, it } from "vitest";
import type { SweepLink } from "./planner.ts";
import type { RunEvent } from "./scheduler.ts";
import { formatDuration, progressDisplay } from "./scheduler-display.ts";
import { jobName, jobNames, ProgressTracker, SmoothedRate } from "./scheduler-progress.ts";

function job(kind: JobKind, steps: number, extra: Partial<JobSpec> = {}): Job {
  const spec = JobSpec.fromPartial({ kind, dataset: "d", steps, chains: 2, sigma: 0.03, ...extra });
  return { id: jobId(spec), spec, sweepId: "s", attempt: 0, engine: "reference", device: "cpu" };
}

const learn = job(JobKind.JOB_KIND_LEARN, 1000);
const unlearn = job(JobKind.JOB_KIND_UNLEARN, 400, { removals: 100, parentId: learn.id });
const retrain = job(JobKind.JOB_KIND_RETRAIN, 1000, { removals: 100 });
const jobs = [learn, unlearn, retrain];
const links: SweepLink[] = [
  { jobId: unlearn.id, figure: "fig5", series: "unlearning ε=1", labels: { epsilon: 1, K: 400 } },
];

/** A clock the test moves. */
function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe("job names", () => {
  it("names a job by kind and what tells it apart in its figure", () => {
    expect(jobName(learn)).toBe("learn 1000 steps");
    expect(jobName(unlearn, links)).toBe("unlearn S=100 ε=1 K=400");
    expect(jobName(retrain)).toBe("retrain S=100 1000 steps");
    const names = jobNames(
      [...jobs, job(JobKind.JOB_KIND_RETRAIN, 1000, { removals: 100, sigma: 0.5 })],
      links,
    );
    // σ appears once a plan has more than one.
    expect(names.get(retrain.id)).toBe("retrain S=100 σ=0.03 1000 steps");
  });
});

describe("ProgressTracker", () => {
  it("smooths the rate, keeps the ETA above zero while steps remain, and counts the critical path", () => {
    const c = clock();
    const big = job(JobKind.JOB_KIND_LEARN, 10_000);
    const child = job(JobKind.JOB_KIND_UNLEARN, 400, { removals: 100, parentId: big.id });
    const other = job(JobKind.JOB_KIND_RETRAIN, 10_000, { removals: 100 });
    const all = [big, child, other];
    const t = new ProgressTracker("s", all, new Set(all.map((j) => j.id)), jobNames(all, []), 0, c.now);
    t.started(big);
    t.started(other);
    expect(t.snapshot().etaSeconds).toBeNull();
    // 2 jobs at 100 steps/s each for 60 s.
    for (let s = 1; s <= 60; s++) {
      c.advance(1000);
      t.progress(big.id, 100 * s);
      t.progress(other.id, 100 * s);
      t.snapshot();
    }
    const a = t.snapshot();
    expect(a.stepsPerSecond).toBeCloseTo(200, 5);
    // Remaining: the learn's 4000 + its child's 400 at one job's 100 steps/s = 44 s, more than all
    // 8400 remaining steps at 200/s = 42 s.
    expect(a.etaSeconds).toBeCloseTo(44, 5);
    expect(a.jobs).toEqual([
      { id: big.id, name: "learn 10000 steps", stepsDone: 6000, stepsTotal: 10_000 },
      { id: other.id, name: "retrain S=100 10000 steps", stepsDone: 6000, stepsTotal: 10_000 },
    ]);
    // The machine gets 4× slower for one second: the smoothed rate moves a little, not to a quarter.
    c.advance(1000);
    t.progress(big.id, 6025);
    t.progress(other.id, 6025);
    expect(t.snapshot().stepsPerSecond).toBeGreaterThan(190);
    expect(t.snapshot().stepsPerSecond).toBeLessThan(199);
    c.advance(1000);
    t.finished(other, true);
    t.finished(big, true);
    t.started(child);
    // The unlearning job has just started: its 400 steps remain, so the ETA is not 0.
    expect(t.snapshot().etaSeconds).toBeGreaterThan(1);
    expect(t.snapshot()).toMatchObject({ done: 2, running: 1, failed: 0 });
  });

  it("SmoothedRate ignores samples closer than its span", () => {
    const r = new SmoothedRate(30_000, 1000);
    r.sample(0, 0);
    r.sample(500, 1000);
    expect(r.value).toBeNull();
    r.sample(1000, 100);
    expect(r.value).toBeCloseTo(100, 5);
    // Early on, the plain average since the first sample: 100 then 300 steps/s over 1 s each → 200.
    r.sample(2000, 400);
    expect(r.value).toBeCloseTo((100 * Math.exp(-1 / 30) + 300) / (Math.exp(-1 / 30) + 1), 5);
  });
});

function sink(isTTY: boolean) {
  let text = "";
  return { stream: { isTTY, columns: 80, write: (s: string) => (text += s) }, text: () => text };
}

const progress = (done: number, running: { job: Job; steps: number }[]): RunEvent => ({
  type: "progress",
  progress: {
    sweepId: "s",
    total: 3,
    done,
    reused: 0,
    failed: 0,
    running: running.length,
    stepsPerSecond: 250,
    etaSeconds: 65,
    jobs: running.map(({ job: j, steps }) => ({
      id: j.id,
      name: jobNames(jobs, links).get(j.id)!,
      stepsDone: steps,
      stepsTotal: j.spec!.steps,
    })),
  },
});
const ok = (j: Job): RunEvent => ({
  type: "result",
  job: j,
  name: jobNames(jobs, links).get(j.id),
  result: JobResult.fromPartial({ jobId: j.id, ok: true, wallMs: 4200 }),
});

describe("progressDisplay", () => {
  it("in a log: a line per job start and end, and the running jobs now and then", () => {
    const c = clock();
    const out = sink(false);
    const d = progressDisplay(out.stream, { logEveryMs: 30_000, now: c.now });
    d.event(progress(0, [{ job: learn, steps: 0 }]));
    d.event({ type: "started", job: learn, name: "learn 1000 steps" });
    c.advance(10_000);
    d.event(progress(0, [{ job: learn, steps: 300 }]));
    c.advance(25_000);
    d.event(progress(0, [{ job: learn, steps: 900 }]));
    d.event(progress(1, []));
    d.event(ok(learn));
    d.end();
    expect(out.text()).toBe(
      [
        "started  learn 1000 steps  (0/3 jobs (0 reused, 0 failed, 1 running)  250 steps/s  ETA 1m05s)",
        "0/3 jobs (0 reused, 0 failed, 1 running)  250 steps/s  ETA 1m05s",
        "  learn 1000 steps  [#########-]  900/1000",
        "finished learn 1000 steps in 4s  1/3 jobs (0 reused, 0 failed, 0 running)  250 steps/s  ETA 1m05s",
        "",
      ].join("\n"),
    );
  });

  it("on a terminal: one block redrawn in place with a line per running job, cleared at the end", () => {
    const out = sink(true);
    const d = progressDisplay(out.stream);
    d.event(progress(0, [{ job: learn, steps: 100 }]));
    d.event(
      progress(1, [
        { job: unlearn, steps: 40 },
        { job: retrain, steps: 0 },
      ]),
    );
    d.event({
      type: "skipped",
      job: unlearn,
      name: "unlearn S=100 ε=1 K=400",
      reason: "not run: parent failed",
    });
    d.end();
    const text = out.text();
    expect(text).toContain("  learn 1000 steps  [#---------]  100/1000");
    expect(text).toContain("  unlearn S=100 ε=1 K=400   [#---------]  40/400");
    expect(text).toContain("job unlearn S=100 ε=1 K=400 not run: parent failed\n");
    // Each redraw moves up over the block drawn before (3 lines: the summary and two jobs).
    expect(text).toContain("\r\x1b[2A\x1b[J");
    expect(text.endsWith("\r\x1b[2A\x1b[J")).toBe(true);
    expect(text.match(/1\/3 jobs/g)).toHaveLength(2);
  });

  it("formats durations", () => {
    expect([59.4, 245, 7380].map(formatDuration)).toEqual(["59s", "4m05s", "2h03m"]);
  });
});
