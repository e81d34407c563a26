CREATE TABLE "artifacts" (
	"key" text PRIMARY KEY NOT NULL,
	"bytes" "bytea" NOT NULL,
	"shape" integer[] NOT NULL,
	"dtype" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "events" (
	"id" serial PRIMARY KEY NOT NULL,
	"sweep_id" text NOT NULL,
	"job_id" text,
	"type" text NOT NULL,
	"payload" jsonb,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "jobs" (
	"id" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"spec" jsonb NOT NULL,
	"parent_id" text,
	"state" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "jobs_state_check" CHECK ("jobs"."state" in ('pending', 'running', 'done', 'failed'))
);
--> statement-breakpoint
CREATE TABLE "results" (
	"job_id" text PRIMARY KEY NOT NULL,
	"accuracies" real[] NOT NULL,
	"accuracy_mean" double precision NOT NULL,
	"accuracy_std" double precision NOT NULL,
	"steps_run" integer NOT NULL,
	"wall_ms" double precision NOT NULL,
	"ms_per_step" double precision NOT NULL,
	"engine" text NOT NULL,
	"worker" text NOT NULL,
	"artifact_key" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sweep_jobs" (
	"sweep_id" text NOT NULL,
	"job_id" text NOT NULL,
	"figure" text NOT NULL,
	"series" text NOT NULL,
	"labels" jsonb NOT NULL,
	CONSTRAINT "sweep_jobs_sweep_id_job_id_series_pk" PRIMARY KEY("sweep_id","job_id","series")
);
--> statement-breakpoint
CREATE TABLE "sweeps" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"figure" text NOT NULL,
	"config" jsonb NOT NULL,
	"seed" text NOT NULL,
	"state" text DEFAULT 'running' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "sweeps_state_check" CHECK ("sweeps"."state" in ('running', 'done', 'failed'))
);
--> statement-breakpoint
ALTER TABLE "events" ADD CONSTRAINT "events_sweep_id_sweeps_id_fk" FOREIGN KEY ("sweep_id") REFERENCES "public"."sweeps"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "results" ADD CONSTRAINT "results_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sweep_jobs" ADD CONSTRAINT "sweep_jobs_sweep_id_sweeps_id_fk" FOREIGN KEY ("sweep_id") REFERENCES "public"."sweeps"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sweep_jobs" ADD CONSTRAINT "sweep_jobs_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "events_sweep_idx" ON "events" USING btree ("sweep_id","id");--> statement-breakpoint
CREATE INDEX "jobs_parent_idx" ON "jobs" USING btree ("parent_id");--> statement-breakpoint
CREATE INDEX "sweep_jobs_job_idx" ON "sweep_jobs" USING btree ("job_id");