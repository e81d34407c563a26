ALTER TABLE "sweeps" DROP CONSTRAINT "sweeps_state_check";--> statement-breakpoint
ALTER TABLE "sweeps" ADD COLUMN "error" text;--> statement-breakpoint
ALTER TABLE "sweeps" ADD COLUMN "owner_host" text;--> statement-breakpoint
ALTER TABLE "sweeps" ADD COLUMN "owner_pid" integer;--> statement-breakpoint
ALTER TABLE "sweeps" ADD COLUMN "owner_started_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "sweeps" ADD CONSTRAINT "sweeps_state_check" CHECK ("sweeps"."state" in ('running', 'done', 'failed', 'interrupted'));